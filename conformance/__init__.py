"""``make conformance``: the official MCP conformance suite and the Inspector CLI against our server (run.py)."""
