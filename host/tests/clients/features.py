"""A real MCP client for aerie's MCP features: the official Python SDK runs a list of steps.

Usage: features.py MODE STEPS_JSON (--url URL | -- AERIE [SERVER_ARG...])

MODE is `auto` (the SDK's default: 2026-07-28 when the server offers it) or `legacy` (the
2025-11-25 initialize handshake). Over stdio the FALCON_* and AERIE_* variables are passed on.
Steps (a JSON list), each answered by one entry of `results`:

  {"op": "list_prompts"}                         -> [{"name", "arguments", "meta"}]
  {"op": "get_prompt", "name", "args"}           -> {"messages": [{"role", "text"}]} | {"error"}
  {"op": "set_level", "level"}                   -> "ok" | {"error"}
  {"op": "call", "tool", "args", "log_level"?}   -> {"is_error", "text", "structured", "meta"} | {"error"}
  {"op": "complete", "prompt"|"template", "arg", "value", "context"?} -> {"values"} | {"error"}
  {"op": "list_templates"}                       -> [uriTemplate]
  {"op": "read", "uri", "log_level"?}            -> {"mime", "text"} | {"error"}
  {"op": "list_tools"}                           -> [{"name", "output_schema"}]
  {"op": "wait_log", "contains"}                 -> true when a log message containing it came
  {"op": "expect", "event": "prompts_list_changed"|"resource_updated", "uri"?, "ready"?,
   "then": [steps]}                              -> {"heard": bool, "then": [results]}
      Subscribes (2025: resources/subscribe to uri; 2026: a subscriptions/listen stream for the
      event), prints `ready` on a line of its own when asked (the test then changes something),
      runs `then`, and waits up to 10 s for the event.

A step may save parts of its result for later steps: `"save": {"aid": "structured.results.0.device_id"}`
makes `${aid}` in the following steps that value.

Prints one JSON object: {"protocol", "results", "logs": [{"level", "logger", "data"}]}.
Log messages a call caused arrive before its answer, so a step sees the ones it caused.
"""

import asyncio
import json
import os
import sys
import warnings

import mcp_types as types
from mcp import Client, StdioServerParameters

warnings.simplefilter("ignore")

LOG_KEY = "io.modelcontextprotocol/logLevel"


async def main() -> None:
    mode, steps_json, *rest = sys.argv[1:]
    steps = json.loads(steps_json)
    if rest[0] == "--url":
        server = rest[1]
    else:
        aerie, *server_args = rest[1:]
        env = {k: v for k, v in os.environ.items() if k.startswith(("FALCON_", "AERIE_"))}
        env["HOME"] = "/nonexistent"
        server = StdioServerParameters(command=aerie, args=server_args, env=env)
    logs: list[dict] = []
    heard: list[tuple[str, str | None]] = []
    arrived = asyncio.Event()
    logged = asyncio.Event()

    async def on_log(params):
        logs.append({"level": params.level, "logger": params.logger, "data": params.data})
        logged.set()

    async def on_message(message):
        if isinstance(message, types.ResourceUpdatedNotification):
            heard.append(("resource_updated", message.params.uri))
        elif isinstance(message, types.PromptListChangedNotification):
            heard.append(("prompts_list_changed", None))
        else:
            return
        arrived.set()

    errlog = open(os.environ.get("FEATURES_SERVER_LOG", os.devnull), "w")
    client = Client(
        server,
        mode=mode,
        logging_callback=on_log,
        message_handler=on_message,
        cache=None,
    )
    results = []
    async with client:
        saved: dict[str, str] = {}
        for step in steps:
            text = json.dumps(step)
            for k, v in saved.items():
                text = text.replace("${" + k + "}", str(v))
            step = json.loads(text)
            try:
                if step["op"] == "wait_log":
                    result = await wait_log(logs, logged, step["contains"])
                else:
                    result = await run(client, step, heard, arrived)
            except Exception as e:  # the step's error is its result
                result = {"error": str(e)}
            for k, path in step.get("save", {}).items():
                saved[k] = dig(result, path)
            results.append(result)
        protocol = client.session.protocol_version
    errlog.close()
    print(json.dumps({"protocol": protocol, "results": results, "logs": logs}, default=str))


