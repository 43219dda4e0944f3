"""A real MCP client for prompts that ask for a missing argument: the official Python SDK.

Usage: prompt_ask.py MODE PROMPT CASES_JSON -- AERIE [SERVER_ARG...]

MODE is `auto` (2026-07-28: the SDK answers input-required rounds itself) or `legacy`
(2025-11-25: the server asks mid-request). CASES is a list of {"answer": "accept"|"decline",
"value"?, "args"?}: for each, `prompts/get` PROMPT with `args`, answering every elicitation with
the action (and {argument: value} on accept). Prints a JSON list, one entry per case:
{"texts": [message texts], "asked": [elicitation messages]} or {"error", "asked"}.
"""

import asyncio
import json
import os
import sys
import warnings

import mcp_types as types
from mcp import Client, StdioServerParameters

warnings.simplefilter("ignore")


async def main() -> None:
    mode, prompt, cases_json, _, aerie, *server_args = sys.argv[1:]
    env = {k: v for k, v in os.environ.items() if k.startswith(("FALCON_", "AERIE_"))}
    env["HOME"] = "/nonexistent"
    server = StdioServerParameters(command=aerie, args=server_args, env=env)
    out = []
    for case in json.loads(cases_json):
        asked: list[str] = []

        async def on_elicit(context, params, case=case, asked=asked):
            asked.append(params.message)
            if case["answer"] != "accept":
                return types.ElicitResult(action=case["answer"])
            field = next(iter(params.requested_schema["properties"]))
            return types.ElicitResult(action="accept", content={field: case["value"]})

        async with Client(server, mode=mode, elicitation_callback=on_elicit, cache=None) as client:
            try:
                r = await client.get_prompt(prompt, case.get("args"))
                texts = [getattr(m.content, "text", None) for m in r.messages]
                out.append({"texts": texts, "asked": asked})
            except Exception as e:  # the case's error is its result
                out.append({"error": str(e), "asked": asked})
    print(json.dumps(out))


asyncio.run(main())
