"""The one way the HTTP wrappers answer a request themselves: a small JSON body with its length, in two messages.

Both ``http.Gate`` (refusals before any route) and ``session_gate.SessionGate`` (session admission, duplicate ids)
answer without the app; they share this so the framing stays the same everywhere.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.types import Send


async def json_reply(send: Send, status: int, body: dict[str, Any], headers: list[tuple[bytes, bytes]]) -> None:
    payload = json.dumps(body).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode()),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})
