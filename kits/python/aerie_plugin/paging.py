"""Paging: collect results across pages of an offset- or cursor-paged operation, up to a limit,
and say where the next page starts so the agent can ask for it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Optional, Union

from .falcon import Envelope
from .output import Output

#: Offset-paged query endpoints refuse ``offset + limit`` beyond this window.
OFFSET_WINDOW = 10_000

Position = Union[int, str, None]


@dataclass
class Page:
    """Results gathered from one or more pages: ``{results, total, next, has_more}``.

    ``next`` is the offset (an int) or the ``after`` cursor (a string) to pass back for the next
    page, or ``None`` when there is no more.
    """

    results: list = field(default_factory=list)
    total: int = 0
    next: Position = None

    @property
    def has_more(self) -> bool:
        """Whether another page can be asked for."""
        return self.next is not None

    def to_dict(self) -> dict:
        """The structured shape of a search result."""
        return {"results": self.results, "total": self.total, "next": self.next,
                "has_more": self.has_more}

    def output(self, noun: str) -> Output:
        """A one-line summary naming ``noun`` ("hosts") followed by the compact JSON."""
        if not self.results:
            summary = f"No {noun} matched (total {self.total})."
        else:
            arg = "offset" if isinstance(self.next, int) else "after"
            more = f"; next page: {arg}={self.next}" if self.has_more else ""
            summary = f"{len(self.results)} of {self.total} {noun}{more}."
        return Output.json(summary, self.to_dict())


def paginate(fetch: Callable[[Position, int], Envelope], *, limit: int, page_size: int = 100,
             offset: int = 0, after: Optional[str] = None, cursor: bool = False) -> Page:
    """Call ``fetch(position, size)`` page after page until ``limit`` results are in or the
    operation has no more.

    Offset paging (the default) passes ``offset`` + the running count and stops at the total or
    the 10,000-record window; cursor paging (``cursor=True``) passes the ``after`` token of the
    previous page (``None`` first, or ``after``) and stops when none comes back.
    """
    if limit < 1 or page_size < 1:
        raise ValueError("limit and page_size must be positive")
    results: list = []
    total = 0
    if cursor:
        token: Optional[str] = after
        while len(results) < limit:
            env = fetch(token, min(page_size, limit - len(results)))
            results.extend(env.resources)
            total = env.total
            token = env.cursor
            if token is None or not env.resources:
                break
        return Page(results, total, token)
    pos = offset
    while len(results) < limit:
        size = min(page_size, limit - len(results), OFFSET_WINDOW - pos)
        if size <= 0:
            break
        env = fetch(pos, size)
        results.extend(env.resources)
        pos += len(env.resources)
        total = env.total
        if not env.resources or pos >= total:
            break
    more = bool(results) and pos < total and pos < OFFSET_WINDOW
    return Page(results, total, pos if more else None)
