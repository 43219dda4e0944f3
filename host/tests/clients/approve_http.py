"""A real MCP client that answers elicitations over streamable HTTP: the official Python SDK in
its default mode (2026-07-28), where a question comes as an input-required result and the SDK
calls the tool again with the answer.

Usage: approve_http.py URL accept|decline|cancel TOOL ARGS_JSON

Prints one JSON object: {"protocol", "is_error", "text", "elicitations": [messages asked],
"warnings": [warnings the SDK logged]}.
"""

import asyncio
import json
import logging
import sys

from mcp import Client, types


async def main() -> None:
    url, action, tool, args_json = sys.argv[1:5]
    asked: list[str] = []
    warnings: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            warnings.append(record.getMessage())

    logging.getLogger().addHandler(Collect(level=logging.WARNING))

    async def on_elicit(context, params):
        asked.append(params.message)
        if action == "accept":
            return types.ElicitResult(action="accept", content={})
        return types.ElicitResult(action=action)

    async with Client(url, elicitation_callback=on_elicit) as client:
        result = await client.call_tool(tool, json.loads(args_json))
        protocol = client.session.protocol_version
    text = "".join(c.text for c in result.content if getattr(c, "type", None) == "text")
    print(json.dumps({"protocol": protocol, "is_error": bool(result.is_error), "text": text,
                      "elicitations": asked, "warnings": warnings}))


asyncio.run(main())
