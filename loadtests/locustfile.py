"""Locust entry point for MCP load: ``locust -f loadtests/locustfile.py --host URL MixedUser|SustainedUser``.

``MixedUser`` saturates (closed loop, no think time); ``SustainedUser`` is paced with ``--mcp-pace`` and is what
the soak runner runs. Name the class on the command line: without one Locust would run both. Options:
``locust -f loadtests/locustfile.py --help`` (the ``--mcp-*`` ones), documented in notes/locust.md.
"""

from mcp_locust.scenarios import MixedUser, SustainedUser

__all__ = ["MixedUser", "SustainedUser"]
