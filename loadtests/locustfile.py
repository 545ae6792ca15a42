"""Locust entry point for MCP load: ``locust -f loadtests/locustfile.py --host URL MixedUser|SustainedUser``.

``MixedUser`` saturates (closed loop, no think time); ``SustainedUser`` is paced with ``--mcp-pace`` and is what
the soak runner runs. Name the classes on the command line: without any Locust would run them all. The rude clients
(``mcp_locust.rude``: ``NeverClosingUser``, ``AbortingUser``, ``ReconnectStormUser``, ``SessionPerCallUser``,
``CurrentRevisionUser``) run one user each (``fixed_count = 1``) beside the polite ones, so ``-u`` = polite users +
one per rude class named. Options: ``locust -f loadtests/locustfile.py --help`` (the ``--mcp-*`` ones), documented in
notes/locust.md.
"""

from mcp_locust.rude import (
    AbortingUser,
    CurrentRevisionUser,
    NeverClosingUser,
    ReconnectStormUser,
    SessionPerCallUser,
)
from mcp_locust.scenarios import MixedUser, SustainedUser

__all__ = [
    "AbortingUser",
    "CurrentRevisionUser",
    "MixedUser",
    "NeverClosingUser",
    "ReconnectStormUser",
    "SessionPerCallUser",
    "SustainedUser",
]
