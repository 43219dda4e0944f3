"""A real MCP client that answers elicitations: the official Python SDK over stdio.

Usage: elicit.py AERIE accept|decline|cancel TOOL ARGS_JSON [SERVER_ARG...]

Starts `AERIE SERVER_ARG...` (FALCON_* and AERIE_* variables are passed on), calls TOOL with
ARGS_JSON, answers every elicitation with the given action, and prints one JSON object:
{"is_error", "text", "structured", "meta", "elicitations": [messages asked]}.
"""

import asyncio
import json
import os
import sys

from mcp import ClientSession, StdioServerParameters, types
from mcp.client.stdio import stdio_client


async def main() -> None:
    aerie, action, tool, args_json, *server_args = sys.argv[1:]
    args = json.loads(args_json)
    asked: list[str] = []

    async def on_elicit(context, params):
        asked.append(params.message)
        if action == "accept":
            return types.ElicitResult(action="accept", content={})
        return types.ElicitResult(action=action)

    env = {k: v for k, v in os.environ.items() if k.startswith(("FALCON_", "AERIE_"))}
    env["HOME"] = "/nonexistent"
    params = StdioServerParameters(command=aerie, args=server_args, env=env)
    with open(os.environ.get("ELICIT_SERVER_LOG", os.devnull), "w") as errlog:
        async with stdio_client(params, errlog=errlog) as (read, write):
            async with ClientSession(read, write, elicitation_callback=on_elicit) as session:
                await session.initialize()
                result = await session.call_tool(tool, args)
    text = "".join(c.text for c in result.content if getattr(c, "type", None) == "text")
    print(
        json.dumps(
            {
                "is_error": bool(result.is_error),
                "text": text,
                "structured": result.structured_content,
                "meta": result.meta,
                "elicitations": asked,
            }
        )
    )


asyncio.run(main())
