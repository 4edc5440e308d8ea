"""Parsing `--faults` specs: `payment:error_rate=0.3,stall_rate=0.1;inventory:latency_ms=50;erp:rate_limit=0.1`."""

from __future__ import annotations

from typing import Any

from cadenza.settings import SERVICE_NAMES

# Field name → type, as the services' FaultConfig defines them (see services/common/faults.py).
FAULT_FIELDS: dict[str, type] = {
    "error_rate": float,
    "rate_limit": float,
    "stall_rate": float,
    "latency_ms": int,
    "retry_after_s": float,
    "stall_ms": int,
    "seed": int,
}


class InvalidFaultSpec(ValueError):
    pass


def parse_fault_spec(spec: str) -> dict[str, dict[str, Any]]:
    """`{service: {field: value}}`; raises `InvalidFaultSpec` naming the offending part."""
    result: dict[str, dict[str, Any]] = {}
    for part in filter(None, (p.strip() for p in spec.split(";"))):
        service, sep, settings = part.partition(":")
        service = service.strip()
        if not sep or service not in SERVICE_NAMES:
            raise InvalidFaultSpec(f"{part!r}: expected SERVICE:field=value,… with SERVICE one of {', '.join(SERVICE_NAMES)}")
        config = result.setdefault(service, {})
        for setting in filter(None, (s.strip() for s in settings.split(","))):
            name, eq, raw = setting.partition("=")
            kind = FAULT_FIELDS.get(name.strip())
            if not eq or kind is None:
                raise InvalidFaultSpec(f"{setting!r} in {service}: expected one of {', '.join(FAULT_FIELDS)} =value")
            try:
                value = kind(raw.strip())
            except ValueError:
                raise InvalidFaultSpec(f"{setting!r} in {service}: {raw.strip()!r} is not a {kind.__name__}") from None
            if name.endswith("_rate") or name == "rate_limit":
                if not 0 <= value <= 1:
                    raise InvalidFaultSpec(f"{setting!r} in {service}: a rate is between 0 and 1")
            config[name.strip()] = value
    return result