async def wait_log(logs, logged, text):
    def seen():
        return any(text in str((l.get("data") or {}).get("message", "")) for l in logs)

    try:
        while not seen():
            logged.clear()
            await asyncio.wait_for(logged.wait(), 10)
        return True
    except asyncio.TimeoutError:
        return False


def dig(value, path):
    for part in path.split("."):
        value = value[int(part)] if isinstance(value, list) else value.get(part)
    return value


def meta_for(step):
    level = step.get("log_level")
    return {LOG_KEY: level} if level else None


async def expect(client, step, heard, arrived):
    event, uri = step["event"], step.get("uri")
    wanted = (event, uri)

    async def run_then():
        if step.get("ready"):
            print("ready", flush=True)
        return [await run(client, s, heard, arrived) for s in step.get("then", [])]

    if client.session.protocol_version in ("2025-11-25", "2025-06-18"):
        if event == "resource_updated":
            await client.session.subscribe_resource(uri)
        then = await run_then()
        try:
            while wanted not in heard:
                arrived.clear()
                await asyncio.wait_for(arrived.wait(), 10)
            return {"heard": True, "then": then}
        except asyncio.TimeoutError:
            return {"heard": False, "then": then}
    kind = {"prompts_list_changed": "PromptsListChanged", "resource_updated": "ResourceUpdated"}[event]
    listen = client.listen(
        prompts_list_changed=event == "prompts_list_changed",
        resource_subscriptions=[uri] if uri else (),
    )
    async with listen as sub:
        then = await run_then()

        async def first():
            async for e in sub:
                if type(e).__name__ == kind and getattr(e, "uri", uri) == uri:
                    return True
            return False

        try:
            return {"heard": await asyncio.wait_for(first(), 10), "then": then}
        except asyncio.TimeoutError:
            return {"heard": False, "then": then}


async def run(client, step, heard, arrived):
    op = step["op"]
    if op == "list_prompts":
        r = await client.list_prompts()
        return [
            {
                "name": p.name,
                "arguments": [{"name": a.name, "required": bool(a.required)} for a in (p.arguments or [])],
                "meta": p.meta,
            }
            for p in r.prompts
        ]
    if op == "get_prompt":
        r = await client.get_prompt(step["name"], step.get("args"))
        return {
            "messages": [
                {"role": m.role, "text": getattr(m.content, "text", None)} for m in r.messages
            ]
        }
    if op == "set_level":
        await client.set_logging_level(step["level"])
        return "ok"
    if op == "call":
        r = await client.call_tool(step["tool"], step.get("args", {}), meta=meta_for(step))
        text = "".join(c.text for c in r.content if getattr(c, "type", None) == "text")
        return {"is_error": bool(r.is_error), "text": text, "structured": r.structured_content, "meta": r.meta}
    if op == "complete":
        if "prompt" in step:
            ref = types.PromptReference(type="ref/prompt", name=step["prompt"])
        else:
            ref = types.ResourceTemplateReference(type="ref/resource", uri=step["template"])
        r = await client.complete(ref, {"name": step["arg"], "value": step["value"]}, step.get("context"))
        return {"values": r.completion.values}
    if op == "list_templates":
        r = await client.list_resource_templates()
        return [t.uri_template for t in r.resource_templates]
    if op == "read":
        r = await client.read_resource(step["uri"], meta=meta_for(step))
        c = r.contents[0]
        return {"mime": c.mime_type, "text": getattr(c, "text", None)}
    if op == "expect":
        return await expect(client, step, heard, arrived)
    if op == "list_tools":
        r = await client.list_tools()
        return [{"name": t.name, "output_schema": t.output_schema} for t in r.tools]
    raise ValueError(f"unknown step {op}")


asyncio.run(main())
