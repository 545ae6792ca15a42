"""Reading the PyPI mock's counters the way the tests need them."""

from __future__ import annotations

from pypi_mock.admin import get_stats

PYPI_REQUEST_KINDS = ("project", "version", "not_found")


def pypi_requests(mock_url: str) -> int:
    """Requests the mock answered on ``/pypi/...`` (admin calls made by the test itself excluded)."""
    requests = get_stats(mock_url)["requests"]
    return sum(int(requests.get(kind, 0)) for kind in PYPI_REQUEST_KINDS)
