"""The decisions a fault configuration (cadenza/faults.py, which describes the kinds) produces for each request.

Faults make a simulated service fail the way real ones do, so the saga's
retries, timeouts and compensations get exercised.

Faults hit requests that change something (POST, and DELETE, the hotel's
undo) only, so audits through GET stay reliable; latency applies to every
request. This module decides; the middleware in
:mod:`services.common.fault_middleware` acts.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from cadenza.faults import FaultConfig, FaultKind, ScriptedFault

__all__ = ["FaultConfig", "FaultDecision", "FaultInjector", "FaultKind", "ScriptedFault"]

_MUTATING_METHODS = frozenset({"POST", "DELETE"})


@dataclass(frozen=True)
class FaultDecision:
    """What to do to one request: delay it, and optionally inject one fault."""

    latency_s: float = 0.0
    fault: FaultKind | None = None


class FaultInjector:
    """Holds the live fault configuration and rolls the dice for each request.

    Not thread-safe; it is only used from the event loop.
    """

    def __init__(self, config: FaultConfig | None = None, default_seed: int | None = None) -> None:
        self._default_seed = default_seed
        self.replace(config or FaultConfig())

    @property
    def config(self) -> FaultConfig:
        """The configuration in force; ``script`` shows only what is left to consume."""
        return self._config.model_copy(update={"script": [entry.model_copy() for entry in self._script]})

    @property
    def idempotency(self) -> str | None:
        """The broken key handling switched on, if any (cadenza/faults.py)."""
        return self._config.idempotency

    def replace(self, config: FaultConfig) -> None:
        """Install a new configuration, restarting its script and random sequence."""
        self._config = config
        self._script = [entry.model_copy() for entry in config.script]
        self._random = random.Random(config.seed if config.seed is not None else self._default_seed)

    def decide(self, method: str, path: str, idempotency_key: str | None) -> FaultDecision:
        """Choose the treatment of one (non-admin) request."""
        latency_s = self._config.latency_ms / 1000
        if method not in _MUTATING_METHODS:
            return FaultDecision(latency_s=latency_s)
        fault = self._take_scripted(path, idempotency_key) or self._roll_random()
        return FaultDecision(latency_s=latency_s, fault=fault)

    def _take_scripted(self, path: str, idempotency_key: str | None) -> FaultKind | None:
        for index, entry in enumerate(self._script):
            if entry.match is None or entry.match in path or entry.match in (idempotency_key or ""):
                entry.times -= 1
                if entry.times == 0:
                    del self._script[index]
                return FaultKind(entry.kind)
        return None

    def _roll_random(self) -> FaultKind | None:
        # One draw per kind, in a fixed order, so a seeded run replays exactly;
        # each rate is the chance of that fault given the earlier ones missed.
        chances = (
            (FaultKind.ERROR, self._config.error_rate),
            (FaultKind.RATE_LIMIT, self._config.rate_limit),
            (FaultKind.STALL, self._config.stall_rate),
            # Last, so runs seeded before this kind existed draw the same sequence (a zero rate draws nothing).
            (FaultKind.SLOW_COMMIT, self._config.slow_commit_rate),
        )
        for kind, chance in chances:
            if chance > 0 and self._random.random() < chance:
                return kind
        return None
