"""Calling Falcon: the request builder (:class:`Call`), the response (:class:`Reply`) and the
standard envelope (:class:`Envelope`).

The host resolves the operation id to a method and path from its catalogue, adds the token and
enforces the plugin's grant; a plugin only names the operation and gives its parameters.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Iterable, Mapping, Optional, Union

from .errors import REQUIRED_SCOPE, FalconError, Internal, ToolError, host_error, map_status

if TYPE_CHECKING:
    from .env import Env

QueryValue = Union[str, int, float, bool, None, Iterable[Union[str, int]]]


@dataclass
class Request:
    """One Falcon operation to perform (the WIT ``falcon.request``)."""

    operation: str
    path_params: list[tuple[str, str]] = field(default_factory=list)
    query: list[tuple[str, str]] = field(default_factory=list)
    body: Optional[bytes] = None


@dataclass
class Response:
    """What Falcon answered, whatever the status (the WIT ``falcon.response``)."""

    status: int
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""

    def header(self, name: str) -> Optional[str]:
        """A header value by name (case-insensitive)."""
        return next((v for k, v in self.headers if k.lower() == name.lower()), None)

    def json(self) -> Any:
        """The body parsed as JSON (``None`` when empty)."""
        if not self.body:
            return None
        try:
            return json.loads(self.body)
        except ValueError as e:
            raise Internal(f"Falcon returned a body that is not the expected JSON: {e}") from None

    def envelope(self) -> "Envelope":
        """The body as the standard ``{meta, resources, errors}`` envelope."""
        return Envelope.parse(self.json())


@dataclass
class Envelope:
    """The standard Falcon response envelope; ``null`` lists read as empty."""

    resources: list = field(default_factory=list)
    meta: dict = field(default_factory=dict)
    errors: list = field(default_factory=list)

    @classmethod
    def parse(cls, value: Any) -> "Envelope":
        """An envelope from parsed JSON (``None`` gives an empty one)."""
        if value is None:
            return cls()
        if not isinstance(value, dict):
            raise Internal("Falcon returned JSON that is not an envelope object")
        return cls(resources=value.get("resources") or [], meta=value.get("meta") or {},
                   errors=value.get("errors") or [])

    @property
    def pagination(self) -> dict:
        """``meta.pagination`` (empty when absent)."""
        return self.meta.get("pagination") or {}

    @property
    def total(self) -> int:
        """``meta.pagination.total``, or the number of resources when absent."""
        total = self.pagination.get("total")
        return total if isinstance(total, int) else len(self.resources)

    @property
    def cursor(self) -> Optional[str]:
        """The ``after`` (or ``next``) cursor for the next page, when non-empty."""
        p = self.pagination
        c = p.get("after") or p.get("next")
        return c if isinstance(c, str) and c else None

    def ids(self) -> list[str]:
        """``resources`` as strings (query endpoints return ids)."""
        return [r for r in self.resources if isinstance(r, str)]

    def error_text(self) -> Optional[str]:
        """The ``errors[].message`` values joined, for partial failures beside resources."""
        messages = [e.get("message", "") for e in self.errors if isinstance(e, dict)]
        return "; ".join(messages) if messages else None


def _text(v: Union[str, int, float, bool]) -> str:
    return ("true" if v else "false") if isinstance(v, bool) else str(v)


class Call:
    """A Falcon request being built; finish it with :meth:`envelope`, :meth:`send` or
    :meth:`send_raw`. Made by :meth:`aerie_plugin.Ctx.op`."""

    def __init__(self, env: "Env", operation: str) -> None:
        self._env = env
        self.request = Request(operation)
        self._subject: Optional[str] = None
        self._has_filter = False
        self._allowed: tuple[int, ...] = ()

    def path(self, name: str, value: str) -> "Call":
        """Set a ``{name}`` path parameter (the host percent-encodes it)."""
        self.request.path_params.append((name, str(value)))
        return self

    def query(self, pairs: Union[Mapping[str, QueryValue], Iterable[tuple[str, Any]], None] = None,
              /, **named: QueryValue) -> "Call":
        """Add query parameters, from a mapping, pairs or keywords: ``query(filter=f, limit=10)``.
        A list value repeats the name (``ids=a&ids=b``); ``None`` is left out; booleans are
        ``true``/``false``."""
        items = list(pairs.items() if isinstance(pairs, Mapping) else pairs or []) + list(named.items())
        for name, value in items:
            if value is None:
                continue
            if name == "filter":
                self._has_filter = True
            if isinstance(value, (list, tuple)):
                if self._subject is None and value:
                    self._subject = ", ".join(map(str, value))
                self.request.query.extend((name, _text(v)) for v in value)
            else:
                self.request.query.append((name, _text(value)))
        return self

    def body(self, value: Any) -> "Call":
        """Set the body: JSON for a dict or list, as is for ``bytes``. A top-level ``filter``
        marks the request as filtered; ``ids``/``composite_ids`` name its subject in a 404."""
        if isinstance(value, (bytes, bytearray)):
            self.request.body = bytes(value)
            return self
        if isinstance(value, dict):
            if isinstance(value.get("filter"), str):
                self._has_filter = True
            for key in ("ids", "composite_ids", "device_ids"):
                ids = value.get(key)
                if self._subject is None and isinstance(ids, list) and ids:
                    self._subject = ", ".join(map(str, ids))
        self.request.body = json.dumps(value, separators=(",", ":")).encode()
        return self

    def subject(self, text: str) -> "Call":
        """Name what the request is about, for a 404 (``host 5388…``)."""
        self._subject = text
        return self

    def allow(self, *statuses: int) -> "Call":
        """Return these error statuses (e.g. 404 meaning "none") as a reply instead of raising."""
        self._allowed = statuses
        return self

    def send_raw(self) -> Response:
        """Send and return the response whatever its status; only host failures raise."""
        try:
            return self._env.falcon(self.request)
        except FalconError as e:
            raise host_error(self.request.operation, e) from None

    def send(self) -> Response:
        """Send; a status outside 2xx (and :meth:`allow`) raises the matching :class:`ToolError`:
        404 → ``NotFound``, 403 → ``Upstream`` naming the scope to add, and so on."""
        r = self.send_raw()
        if 200 <= r.status < 300 or r.status in self._allowed:
            return r
        raise map_status(r.status, r.body, self.request.operation, subject=self._subject,
                         has_filter=self._has_filter, scope=r.header(REQUIRED_SCOPE))

    def envelope(self) -> Envelope:
        """Send and parse the standard envelope."""
        return self.send().envelope()


__all__ = ["Call", "Envelope", "Request", "Response", "ToolError"]
