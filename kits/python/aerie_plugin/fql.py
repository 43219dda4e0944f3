"""An FQL (Falcon Query Language) builder that quotes and escapes values, so a value taken from
the model — a hostname with a quote in it — can never change the shape of the filter.

FQL: ``field:'value'`` (strings single-quoted), ``field:>=60`` (numbers bare), ``field:['a','b']``
(any of), ``!`` negates, ``~`` text match, ``+`` joins with AND, ``,`` with OR, parentheses group.
Inside quotes, ``\\`` and ``'`` are escaped with a backslash.

    >>> Fql().eq("hostname", "WS-FIN-042").gte("severity", 60).build()
    "hostname:'WS-FIN-042'+severity:>=60"
"""

from __future__ import annotations

import re
from typing import Callable, Iterable, Optional, TypeVar, Union

Literal = Union[str, int, bool]
V = TypeVar("V")

_FIELD = re.compile(r"^[A-Za-z0-9_.#]+$")


def quote(value: str) -> str:
    """Quote an FQL string value: wrap in ``'…'``, escaping ``\\`` and ``'``."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def render(value: Literal) -> str:
    """A literal as FQL: strings quoted, booleans ``true``/``false``, integers bare."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return quote(value)
    raise TypeError(f"an FQL value must be str, int or bool, not {type(value).__name__}")


def _field(name: str) -> str:
    # Field names come from plugin code, never from the model: a bad one is a bug, not input.
    if not _FIELD.match(name):
        raise ValueError(f"bad FQL field name {name!r}")
    return name


class Fql:
    """An FQL filter under construction: terms joined with ``+`` (AND). Methods chain."""

    def __init__(self) -> None:
        self.terms: list[str] = []

    def _push(self, field: str, op: str, value: Literal) -> "Fql":
        self.terms.append(f"{_field(field)}:{op}{render(value)}")
        return self

    def eq(self, field: str, value: Literal) -> "Fql":
        """``field:'v'`` (bare for numbers and booleans)."""
        return self._push(field, "", value)

    def ne(self, field: str, value: Literal) -> "Fql":
        """``field:!'v'``."""
        return self._push(field, "!", value)

    def gte(self, field: str, value: Literal) -> "Fql":
        """``field:>='v'``."""
        return self._push(field, ">=", value)

    def lte(self, field: str, value: Literal) -> "Fql":
        """``field:<='v'``."""
        return self._push(field, "<=", value)

    def gt(self, field: str, value: Literal) -> "Fql":
        """``field:>'v'``."""
        return self._push(field, ">", value)

    def lt(self, field: str, value: Literal) -> "Fql":
        """``field:<'v'``."""
        return self._push(field, "<", value)

    def matches(self, field: str, value: Literal) -> "Fql":
        """``field:~'v'``: case-insensitive text match."""
        return self._push(field, "~", value)

    def any_of(self, field: str, values: Iterable[Literal]) -> "Fql":
        """``field:['a','b']``: any of; nothing is added for an empty list."""
        rendered = [render(v) for v in values]
        if rendered:
            self.terms.append(f"{_field(field)}:[{','.join(rendered)}]")
        return self

    def or_(self, *alternatives: "Fql") -> "Fql":
        """``(a,b,…)``: any of several sub-filters; empty ones are skipped, and a sub-filter of
        several terms is parenthesised so its ``+`` binds first."""
        alts = [f"({f.build()})" if len(f.terms) > 1 else f.build()
                for f in alternatives if f.terms]
        if len(alts) == 1:
            self.terms.append(alts[0])  # type: ignore[arg-type]
        elif alts:
            self.terms.append("(" + ",".join(alts) + ")")  # type: ignore[arg-type]
        return self

    def opt(self, value: Optional[V], add: Callable[["Fql", V], "Fql"]) -> "Fql":
        """Add the term built by ``add(self, value)`` when ``value`` is not ``None``."""
        return self if value is None else add(self, value)

    def raw(self, fql: Optional[str]) -> "Fql":
        """Add free FQL from the caller, parenthesised (so its ``,`` cannot swallow the other
        terms); blank input adds nothing. Check it with :func:`lint` first."""
        if fql is not None and fql.strip():
            self.terms.append(f"({fql.strip()})")
        return self

    def build(self) -> Optional[str]:
        """The filter, or ``None`` when no term was added (so the parameter can be left out)."""
        return "+".join(self.terms) if self.terms else None

    def __bool__(self) -> bool:
        return bool(self.terms)


def lint(fql: str) -> Optional[str]:
    """What is wrong with a free FQL string from the model (``AND``/``OR`` words, unbalanced quotes,
    brackets or parentheses), or ``None`` when it looks well formed."""
    in_quote = escaped = False
    paren = bracket = 0
    outside: list[str] = []
    for c in fql:
        if in_quote:
            if escaped:
                escaped = False
            elif c == "\\":
                escaped = True
            elif c == "'":
                in_quote = False
            outside.append(" ")
            continue
        if c == "'":
            in_quote = True
        paren += {"(": 1, ")": -1}.get(c, 0)
        bracket += {"[": 1, "]": -1}.get(c, 0)
        if paren < 0 or bracket < 0:
            return "unbalanced `)` or `]` in the filter"
        outside.append(" " if c == "'" else c)
    if in_quote:
        return "unterminated quote in the filter; escape a literal ' as \\'"
    if paren or bracket:
        return "unbalanced parentheses or brackets in the filter"
    for word in "".join(outside).split():
        if word in ("AND", "OR"):
            return (f"FQL has no `{word}`: use + for AND and , for OR "
                    "(e.g. status:'new'+severity:>=60)")
    return None


def since(value: str) -> str:
    """An FQL time bound from a span (``30m``, ``24h``, ``7d``, ``2w``) or an RFC 3339 timestamp;
    returns ``now-24h`` style or the timestamp. Raises ``ValueError`` saying what to give."""
    v = value.strip()
    m = re.fullmatch(r"(\d{1,5})([mhdw])", v)
    if m:
        n, unit = int(m.group(1)), m.group(2)
        return f"now-{n * 7}d" if unit == "w" else f"now-{n}{unit}"
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}[0-9:TZ.+\-]*", v):
        return v
    raise ValueError(f"`{value}` is not a time: use a span like 30m, 24h, 7d, 2w or a timestamp "
                     "like 2025-06-13T00:00:00Z")
