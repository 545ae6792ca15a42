"""Retry policy: which answers are worth retrying, and how long to wait before the next attempt.

Full jitter (a uniform draw between zero and the exponential cap) spreads retries from many callers evenly, so a
hiccup does not turn into synchronised retry waves against a recovering upstream. A server's ``Retry-After`` is
honoured in preference to our own backoff, but capped, because a hostile or buggy header must not park a request
for an hour. The functions are pure: the caller passes the random generator and the current epoch time.
"""

from __future__ import annotations

import math
import random
import re
from dataclasses import dataclass
from datetime import UTC
from email.utils import parsedate_to_datetime
from typing import Final

RETRYABLE_STATUSES: Final = frozenset({408, 425, 429, 500, 502, 503, 504})

# Doubling past this many retries cannot change any realistic cap; stopping here keeps 2**n a small float.
_MAX_DOUBLINGS: Final = 1000
_DELTA_SECONDS: Final = re.compile(r"[+-]?[0-9]+(?:\.[0-9]+)?")


def is_retryable_status(status: int) -> bool:
    """Transient statuses only; any other 4xx means the request itself is wrong and will fail again."""
    return status in RETRYABLE_STATUSES


def parse_retry_after(value: str | None, now_epoch: float) -> float | None:
    """Seconds to wait according to a ``Retry-After`` header, or None when the header is absent or unusable.

    Accepts delta-seconds (``"120"``; a decimal fraction is tolerated) or an HTTP-date, which is turned into seconds
    from ``now_epoch``. Negative values and dates in the past give 0.0. No cap is applied here: that is policy.
    """
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    if _DELTA_SECONDS.fullmatch(text):
        seconds = float(text)
    else:
        try:
            when = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError, OverflowError):
            return None
        if when.tzinfo is None:
            # RFC 9110 dates are always GMT; "-0000" zones come back naive.
            seconds = when.replace(tzinfo=UTC).timestamp() - now_epoch
        else:
            seconds = when.timestamp() - now_epoch
    if not math.isfinite(seconds):
        return None
    return max(0.0, seconds)


@dataclass(frozen=True)
class RetryPolicy:
    """How many attempts a request gets and how long to pause between them."""

    max_attempts: int
    base_delay_s: float
    max_delay_s: float
    max_retry_after_s: float = 60.0

    def __post_init__(self) -> None:
        if isinstance(self.max_attempts, bool) or not isinstance(self.max_attempts, int) or self.max_attempts < 1:
            raise ValueError(f"max_attempts must be an integer >= 1, got {self.max_attempts!r}")
        for field_name in ("base_delay_s", "max_delay_s", "max_retry_after_s"):
            number = getattr(self, field_name)
            if not (math.isfinite(number) and number >= 0):
                raise ValueError(f"{field_name} must be a finite number >= 0, got {number!r}")

    def backoff_s(self, retry_index: int, rng: random.Random) -> float:
        """Full-jitter backoff before retry number ``retry_index`` (0 is the first retry)."""
        if retry_index < 0:
            raise ValueError(f"retry_index must be >= 0, got {retry_index}")
        growth = self.base_delay_s * 2.0 ** min(retry_index, _MAX_DOUBLINGS)
        return rng.uniform(0.0, min(self.max_delay_s, growth))

    def delay_s(self, retry_index: int, retry_after_s: float | None, rng: random.Random) -> float:
        """The pause before the next attempt: the server's Retry-After (capped) when it gave one, else backoff."""
        if retry_after_s is not None and math.isfinite(retry_after_s):
            return min(max(0.0, retry_after_s), self.max_retry_after_s)
        return self.backoff_s(retry_index, rng)

    def may_retry(self, attempt: int) -> bool:
        """Whether another attempt is allowed after ``attempt`` attempts (1-based) have been made."""
        return attempt < self.max_attempts
