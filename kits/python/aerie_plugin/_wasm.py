"""The glue between a :class:`~aerie_plugin.Plugin` and the bindings componentize-py generates
for the WIT world ``tool-group`` (``wit_world``). Those bindings exist only inside the component,
so they are imported when the host calls in, never at import time: the app module imports
natively too, for unit tests."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Optional

from .env import FileInfo
from .errors import FalconError, FileError, ToolError
from .falcon import Request, Response

if TYPE_CHECKING:
    from .plugin import Plugin

_FALCON_KINDS = {"Error_Denied": "denied", "Error_Timeout": "timeout",
                 "Error_RateLimited": "rate-limited", "Error_Transport": "transport",
                 "Error_TooLarge": "too-large", "Error_Auth": "auth"}
_FILE_KINDS = {"Error_Denied": "denied", "Error_NotFound": "not-found",
               "Error_TooLarge": "too-large", "Error_Io": "io"}


def _variant(err: object, kinds: dict[str, str]) -> tuple[str, object]:
    value = getattr(err, "value", None)
    return kinds.get(type(value).__name__, "transport"), getattr(value, "value", None)


class HostEnv:
    """The real host, through the WIT imports."""

    def falcon(self, request: Request) -> Response:
        from componentize_py_types import Err
        from wit_world.imports import falcon
        try:
            r = falcon.call(falcon.Request(request.operation, request.path_params, request.query,
                                           request.body))
        except Err as e:
            kind, detail = _variant(e, _FALCON_KINDS)
            raise FalconError(kind, detail) from None
        return Response(r.status, list(r.headers), bytes(r.body))

    def log(self, level: str, message: str) -> None:
        from wit_world.imports import host
        host.log(getattr(host.Level, level.upper()), message)

    def progress(self, done: int, total: Optional[int], message: str) -> None:
        from wit_world.imports import host
        # The WIT takes u64s: a negative count would trap the call.
        host.progress(max(0, int(done)), None if total is None else max(0, int(total)), message)

    def config(self, key: str) -> Optional[str]:
        from wit_world.imports import host
        return host.config(key)

    def now_ms(self) -> int:
        from wit_world.imports import host
        return host.monotonic_ms()

    def sleep(self, ms: int) -> None:
        from wit_world.imports import host
        host.sleep(max(0, min(int(ms), 2**32 - 1)))

    def _files(self, op: str, *args: object) -> object:
        from componentize_py_types import Err
        from wit_world.imports import files
        try:
            return getattr(files, op)(*args)
        except Err as e:
            kind, detail = _variant(e, _FILE_KINDS)
            raise FileError(kind, detail) from None

    def read_file(self, name: str) -> bytes:
        return bytes(self._files("read", name))  # type: ignore[arg-type]

    def write_file(self, name: str, contents: bytes) -> str:
        return self._files("write", name, contents)  # type: ignore[return-value]

    def list_files(self) -> list[FileInfo]:
        return [FileInfo(f.name, f.size) for f in self._files("list")]  # type: ignore[union-attr]

    def stat_file(self, name: str) -> FileInfo:
        f = self._files("stat", name)
        return FileInfo(f.name, f.size)  # type: ignore[attr-defined]


def _call_error(e: ToolError) -> object:
    from wit_world.exports import tools as t
    if e.kind == "invalid-arguments":
        return t.CallError_InvalidArguments(e.message)
    if e.kind == "not-found":
        return t.CallError_NotFound(e.message)
    if e.kind == "upstream":
        return t.CallError_Upstream(t.UpstreamError(e.status, e.message))  # type: ignore[attr-defined]
    if e.kind == "denied":
        return t.CallError_Denied(e.message)
    return t.CallError_Internal(e.message)


def export(plugin: "Plugin") -> type:
    """A class implementing the WIT ``tools`` export for ``plugin``."""

    class Tools:
        def describe(self) -> object:
            from wit_world.exports import tools as t
            return t.Descriptor(
                plugin.name, plugin.version, plugin.description,
                [t.Tool(tool.name, tool.title, tool.description,
                        json.dumps(tool.input_schema, separators=(",", ":")),
                        t.Tier.WRITE if tool.write else t.Tier.READ, tool.destructive,
                        tool.idempotent, tool.cacheable, list(tool.operations), [])
                 for tool in plugin.tools.values()],
                [t.Resource(r.uri, r.name, r.description, r.mime_type, t.Contents_Text(r.text))
                 for r in plugin.resources])

        def call(self, tool: str, arguments: str) -> object:
            from componentize_py_types import Err
            from wit_world.exports import tools as t
            try:
                out = plugin.call(HostEnv(), tool, arguments)
                structured = None if out.structured is None else json.dumps(
                    out.structured, separators=(",", ":"))
                text = str(out.text)
            except ToolError as e:
                raise Err(_call_error(e)) from None
            except Exception as e:  # noqa: BLE001 - a hand-built Output that is not JSON
                raise Err(t.CallError_Internal(
                    f"{tool} returned a result that cannot be sent: {type(e).__name__}: {e}")
                ) from None
            return t.Output(text, structured, [])

    return Tools
