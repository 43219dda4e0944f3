"""A real MCP client that waits to hear that the tool list changed: the official Python SDK
over streamable HTTP, in its default mode (2026-07-28: a `subscriptions/listen` stream) or in
legacy mode (a session that gets `notifications/tools/list_changed`).

Usage: changes.py URL auto|legacy

Prints `ready` once it listens (the test then swaps a plugin), then one JSON object:
{"protocol", "events": [change kinds heard], "which": text of the `which` tool after the
change, "warnings": [warnings the SDK logged, e.g. about closing the session]}.
"""

import asyncio
import json
import logging
import sys

import anyio
from mcp import Client, types
from mcp.client.subscriptions import ToolsListChanged

TIMEOUT_S = 20


class Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.WARNING)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


async def main() -> None:
    url, mode = sys.argv[1:3]
    warnings = Collect()
    logging.getLogger().addHandler(warnings)
    events: list[str] = []
    heard = anyio.Event()

    async def on_message(message) -> None:
        if isinstance(message, Exception):
            return
        events.append(message.method)
        if isinstance(message, types.ToolListChangedNotification):
            heard.set()

    async with Client(url, mode=mode, message_handler=on_message) as client:
        protocol = client.session.protocol_version
        if mode == "legacy":
            print("ready", flush=True)
            with anyio.fail_after(TIMEOUT_S):
                await heard.wait()
        else:
            async with client.listen(tools_list_changed=True, resources_list_changed=True) as sub:
                print("ready", flush=True)
                with anyio.fail_after(TIMEOUT_S):
                    async for event in sub:
                        events.append(type(event).__name__)
                        if isinstance(event, ToolsListChanged):
                            break
        result = await client.call_tool("which", {})
        which = "".join(c.text for c in result.content if getattr(c, "type", None) == "text")
    print(json.dumps({"protocol": str(protocol), "events": events, "which": which, "warnings": warnings.lines}))


asyncio.run(main())
