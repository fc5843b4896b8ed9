"""Sizes for people, written the Norwegian way (used by uploads, disk checks and the CLI)."""

from __future__ import annotations


def format_size(size: int) -> str:
    """A size for people, Norwegian style: 50 GB, 1,5 MB, 300 byte."""
    for unit, factor in (("TB", 1024**4), ("GB", 1024**3), ("MB", 1024**2), ("kB", 1024)):
        if size >= factor:
            text = f"{size / factor:.1f}".removesuffix(".0")
            return f"{text.replace('.', ',')} {unit}"
    return f"{size} byte"
