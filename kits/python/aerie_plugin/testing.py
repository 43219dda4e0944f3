"""A scripted host for native unit tests of handlers: no wasm, no network.

    env = FakeEnv().reply("GetDeviceDetailsV2", {"resources": [{"device_id": AID}]})
    out = plugin.call(env, "demo_host", json.dumps({"aid": AID}))
    assert env.requests[0].operation == "GetDeviceDetailsV2"
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, Callable, Optional, Union

from .env import FileInfo
from .errors import FalconError, FileError
from .falcon import Request, Response

Answer = Union[Response, FalconError, Callable[[Request], Union[Response, FalconError]]]


class FakeEnv:
    """Answers Falcon operations from a script and records every request, log and progress."""

    def __init__(self) -> None:
        self.answers: dict[str, list[Answer]] = {}
        self.requests: list[Request] = []
        self.logs: list[tuple[str, str]] = []
        self.progress_reports: list[tuple[int, Optional[int], str]] = []
        self.settings: dict[str, str] = {}
        self.files: dict[str, bytes] = {}
        self.clock = 0

    def reply(self, operation: str, body: Any = None, status: int = 200,
              headers: Optional[dict[str, str]] = None) -> "FakeEnv":
        """Queue an answer for ``operation`` (JSON-encoded unless ``bytes``). Answers are used in
        order; the last one repeats."""
        raw = body if isinstance(body, bytes) else json.dumps(body or {}).encode()
        return self.answer(operation, Response(status, list((headers or {}).items()), raw))

    def fail(self, operation: str, kind: str, detail: object = None) -> "FakeEnv":
        """Queue a host failure (``denied``, ``timeout``, …) for ``operation``."""
        return self.answer(operation, FalconError(kind, detail))

    def answer(self, operation: str, answer: Answer) -> "FakeEnv":
        """Queue a response, a failure, or a function of the request returning either."""
        self.answers.setdefault(operation, []).append(answer)
        return self

    def falcon(self, request: Request) -> Response:
        self.requests.append(request)
        queue = self.answers.get(request.operation)
        if not queue:
            raise FalconError("denied", f"operation {request.operation} is not scripted")
        a = queue.pop(0) if len(queue) > 1 else queue[0]
        if callable(a) and not isinstance(a, (Response, FalconError)):
            a = a(request)
        if isinstance(a, FalconError):
            raise a
        return a

    def query(self, i: int = -1) -> dict[str, list[str]]:
        """The query of request ``i`` as name → values."""
        out: dict[str, list[str]] = {}
        for k, v in self.requests[i].query:
            out.setdefault(k, []).append(v)
        return out

    def log(self, level: str, message: str) -> None:
        self.logs.append((level, message))

    def progress(self, done: int, total: Optional[int], message: str) -> None:
        self.progress_reports.append((done, total, message))

    def config(self, key: str) -> Optional[str]:
        return self.settings.get(key)

    def now_ms(self) -> int:
        return self.clock

    def sleep(self, ms: int) -> None:
        self.clock += ms

    def read_file(self, name: str) -> bytes:
        if name not in self.files:
            raise FileError("not-found", name)
        return self.files[name]

    def write_file(self, name: str, contents: bytes) -> str:
        self.files[name] = bytes(contents)
        return hashlib.sha256(contents).hexdigest()

    def list_files(self) -> list[FileInfo]:
        return [FileInfo(n, len(b)) for n, b in sorted(self.files.items())]

    def stat_file(self, name: str) -> FileInfo:
        return FileInfo(name, len(self.read_file(name)))
