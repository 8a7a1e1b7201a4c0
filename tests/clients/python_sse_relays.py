"""An old HTTP+SSE client (the Python SDK's `sse_client`) that answers what servers
ask of it, for mcphub's interop tests: sampling, elicitation and roots requests, log
notifications during a call, and a tool list change, all through the hub.

Usage: python_sse_relays.py URL EVERYTHING LOGGING GROWS
EVERYTHING is server-everything's tool prefix (sampling, elicitation), LOGGING the
prefix of a server with `test_tool_with_logging`, GROWS that of a server with `grow`
and `roots`. Prints one JSON object.
"""

import asyncio
import json
import sys

import mcp.types as types
from mcp.client.session import ClientSession
from mcp.client.sse import sse_client


async def main() -> None:
    url, everything, logging, grows = sys.argv[1:5]
    logs = []
    list_changed = asyncio.Event()

    async def sampling(context, params):
        return types.CreateMessageResult(
            role="assistant",
            content=types.TextContent(type="text", text="sampled by the SSE client"),
            model="sse-client-model",
            stop_reason="endTurn",
        )

    async def elicitation(context, params):
        return types.ElicitResult(action="decline")

    async def roots(context):
        return types.ListRootsResult(roots=[types.Root(uri="file:///tmp/sse-root", name="sse-root")])

    async def on_log(params):
        logs.append(params.data)

    async def on_message(message):
        if isinstance(message, types.ToolListChangedNotification):
            list_changed.set()

    def text(result):
        return "".join(getattr(c, "text", "") for c in result.content)

    async with sse_client(url) as (read, write):
        async with ClientSession(
            read,
            write,
            sampling_callback=sampling,
            elicitation_callback=elicitation,
            list_roots_callback=roots,
            logging_callback=on_log,
            message_handler=on_message,
        ) as session:
            await session.initialize()
            out = {}
            out["sampling"] = text(await session.call_tool(
                f"{everything}__trigger-sampling-request", {"prompt": "hello", "maxTokens": 10}))
            out["elicitation"] = text(await session.call_tool(
                f"{everything}__trigger-elicitation-request", {}))
            out["roots"] = text(await session.call_tool(f"{grows}__roots", {}))
            await session.call_tool(f"{logging}__test_tool_with_logging", {})
            out["logs"] = len(logs)
            await session.call_tool(f"{grows}__grow", {})
            await asyncio.wait_for(list_changed.wait(), 30)
            tools = await session.list_tools()
            out["tools_after_change"] = sorted(t.name for t in tools.tools)
            print(json.dumps(out))


asyncio.run(main())
