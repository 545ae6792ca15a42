"""The mock's mutable state, shared by every connection: current fault plan, its RNG, counters and cache."""

from __future__ import annotations

import random

from pypi_mock.cache import ResponseCache
from pypi_mock.faults import FaultPlan
from pypi_mock.stats import MockStats


class MockState:
    def __init__(self, *, seed: int = 0, plan: FaultPlan | None = None, cache: ResponseCache | None = None) -> None:
        self.seed = seed
        self.stats = MockStats()
        self.cache = cache if cache is not None else ResponseCache()
        self.plan = FaultPlan()
        self.faults_active = False
        self.rng = random.Random(seed)
        self.set_plan(plan if plan is not None else FaultPlan())

    def set_plan(self, plan: FaultPlan) -> None:
        """Install ``plan`` and reseed the RNG, so the same plan and request sequence give the same faults."""
        self.plan = plan
        self.faults_active = plan.is_active
        self.rng = random.Random(self.seed)
