"""The free-space floor (KTL_MIN_FREE_DISK_MB): new uploads and live broadcasts are refused
while the data folder's disk has less than the floor free, so the disk never fills up."""

from __future__ import annotations

import shutil
from pathlib import Path

from server.core.config import Settings
from server.core.i18n import N_
from server.core.units import format_size

LOW_DISK = N_(
    "Serveren har for lite ledig lagringsplass (%(free)s ledig, minst %(floor)s må være ledig). "
    "Prøv igjen senere, eller be en administrator om å frigjøre plass."
)


def free_bytes(path: Path) -> int:
    """Free bytes on the disk of `path` (or of its nearest existing parent)."""
    while not path.exists() and path != path.parent:
        path = path.parent
    return shutil.disk_usage(path).free


def floor_bytes(settings: Settings) -> int:
    return settings.min_free_disk_mb * 1024 * 1024


def shortage(settings: Settings, incoming: int = 0) -> str | None:
    """A sentence when `incoming` more bytes would take the disk below the floor, else None."""
    free = free_bytes(settings.data_dir)
    floor = floor_bytes(settings)
    if free - max(incoming, 0) >= floor:
        return None
    return LOW_DISK % {"free": format_size(max(free, 0)), "floor": format_size(floor)}
