"""Burst entry point: ``locust -f loadtests/locustfile_burst.py --host URL --headless -t 60s``.

A separate file because Locust runs the first ``LoadTestShape`` it finds in a locustfile: here ``BurstShape``
drives paced ``SustainedUser``s (``--mcp-pace`` calls/s each) from ``--mcp-burst-base`` to ``--mcp-burst-peak``
users and back, so a 10× spike in users is a 10× spike in offered calls.
"""

from mcp_locust.scenarios import SustainedUser
from mcp_locust.shapes import BurstShape

__all__ = ["BurstShape", "SustainedUser"]
