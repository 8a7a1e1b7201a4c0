"""An MCP client of either era for mcphub's tests (the Python `mcp` SDK 2.3).

  python client.py --mode legacy|modern|auto URL TOOL [--args JSON]
  python client.py --mode legacy|modern|auto --stdio CMD [ARG...] -- TOOL [--args JSON]
  (with --stdio, everything up to a literal `--` is the server command)

Mode mapping onto mcp.Client(mode=...):
  legacy -> mode="legacy"      initialize handshake (offers 2025-11-25)
  modern -> mode="2026-07-28"  stateless per-request _meta envelope, no initialize, no probe
            (add --discover to first probe server/discover and install its result)
  auto   -> mode="auto"        probe server/discover, fall back to initialize
Prints one JSON line.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys

import mcp_types as types
from mcp import Client
from mcp.client.stdio import StdioServerParameters

ROOT = "file:///tmp/ws"


async def on_elicit(ctx, params: types.ElicitRequestParams):
    _log("elicitation", params.model_dump(mode="json", by_alias=True, exclude_none=True))
    return types.ElicitResult(action="accept", content={"name": "Ada"})


async def on_sample(ctx, params: types.CreateMessageRequestParams):
    _log("sampling", params.model_dump(mode="json", by_alias=True, exclude_none=True))
    return types.CreateMessageResult(
        role="assistant", content=types.TextContent(type="text", text="hi from the model"), model="fake-model"
    )


async def on_roots(ctx):
    _log("roots", {})
    return types.ListRootsResult(roots=[types.Root(uri=ROOT)])


EVENTS: list = []


def _log(kind, data):
    EVENTS.append({kind: data})


async def on_log(params: types.LoggingMessageNotificationParams):
    EVENTS.append({"log": {"level": params.level, "data": params.data}})


async def on_progress(progress, total, message):
    EVENTS.append({"progress": [progress, total, message]})


def parse():
    argv = sys.argv[1:]
    stdio_cmd = None
    if "--stdio" in argv:
        i = argv.index("--stdio")
        try:
            j = argv.index("--", i)
        except ValueError:
            sys.exit("--stdio CMD... must be terminated by --")
        stdio_cmd = argv[i + 1 : j]
        argv = argv[:i] + argv[j + 1 :]
    ap = argparse.ArgumentParser()
    ap.add_argument("--mode", choices=["legacy", "modern", "auto"], required=True)
    ap.add_argument("--discover", action="store_true", help="modern: probe server/discover first and adopt it")
    ap.add_argument("--debug", action="store_true", help="SDK debug logging to stderr")
    ap.add_argument("--args", default="{}", help="tool arguments as JSON")
    if stdio_cmd is None:
        ap.add_argument("url")
    ap.add_argument("tool")
    a = ap.parse_args(argv)
    a.stdio = stdio_cmd
    return a


async def main() -> None:
    a = parse()
    if a.debug:
        logging.basicConfig(level=logging.DEBUG, stream=sys.stderr)
    target = StdioServerParameters(command=a.stdio[0], args=a.stdio[1:]) if a.stdio else a.url
    common = dict(
        elicitation_callback=on_elicit,
        sampling_callback=on_sample,
        list_roots_callback=on_roots,
        logging_callback=on_log,
        log_level="debug",  # 2026: per-request opt-in (_meta io.modelcontextprotocol/logLevel); ignored on legacy
        client_info=types.Implementation(name="pyfix-client", version="0.1.0"),
        cache=None,
    )
    discover = None
    if a.mode == "modern" and a.discover:
        # probe with auto; refuse to continue if the server was not modern
        async with Client(target, mode="auto", **common) as probe:
            discover = probe.session.discover_result
            if discover is None:
                sys.exit(f"server/discover did not yield a modern result (negotiated {probe.protocol_version})")
    mode = {"legacy": "legacy", "modern": "2026-07-28", "auto": "auto"}[a.mode]
    async with Client(target, mode=mode, prior_discover=discover, **common) as client:
        res = await client.call_tool(a.tool, json.loads(a.args), progress_callback=on_progress)
        out = {
            "mode": a.mode,
            "protocol_version": client.protocol_version,
            "tool": a.tool,
            "text": " ".join(c.text for c in res.content if isinstance(c, types.TextContent)),
            "is_error": bool(res.is_error),
            "events": EVENTS,
        }
        if discover is not None:
            out["discover"] = discover.model_dump(mode="json", by_alias=True, exclude_none=True)
    print(json.dumps(out))


if __name__ == "__main__":
    asyncio.run(main())
