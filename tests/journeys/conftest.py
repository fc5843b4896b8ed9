"""The journey suite's fixtures live in tests/journeys/journey.py beside its checks; this
file registers them and names the screenshots' folders at the end of the run."""

from pathlib import Path

from tests.journeys.journey import SCREENSHOTS, browser, combo, journeys, site  # noqa: F401


def pytest_terminal_summary(terminalreporter) -> None:
    """Where the screenshots are (each test reports its journeys' folders, also from
    pytest-xdist workers)."""
    folders = {
        str(Path(value).parent)
        for reports in terminalreporter.stats.values()
        for report in reports
        for name, value in getattr(report, "user_properties", ())
        if name == SCREENSHOTS
    }
    for folder in sorted(folders):
        terminalreporter.write_line(f"{SCREENSHOTS}: {folder}")
