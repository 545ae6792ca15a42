"""Loaded by every Python subprocess the tests start: installs the loopback-only network guard there too."""

import os
import sys

_support = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if _support not in sys.path:
    sys.path.insert(0, _support)

import netguard  # noqa: E402

netguard.install()
