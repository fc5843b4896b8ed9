"""Pages of a long list (the archive, search results): which slice to show and the links
around it. Page numbers start at 1; `?side=N` in the address (see server.web.respond)."""

from __future__ import annotations

from dataclasses import dataclass

from server.core.i18n import N_

PARAM = "side"
MAX_PAGE = 100_000
BAD_PAGE = N_("Sidetallet må være et helt tall fra 1 og oppover, for eksempel ?side=2.")
NO_SUCH_PAGE = N_(
    "Denne siden finnes ikke: listen har bare %(pages)s sider. Gå tilbake til side 1."
)


@dataclass(frozen=True, slots=True)
class Page:
    """Page `number` of `size` items out of `total` items."""

    number: int
    size: int
    total: int

    @property
    def pages(self) -> int:
        """How many pages there are (an empty list still has its first page)."""
        return max(1, -(-self.total // self.size))

    @property
    def offset(self) -> int:
        return (self.number - 1) * self.size

    @property
    def exists(self) -> bool:
        return 1 <= self.number <= self.pages

    @property
    def previous(self) -> int | None:
        return self.number - 1 if self.number > 1 else None

    @property
    def next(self) -> int | None:
        return self.number + 1 if self.number < self.pages else None

    def to_json(self) -> dict[str, int]:
        return {"page": self.number, "pages": self.pages, "page_size": self.size,
                "total": self.total}  # fmt: skip
