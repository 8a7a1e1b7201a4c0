"""Listens for tools/list_changed the 2026-07-28 way (subscriptions/listen) through
the Python SDK. Prints "listening" once acknowledged, then "tools_list_changed" and
the tool count after the change, then exits.

Usage: python_listen.py URL
"""

import asyncio
import sys

from mcp.client.client import Client


async def main() -> None:
    async with Client(sys.argv[1], mode="auto") as client:
        async with client.listen(tools_list_changed=True) as sub:
            print("listening", flush=True)
            async for event in sub:
                tools = await client.list_tools()
                print(f"{type(event).__name__} {len(tools.tools)}", flush=True)
                return


asyncio.run(main())
