"""Write aerie tool groups in Python: Falcon MCP tools as sandboxed WebAssembly components.

A tool group (plugin) is a Python module built with componentize-py into a component of the WIT
world ``tool-group``. It declares tools — a name, some metadata, the Falcon operation ids it calls
and a typed handler — and the aerie host does the rest: it lists the tools over MCP, validates
arguments against the schema generated from the handler's parameters, and performs the Falcon
calls the handler asks for, with its own OAuth2 session, allowlist and audit. The plugin never
sees a URL, a token or a socket.

The parts (the same ideas as the Rust ``aerie-sdk``):

- :class:`Plugin` declares the group; ``@plugin.read`` / ``@plugin.write`` declare tools;
  :func:`arg` describes a parameter (default, description, bounds, pattern).
- :class:`Ctx` is what a handler gets: :meth:`Ctx.call` / :meth:`Ctx.op` call Falcon,
  :meth:`Ctx.pages` gathers pages up to a limit, :meth:`Ctx.hydrate` fetches entities by id;
  logs, progress, configuration and files.
- :class:`Fql` builds filters with every value quoted and escaped; :mod:`aerie_plugin.ids`
  validates ids and IOC values.
- :class:`Output` (text plus structured JSON) and :class:`Page` are results;
  :class:`InvalidArguments`, :class:`NotFound`, :class:`Upstream`, :class:`Denied` and
  :class:`Internal` are errors. Falcon's error statuses and the host's refusals are mapped for you.
- :mod:`aerie_plugin.testing` has a scripted host for unit tests without wasm.

Build with ``python3 -m aerie_plugin build APP_DIR -o OUT.wasm``.
"""

from . import ids
from .env import Env, FileInfo
from .errors import (Denied, FalconError, FileError, Internal, InvalidArguments, NotFound,
                     ToolError, Upstream)
from .falcon import Call, Envelope, Request, Response
from .fql import Fql, lint, quote, since
from .output import Output
from .paging import OFFSET_WINDOW, Page, paginate
from .plugin import Ctx, Plugin, Resource, Tool
from .schema import arg

__version__ = "0.1.0"

__all__ = [
    "Call", "Ctx", "Denied", "Env", "Envelope", "FalconError", "FileError", "FileInfo", "Fql",
    "Internal", "InvalidArguments", "NotFound", "OFFSET_WINDOW", "Output", "Page", "Plugin",
    "Request", "Resource", "Response", "Tool", "ToolError", "Upstream", "arg", "ids", "lint",
    "paginate", "quote", "since",
]
