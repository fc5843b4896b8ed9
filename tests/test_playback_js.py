"""server/static/js/playback.js: the one place that makes a list of moments follow the
player (ktl.followPlayback: a click jumps, the item playing now is marked aria-current and
kept in view) and jumps (ktl.seekAndPlay); the transcript panel (player.js), the slide strip
and the chapters (slides.js) all use it. The behaviour in a real browser is tested by
tests/test_slides_browser.py, tests/test_transcript_lines.py and tests/test_browser.py."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = ROOT / "server" / "static" / "js"
TEMPLATES = ROOT / "templates"
MARKS_CURRENT = re.compile(r"""setAttribute\(\s*["']aria-current["']""")
USERS = ("player.js", "slides.js")


def test_only_playback_js_marks_the_item_playing_now():
    markers = [p.name for p in sorted(SCRIPTS.glob("*.js")) if MARKS_CURRENT.search(p.read_text())]
    assert markers == ["playback.js"]
    for name in USERS:
        text = (SCRIPTS / name).read_text()
        assert "ktl.followPlayback(" in text, name
        assert "function seekAndPlay" not in text and "function indexAt" not in text, name


def test_every_page_with_the_player_or_slides_loads_playback_js_first():
    pages = 0
    for template in sorted(TEMPLATES.rglob("*.html")):
        scripts = re.findall(r"path='js/([\w-]+\.js)'", template.read_text())
        for index in (i for i, found in enumerate(scripts) if found == "player.js"):
            pages += 1  # each branch of a template that loads the player loads playback.js
            assert scripts[index - 1] == "playback.js", f"{template.name}: {scripts}"
        for index in (i for i, found in enumerate(scripts) if found == "slides.js"):
            assert "playback.js" in scripts[:index], f"{template.name}: {scripts}"
    assert pages >= 4  # the talk page (ready, processing), the embed, the editor
