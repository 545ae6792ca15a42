"""A Locust user that speaks MCP over streamable HTTP, scenarios for it, and a launcher for mock + server."""
