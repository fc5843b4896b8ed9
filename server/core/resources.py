"""Where the files that ship with the code are: page templates, translation catalogues and
static files.

The repository keeps `templates/` and `locale/` at its top level, where people edit them.
A built wheel carries them inside the package (setup.py copies them to `server/templates`
and `server/locale` at build time), so an installed `ktl` finds them from any directory.
Each folder is looked up in the package first, then at the top of the checkout.
"""

from __future__ import annotations

from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parents[1]


def shipped(name: str) -> Path:
    """The folder `name` inside the installed package, else the one at the checkout's top."""
    inside = PACKAGE_DIR / name
    return inside if inside.is_dir() else PACKAGE_DIR.parent / name


TEMPLATES_DIR = shipped("templates")
LOCALE_DIR = shipped("locale")
STATIC_DIR = PACKAGE_DIR / "static"
