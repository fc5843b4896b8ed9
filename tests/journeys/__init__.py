"""Browser journeys: each role walks its tasks in Chromium against one `ktl serve`, and
every page state on the way is checked at two widths in Norwegian and English."""
