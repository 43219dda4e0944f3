"""Tool results: text for the model, plus the same result as structured JSON."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Optional


@dataclass
class Output:
    """A successful tool result (the WIT ``output``)."""

    text: str
    structured: Optional[dict] = None

    @classmethod
    def json(cls, summary: str, value: Any) -> "Output":
        """A one-line summary followed by the value as compact JSON; the value is also the
        structured content. A value that is not an object is wrapped as ``{"result": value}``
        (MCP wants an object)."""
        if not isinstance(value, dict):
            value = {"result": value}
        compact = json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str)
        return cls(f"{summary}\n{compact}" if summary else compact, json.loads(compact))


def _text(text: str) -> Output:
    """Plain text only (also what a handler returning a ``str`` gives)."""
    return Output(text)


# ``Output.text("…")`` reads best at call sites, and the WIT field is called ``text`` too: the
# constructor lives on the class, the field on each instance (which shadows it there).
Output.text = staticmethod(_text)  # type: ignore[assignment,method-assign]
