"""What a client may receive of the server's log: short scalar fields, no secrets, a bounded number per call."""

from __future__ import annotations

from typing import Any

import pytest

from autodocs_mcp.client_logs import MAX_FIELD_CHARS, MAX_MESSAGES_PER_CALL, CallLog, safe_data


def test_fields_that_could_hold_a_secret_or_bulk_input_are_left_out() -> None:
    data = safe_data(
        {
            "event": "x",
            "http_token": "s3cret-value-000000",
            "Authorization": "Bearer abc",
            "api_key": "k",
            "payload": {"big": [1] * 1000},
            "note": "n" * 5000,
            "count": 3,
            "level": "info",
        }
    )
    assert data == {"event": "x", "note": "n" * MAX_FIELD_CHARS + "…", "count": 3}


class FakeSession:
    def __init__(self) -> None:
        self.sent: list[tuple[str, Any]] = []

    async def send_log_message(self, level: str, data: Any, logger: str | None, related_request_id: Any) -> None:
        self.sent.append((level, data))


class FakeContext:
    def __init__(self) -> None:
        self.session = FakeSession()
        self.request_id = 1


@pytest.mark.asyncio
async def test_a_call_sends_at_most_the_cap_and_then_one_line_saying_how_many_were_dropped() -> None:
    ctx = FakeContext()
    call = CallLog(ctx, minimum=0)  # type: ignore[arg-type]
    for i in range(MAX_MESSAGES_PER_CALL + 30):
        call.offer("info", {"event": "e", "i": i})
    await call.flush()
    assert len(ctx.session.sent) == MAX_MESSAGES_PER_CALL + 1
    assert ctx.session.sent[-1] == ("warning", {"event": "client_log_rate_limited", "dropped": 30})


@pytest.mark.asyncio
async def test_events_below_the_asked_level_are_not_sent() -> None:
    ctx = FakeContext()
    call = CallLog(ctx, minimum=3)  # type: ignore[arg-type]  # warning
    call.offer("info", {"event": "quiet"})
    call.offer("error", {"event": "loud"})
    await call.flush()
    assert ctx.session.sent == [("error", {"event": "loud"})]
