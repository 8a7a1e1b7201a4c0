"""An MCP client of the old HTTP+SSE transport (the Python SDK's `sse_client`), for
mcphub's interop tests: the transport mcp-hub serves and its clients speak.

Usage: python_sse.py URL TOOL ARGS_JSON
Prints one JSON object: the negotiated protocol version, the tool names, the text of
the tool's answer and how many progress notifications came during the call.
"""

import asyncio
import json
import sys

from mcp.client.session import ClientSession
from mcp.client.sse import sse_client


async def main() -> None:
    url, tool, args = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
    progress = []

    async def on_progress(done, total, message):
        progress.append(done)

    async with sse_client(url) as (read, write):
        async with ClientSession(read, write) as session:
            init = await session.initialize()
            tools = await session.list_tools()
            result = await session.call_tool(tool, args, progress_callback=on_progress)
            text = "".join(getattr(c, "text", "") for c in result.content)
            print(json.dumps({
                "protocol_version": str(init.protocol_version),
                "tools": sorted(t.name for t in tools.tools),
                "text": text,
                "progress": len(progress),
            }))


asyncio.run(main())
