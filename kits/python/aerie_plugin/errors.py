"""Tool errors: what a handler raises when it cannot produce a result, and how Falcon's answers
and the host's refusals become those errors.

Each class maps one-to-one onto the WIT ``call-error`` variant. Every message is written for the
model that called the tool: it says what went wrong and what to change.
"""

from __future__ import annotations

import json
from typing import Optional

#: The header the host adds to a 403 with the API scope its catalogue says the operation needs.
REQUIRED_SCOPE = "x-aerie-required-scope"

#: Phrase the host puts in a ``transport`` error when a write was sent but no answer came back.
OUTCOME_UNKNOWN = "outcome unknown"

#: Longest slice of a non-JSON error body quoted back to the model.
MAX_QUOTED_BODY = 300


class ToolError(Exception):
    """Base of the errors a tool reports to the model (an MCP result with ``isError: true``)."""

    kind = "internal"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidArguments(ToolError):
    """The arguments are wrong; the message says what to fix."""

    kind = "invalid-arguments"


class NotFound(ToolError):
    """An id or name does not exist; the message names it."""

    kind = "not-found"


class Denied(ToolError):
    """The host refused an operation (grant, policy or guard); the message carries its reason."""

    kind = "denied"


class Internal(ToolError):
    """Anything else; the message is safe to show."""

    kind = "internal"


class Upstream(ToolError):
    """Falcon answered with an error status (or the host stood in one for a timeout or 429)."""

    kind = "upstream"

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status

    def __str__(self) -> str:
        return f"Falcon error {self.status}: {self.message}"

    @property
    def outcome_unknown(self) -> bool:
        """Whether a write may or may not have been applied: check the state, do not retry."""
        return OUTCOME_UNKNOWN in self.message


class FalconError(Exception):
    """Why the host produced no response (the WIT ``falcon.error`` variant).

    ``kind`` is one of ``denied``, ``timeout``, ``rate-limited``, ``transport``, ``too-large``,
    ``auth``; ``detail`` is the variant's payload (text, or the size cap for ``too-large``).
    """

    KINDS = ("denied", "timeout", "rate-limited", "transport", "too-large", "auth")

    def __init__(self, kind: str, detail: object = None) -> None:
        if kind not in self.KINDS:
            raise ValueError(f"unknown falcon error kind {kind!r}")
        super().__init__(f"{kind}: {detail}")
        self.kind = kind
        self.detail = detail


class FileError(Exception):
    """Why a file operation failed (the WIT ``files.error`` variant): ``denied``, ``not-found``,
    ``too-large`` (detail: the cap in bytes) or ``io``."""

    KINDS = ("denied", "not-found", "too-large", "io")

    def __init__(self, kind: str, detail: object = None) -> None:
        if kind not in self.KINDS:
            raise ValueError(f"unknown file error kind {kind!r}")
        super().__init__(f"{kind}: {detail}")
        self.kind = kind
        self.detail = detail


def falcon_message(body: bytes) -> str:
    """The human text of a Falcon error body: ``errors[].message`` joined, else the start of it."""
    try:
        value = json.loads(body) if body else None
    except ValueError:
        value = None
    if isinstance(value, dict):
        errors = value.get("errors")
        if isinstance(errors, list):
            messages = [e["message"] for e in errors
                        if isinstance(e, dict) and isinstance(e.get("message"), str)]
            if messages:
                return "; ".join(messages)
        for key in ("message", "error", "detail"):
            if isinstance(value.get(key), str):
                return value[key]
    text = body.decode("utf-8", "replace").strip()
    if not text:
        return "no error message in the response"
    return text[:MAX_QUOTED_BODY]


def map_status(status: int, body: bytes, operation: str, *, subject: Optional[str] = None,
               has_filter: bool = False, scope: Optional[str] = None) -> ToolError:
    """Turn an error status from Falcon into the error the model sees.

    404 names the subject; 400 on a filtered request explains FQL; 401 blames the credentials, not
    a scope; 403 names the scope to add; 409 says to fetch the state; 429 and 5xx say to retry.
    """
    msg = falcon_message(body)
    op = operation
    if status == 404:
        return NotFound(f"{subject} ({op}: {msg})" if subject else f"{op}: {msg}")
    if status == 400 and has_filter:
        return Upstream(status, f"{op} rejected the request: {msg}. Check the filter: FQL is "
                                "field:'value', + is AND, , is OR, strings single-quoted")
    if status == 401:
        return Upstream(status, f"Falcon rejected the API token for {op}: {msg}; the API client's "
                                "credentials may have been revoked or rotated, or the host's clock "
                                "is skewed — the operator must check them (this is not a missing "
                                "scope)")
    if status == 403:
        hint = f"; the API client needs scope `{scope}` (add it in the Falcon console)" if scope else ""
        return Upstream(status, f"Falcon refused {op}: {msg}{hint}")
    if status == 409:
        return Upstream(status, f"{op} conflicts with the current state: {msg}; fetch the current "
                                "state and retry")
    if status == 429:
        return Upstream(status, f"{op} was rate limited: {msg}; retry in a minute")
    if status >= 500:
        return Upstream(status, f"Falcon failed {op}: {msg}; retry later")
    return Upstream(status, f"{op}: {msg}")


def host_error(operation: str, e: FalconError) -> ToolError:
    """Map a host-level refusal or failure to a tool error.

    Timeouts, rate limits and transport failures have no status of their own; they become upstream
    504, 429 and 502, the same "retry later" family as Falcon's own answers.
    """
    op, detail = operation, e.detail
    if e.kind == "denied":
        return Denied(f"{op}: {detail}")
    if e.kind == "timeout":
        return Upstream(504, f"{op} timed out; retry, or narrow the query (smaller limit, tighter "
                             "filter)")
    if e.kind == "rate-limited":
        return Upstream(429, f"{op} was rate limited: {detail}")
    if e.kind == "transport":
        text = str(detail)
        if OUTCOME_UNKNOWN in text:
            return Upstream(502, f"{op} may have been applied: {text}")
        retry = "" if "retry" in text else "; retry later"
        return Upstream(502, f"could not reach Falcon for {op}: {text}{retry}")
    if e.kind == "too-large":
        return Internal(f"{op} answered more than the host's {detail}-byte cap; lower `limit` or "
                        "narrow the filter")
    return Internal(f"the aerie host could not authenticate to Falcon ({detail}); the operator "
                    "must fix the credentials")


def file_error(name: str, e: FileError) -> ToolError:
    """Map a file operation failure to a tool error naming the file."""
    if e.kind == "denied":
        return Denied(f"file `{name}`: {e.detail}")
    if e.kind == "not-found":
        return NotFound(f"file `{name}` in the operator's files directory")
    if e.kind == "too-large":
        return InvalidArguments(f"file `{name}` exceeds the host's {e.detail}-byte cap")
    return Internal(f"file `{name}`: {e.detail}")
