"""The journey suite's fixtures live in tests/journeys/journey.py beside its checks."""

from tests.journeys.journey import browser, combo, journeys, site  # noqa: F401
