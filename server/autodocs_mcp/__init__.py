"""Hardened AutoDocs MCP server: version-specific Python package documentation for AI assistants."""
