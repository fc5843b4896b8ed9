"""Build step of the wheel: the page templates and translation catalogues, kept at the top
of the repository, are copied into the package (`server/templates`, `server/locale`), where
server/core/resources.py finds them in an installed copy. Everything else is in
pyproject.toml."""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
SHIPPED = ("templates", "locale")


class BuildWithTemplates(build_py):
    """build_py, plus the top-level folders the code reads at run time."""

    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return  # an editable install reads them where they are, at the checkout's top
        for name in SHIPPED:
            target = Path(self.build_lib) / "server" / name
            shutil.rmtree(target, ignore_errors=True)
            ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*~")
            shutil.copytree(ROOT / name, target, ignore=ignore)


setup(cmdclass={"build_py": BuildWithTemplates})
