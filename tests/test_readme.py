"""The README stays true: every setting is in its configuration table, and every
`server/...` path it names exists."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

from server.core.config import Settings

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


def _table_rows() -> set[str]:
    start = README.index("## Configuration")
    table = README[start : README.index("\n## ", start + 1)]
    return set(re.findall(r"^\| `(KTL_[A-Z_]+)`", table, flags=re.M)) | set(
        re.findall(r"`(KTL_[A-Z_]+)`", table)
    )


def test_every_setting_is_in_the_configuration_table():
    documented = _table_rows()
    missing = [
        f"KTL_{field.name.upper()}"
        for field in dataclasses.fields(Settings)
        if f"KTL_{field.name.upper()}" not in documented
    ]
    assert missing == [], f"add these to the README's configuration table: {missing}"


def test_paths_the_readme_names_exist():
    named = set(re.findall(r"`(server/[\w/]+\.py)`", README))
    assert named, "the README names modules by path"
    missing = sorted(path for path in named if not (ROOT / path).is_file())
    assert missing == [], f"the README names files that are gone: {missing}"
