"""A real MCP client (the Python SDK) for mcphub's interop tests.

Usage: python_client.py URL MODE TOOL ARGS_JSON
MODE is the SDK's connect mode: "legacy" (initialize handshake, 2025 revisions) or
"auto" (server/discover, then the 2026-07-28 stateless protocol when offered).
Prints one JSON object: the negotiated protocol version, the tool names, and the text
of the tool's answer.
"""

import asyncio
import json
import sys

from mcp.client.client import Client


async def main() -> None:
    url, mode, tool, args = sys.argv[1], sys.argv[2], sys.argv[3], json.loads(sys.argv[4])
    async with Client(url, mode=mode) as client:
        tools = await client.list_tools()
        result = await client.call_tool(tool, args)
        text = "".join(getattr(c, "text", "") for c in result.content)
        version = getattr(getattr(client, "_session", None), "protocol_version", None)
        print(json.dumps({
            "protocol_version": version,
            "tools": sorted(t.name for t in tools.tools),
            "text": text,
            "is_error": bool(result.is_error),
        }))


asyncio.run(main())
