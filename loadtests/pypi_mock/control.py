"""The ``/_admin`` endpoints: read and replace the fault plan, read and reset the counters. Always JSON."""

from __future__ import annotations

import json
from dataclasses import dataclass

from pypi_mock.faults import FaultPlan, FaultValidationError
from pypi_mock.state import MockState


@dataclass(frozen=True, slots=True)
class AdminReply:
    status: int
    payload: object
    allow: str | None = None
    """Set on 405 replies, for the ``Allow`` header."""


def _reject_constant(token: str) -> object:
    raise ValueError(f"{token} is not valid JSON")


def handle_admin(state: MockState, method: bytes, path: str, body: bytes) -> AdminReply:
    """Answer one admin request; never raises on bad input (that is a 400 naming the field)."""
    routes = {
        "/_admin/faults": ("GET", "HEAD", "POST"),
        "/_admin/stats": ("GET", "HEAD"),
        "/_admin/stats/reset": ("POST",),
    }
    allowed = routes.get(path)
    if allowed is None:
        return AdminReply(404, {"message": "Not Found"})
    verb = method.decode("latin-1")
    if verb not in allowed:
        return AdminReply(405, {"message": "Method Not Allowed"}, allow=", ".join(allowed))
    if path == "/_admin/stats/reset":
        state.stats.reset()
        state.cache.hits = state.cache.misses = 0
        return AdminReply(200, stats_payload(state))
    if path == "/_admin/stats":
        return AdminReply(200, stats_payload(state))
    if verb != "POST":
        return AdminReply(200, state.plan.to_dict())
    try:
        raw = json.loads(body, parse_constant=_reject_constant)
    except (ValueError, UnicodeDecodeError) as exc:
        return AdminReply(400, {"error": "body is not JSON", "field": "(body)", "detail": str(exc)})
    try:
        plan = FaultPlan.from_dict(raw)
    except FaultValidationError as exc:
        errors = [{"field": e.field, "message": e.message} for e in exc.errors]
        return AdminReply(400, {"error": "invalid faults", "field": errors[0]["field"], "errors": errors})
    state.set_plan(plan)
    return AdminReply(200, plan.to_dict())


def stats_payload(state: MockState) -> dict[str, object]:
    snapshot = state.stats.snapshot()
    snapshot["cache"] = state.cache.stats()
    snapshot["faults_active"] = state.faults_active
    return snapshot
