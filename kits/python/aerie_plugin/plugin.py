"""Declaring a tool group: :class:`Plugin` holds the tools (metadata + typed handler) and
resources, describes them to the host and dispatches calls; :class:`Ctx` is what a handler gets.

    plugin = Plugin("demo", "0.1.0", "Demo host lookups")

    @plugin.read("demo_hosts", "Search hosts", ops=["QueryDevicesByFilter"])
    def hosts(ctx: Ctx, hostname: str = arg(description="Exact hostname")) -> Output:
        "Host ids with this hostname."
        f = Fql().eq("hostname", hostname).build()
        return Output.json("host ids", ctx.call("QueryDevicesByFilter", query={"filter": f}).ids())

    Tools = plugin.export()   # what componentize-py exports as the WIT `tools` interface
"""

from __future__ import annotations

import inspect
import json
import re
import traceback
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Mapping, Optional, Sequence

from .env import LEVELS, Env, FileInfo
from .errors import FileError, Internal, InvalidArguments, ToolError, file_error
from .falcon import Call, Envelope
from .output import Output
from .paging import Page, Position, paginate
from .schema import Param, convert_args, object_schema, params_of

_NAME = re.compile(r"^[a-z0-9_]{1,64}$")


@dataclass
class Tool:
    """One tool: the WIT ``tool`` record's fields, its parameters and handler."""

    name: str
    title: str
    description: str
    write: bool
    destructive: bool
    idempotent: bool
    cacheable: bool
    operations: tuple[str, ...]
    params: list[Param]
    handler: Callable[..., Any]

    @property
    def input_schema(self) -> dict:
        """The JSON Schema of the arguments."""
        return object_schema(self.params)


@dataclass(frozen=True)
class Resource:
    """A static MCP resource the plugin offers (an FQL guide, a playbook)."""

    uri: str
    name: str
    description: str
    text: str
    mime_type: str = "text/markdown"


class Files:
    """The operator's files directory (denied unless the operator granted it to the plugin)."""

    def __init__(self, env: Env) -> None:
        self._env = env

    def read(self, name: str) -> bytes:
        """A whole file."""
        return self._do(name, lambda: self._env.read_file(name))

    def write(self, name: str, contents: bytes) -> str:
        """Create or replace a file; returns its SHA-256 as hex."""
        return self._do(name, lambda: self._env.write_file(name, contents))

    def list(self) -> list[FileInfo]:
        """The regular files at the top of the directory."""
        return self._do("", self._env.list_files)

    def stat(self, name: str) -> FileInfo:
        """Name and size of one file."""
        return self._do(name, lambda: self._env.stat_file(name))

    @staticmethod
    def _do(name: str, f: Callable[[], Any]) -> Any:
        try:
            return f()
        except FileError as e:
            raise file_error(name, e) from None


class Ctx:
    """What a handler gets besides its arguments: Falcon calls and host services."""

    def __init__(self, env: Env, tool: str) -> None:
        self.env = env
        self.tool = tool
        self.files = Files(env)

    def op(self, operation: str) -> Call:
        """Start a Falcon request: ``ctx.op("GetDeviceDetailsV2").query(ids=[aid]).envelope()``."""
        return Call(self.env, operation)

    def call(self, operation: str, *, path: Optional[Mapping[str, str]] = None,
             query: Optional[Mapping[str, Any]] = None, body: Any = None,
             allow: Sequence[int] = ()) -> Envelope:
        """Perform ``operation`` and return its envelope (``resources``, ``meta``, ``errors``).

        A status outside 2xx (and ``allow``) raises: 404 ``NotFound``, 403 ``Upstream`` naming the
        scope, 429/5xx ``Upstream`` saying to retry; a refusal of the host raises ``Denied``.
        """
        c = self.op(operation).query(query or {}).allow(*allow)
        for k, v in (path or {}).items():
            c.path(k, v)
        if body is not None:
            c.body(body)
        return c.envelope()

    def hydrate(self, operation: str, ids: Sequence[str], *, key: str = "ids",
                in_query: bool = False, batch: int = 500) -> list:
        """Entities for ``ids`` in batches of ``batch``: ``{key: [...]}`` in the body, or repeated
        ``key=`` query parameters with ``in_query``. No request when ``ids`` is empty."""
        out: list = []
        for i in range(0, len(ids), batch):
            chunk = list(ids[i:i + batch])
            c = self.op(operation)
            c = c.query({key: chunk}) if in_query else c.body({key: chunk})
            out.extend(c.envelope().resources)
        return out

    def pages(self, operation: str, *, limit: int, page_size: int = 100,
              query: Optional[Mapping[str, Any]] = None, offset: int = 0,
              after: Optional[str] = None, cursor: bool = False) -> Page:
        """Gather up to ``limit`` results of a paged ``operation`` (several requests of at most
        ``page_size``). Offset paging by default; ``cursor=True`` pages with the ``after`` token.
        The :class:`Page` says where the next page starts (``next``, ``has_more``)."""
        def fetch(position: Position, size: int) -> Envelope:
            paging = {"after": position} if cursor else {"offset": position}
            return self.call(operation, query={**(query or {}), "limit": size, **paging})
        return paginate(fetch, limit=limit, page_size=page_size, offset=offset, after=after,
                        cursor=cursor)

    def log(self, message: str, level: str = "info") -> None:
        """Write a line into the host's log, tagged with the plugin's name."""
        if level not in LEVELS:
            raise ValueError(f"log level must be one of {', '.join(LEVELS)}")
        self.env.log(level, message)

    def progress(self, done: int, total: Optional[int] = None, message: str = "") -> None:
        """Report progress; the host forwards it to the client as a progress notification."""
        self.env.progress(done, total, message)

    def config(self, key: str, default: Optional[str] = None) -> Optional[str]:
        """A value the operator set in ``[plugins.<name>.config]``."""
        v = self.env.config(key)
        return default if v is None else v

    def sleep(self, ms: int) -> None:
        """Wait without burning CPU (capped by the call's deadline)."""
        self.env.sleep(ms)

    def now_ms(self) -> int:
        """Milliseconds on a monotonic clock."""
        return self.env.now_ms()


