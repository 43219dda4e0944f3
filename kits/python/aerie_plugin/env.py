"""The host a plugin runs against, as an interface: the real one (the WIT imports, in
``aerie_plugin._wasm``) or a scripted one for unit tests (:mod:`aerie_plugin.testing`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Protocol

from .falcon import Request, Response

LEVELS = ("trace", "debug", "info", "warn", "error")


@dataclass(frozen=True)
class FileInfo:
    """A file in the operator's files directory."""

    name: str
    size: int


class Env(Protocol):
    """What the kit needs from the host. Failures raise ``FalconError`` / ``FileError``."""

    def falcon(self, request: Request) -> Response: ...
    def log(self, level: str, message: str) -> None: ...
    def progress(self, done: int, total: Optional[int], message: str) -> None: ...
    def config(self, key: str) -> Optional[str]: ...
    def now_ms(self) -> int: ...
    def sleep(self, ms: int) -> None: ...
    def read_file(self, name: str) -> bytes: ...
    def write_file(self, name: str, contents: bytes) -> str: ...
    def list_files(self) -> list[FileInfo]: ...
    def stat_file(self, name: str) -> FileInfo: ...
