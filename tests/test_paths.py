"""The data folder's layout is written out once (server/core/paths.py): Settings and the
talk helpers ask it, and no other module joins a layout name onto a path itself."""

from __future__ import annotations

import ast
from pathlib import Path

from server.catalogue import talks
from server.core import paths
from server.core.config import load_settings
from server.core.paths import DataPaths

ROOT = Path(__file__).resolve().parents[1]
NAMES = {paths.DB_NAME, paths.SECRET_NAME, paths.MEDIA, paths.TRANSCRIPTS, paths.UPLOADS,
         paths.VOD, paths.LIVE, paths.SLIDES, paths.POSTER, paths.TRANSCRIPT_JSON}  # fmt: skip


def test_the_layout(tmp_path):
    layout = DataPaths(tmp_path)
    assert layout.db == tmp_path / "ktl.db" and layout.secret == tmp_path / "secret.key"
    assert layout.uploads == tmp_path / "media" / ".uploads"
    assert layout.vod(7) == tmp_path / "media" / "7" / "vod"
    assert layout.poster(7) == tmp_path / "media" / "7" / "vod" / "poster.jpg"
    assert layout.live(7) == tmp_path / "media" / "7" / "live"
    assert layout.slides(7) == tmp_path / "media" / "7" / "slides"
    assert layout.transcript_json(7) == tmp_path / "transcripts" / "7" / "transcript.json"
    assert layout.transcript_json(7, "en") == tmp_path / "transcripts/7/en/transcript.json"


def test_settings_and_talk_helpers_ask_the_layout(tmp_path):
    settings = load_settings(env={}, data_dir=tmp_path)
    layout = settings.paths
    assert (settings.db_path, settings.media_dir, settings.transcripts_dir) == (
        layout.db, layout.media, layout.transcripts,
    )  # fmt: skip
    assert settings.uploads_dir == layout.uploads
    assert talks.media_dir(settings, 3) == layout.talk_media(3)
    assert talks.transcript_dir(settings, 3) == layout.talk_transcripts(3)


def _joins_a_layout_name(tree: ast.AST) -> list[int]:
    """Lines with `something / "<layout name>"`."""
    return [
        node.lineno
        for node in ast.walk(tree)
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div)
        and isinstance(node.right, ast.Constant) and node.right.value in NAMES
    ]  # fmt: skip


def test_no_module_but_paths_joins_a_layout_name():
    found = {
        str(path.relative_to(ROOT)): lines
        for path in sorted((ROOT / "server").rglob("*.py"))
        if path.name != "paths.py"
        and (lines := _joins_a_layout_name(ast.parse(path.read_text(encoding="utf-8"))))
    }
    assert found == {}