class Plugin:
    """A tool group: name, version, description, its tools and resources."""

    def __init__(self, name: str, version: str, description: str) -> None:
        if not _NAME.match(name):
            raise ValueError(f"plugin name {name!r} must match ^[a-z0-9_]{{1,64}}$")
        self.name, self.version, self.description = name, version, description
        self.tools: dict[str, Tool] = {}
        self.resources: list[Resource] = []

    def tool(self, name: str, title: str, *, ops: Iterable[str] = (), write: bool = False,
             destructive: bool = False, idempotent: Optional[bool] = None,
             cacheable: Optional[bool] = None,
             description: Optional[str] = None) -> Callable[[Callable], Callable]:
        """Declare a tool; the decorated function is its handler, ``fn(ctx, **arguments)``.

        ``ops`` are the Falcon operation ids it may call: the host denies every other one.
        ``description`` defaults to the handler's docstring. A read tool is idempotent and
        cacheable unless said otherwise; a write tool is neither.
        """
        def register(fn: Callable) -> Callable:
            if not _NAME.match(name):
                raise ValueError(f"tool name {name!r} must match ^[a-z0-9_]{{1,64}}$")
            if name in self.tools:
                raise ValueError(f"tool {name!r} is declared twice")
            text = description or inspect.cleandoc(fn.__doc__ or "")
            if not text:
                raise ValueError(f"tool {name!r} needs a description (or a docstring)")
            operations = tuple(ops)
            if not all(isinstance(o, str) and o for o in operations):
                raise ValueError(f"tool {name!r}: operation ids must be non-empty strings")
            self.tools[name] = Tool(
                name, title, text, write, destructive,
                (not write) if idempotent is None else idempotent,
                (not write) if cacheable is None else cacheable,
                operations, params_of(fn), fn)
            return fn
        return register

    def read(self, name: str, title: str, **kw: Any) -> Callable[[Callable], Callable]:
        """Declare a read tool (see :meth:`tool`)."""
        return self.tool(name, title, write=False, **kw)

    def write(self, name: str, title: str, **kw: Any) -> Callable[[Callable], Callable]:
        """Declare a write tool, listed only when the operator allows writes (see :meth:`tool`)."""
        return self.tool(name, title, write=True, **kw)

    def resource(self, uri: str, name: str, description: str, text: str,
                 mime_type: str = "text/markdown") -> None:
        """Offer a static text resource."""
        self.resources.append(Resource(uri, name, description, text, mime_type))

    def call(self, env: Env, tool: str, arguments: str) -> Output:
        """Run ``tool`` with ``arguments`` (JSON text) over ``env``.

        Returns the output or raises a :class:`ToolError`; any other exception of the handler
        becomes ``Internal`` naming its type and message, so a bug is a tool error, never a trap.
        """
        t = self.tools.get(tool)
        if t is None:
            raise InvalidArguments(f"unknown tool `{tool}`")
        try:
            try:
                args = json.loads(arguments or "{}")
            except ValueError as e:
                raise InvalidArguments(f"the arguments are not JSON: {e}") from None
            result = t.handler(Ctx(env, tool), **convert_args(t.params, args))
            if isinstance(result, str):
                return Output.text(result)
            if isinstance(result, Page):
                return result.output("results")
            if not isinstance(result, Output):
                raise TypeError(f"handler returned {type(result).__name__}; return an Output or str")
            return result
        except ToolError:
            raise
        except (Exception, SystemExit) as e:
            where = traceback.extract_tb(e.__traceback__)[-1]
            env.log("error", f"{tool}: {type(e).__name__}: {e} "
                             f"({where.filename}:{where.lineno})")
            raise Internal(f"{tool} failed: {type(e).__name__}: {e}") from None

    def export(self) -> type:
        """The class componentize-py exports as the WIT ``tools`` interface: assign it to a
        module-level ``Tools`` in the app module (``Tools = plugin.export()``)."""
        from ._wasm import export
        return export(self)
