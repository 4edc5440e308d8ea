"""Parsing `--faults` specs: `payment:error_rate=0.3,stall_rate=0.1;inventory:latency_ms=50;erp:rate_limit=0.1`.

Fields and their bounds come from the services' own `FaultConfig` (cadenza/faults.py), so a spec is refused here,
before a run starts, for exactly the reasons the services' `PUT /admin/faults` would refuse it mid-run.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from cadenza.errors import InvalidInput
from cadenza.faults import FaultConfig
from cadenza.settings import SERVICE_NAMES

# Every FaultConfig field but the script (a list, which `field=value` cannot spell; use `FaultAdmin.script`).
FAULT_FIELDS: tuple[str, ...] = tuple(name for name in FaultConfig.model_fields if name != "script")


class InvalidFaultSpec(InvalidInput, ValueError):
    pass


def parse_fault_spec(spec: str) -> dict[str, dict[str, Any]]:
    """`{service: {field: value}}`; raises `InvalidFaultSpec` naming the offending part and what would be accepted."""
    result: dict[str, dict[str, Any]] = {}
    for part in filter(None, (p.strip() for p in spec.split(";"))):
        service, sep, settings = part.partition(":")
        service = service.strip()
        if not sep or service not in SERVICE_NAMES:
            raise InvalidFaultSpec(
                f"{part!r}: expected SERVICE:field=value,… with SERVICE one of {', '.join(SERVICE_NAMES)}"
            )
        config = result.setdefault(service, {})
        for setting in filter(None, (s.strip() for s in settings.split(","))):
            name, eq, raw = (text.strip() for text in setting.partition("="))
            if not eq or name not in FAULT_FIELDS:
                raise InvalidFaultSpec(f"{setting!r} in {service}: expected one of {', '.join(FAULT_FIELDS)} =value")
            config[name] = _field_value(name, raw, f"{setting!r} in {service}")
    return result


def _field_value(name: str, raw: str, where: str) -> Any:
    try:
        # Lax validation turns the text into the field's type ("0.3" → 0.3) and checks its bounds.
        return getattr(FaultConfig.model_validate({name: raw}), name)
    except ValidationError as err:
        field = FaultConfig.model_fields[name]
        described = f" ({field.description})" if field.description else ""
        raise InvalidFaultSpec(f"{where}: {err.errors()[0]['msg'].lower()}{described}") from None
