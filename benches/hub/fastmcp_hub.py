"""FastMCP as a hub, for the bench's peers: every server of an mcpServers file behind one
HTTP endpoint, each a proxy over stdio mounted under its name (tools become NAME_TOOL).

Usage: python fastmcp_hub.py CONFIG PORT
"""

import json
import sys

from fastmcp import FastMCP
from fastmcp.client.transports import StdioTransport
from fastmcp.server import create_proxy


def main() -> None:
    config, port = sys.argv[1], int(sys.argv[2])
    with open(config) as f:
        servers = json.load(f)["mcpServers"]
    hub = FastMCP("fastmcp-hub")
    for name, entry in servers.items():
        transport = StdioTransport(
            entry["command"], entry.get("args", []), env=entry.get("env")
        )
        hub.mount(create_proxy(transport), namespace=name)
    hub.run(
        transport="http",
        host="127.0.0.1",
        port=port,
        path="/mcp",
        show_banner=False,
        log_level="warning",
    )


if __name__ == "__main__":
    main()
