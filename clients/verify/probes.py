"""The probes of `cadenza verify`: each sends a few requests to one operation of a running API and counts the effects
through the operation's read (clients/verify/config.py), then says which rule held and what it means for a saga.

Bounded: every request has the configuration's timeout, the whole run at most `max_requests` requests (the run stops
with an error beyond), and each probe a fixed handful (at most six, and the counting reads).
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

from cadenza.errors import CadenzaError, InvalidInput
from clients.verify.config import Counter, OperationConfig, ServiceConfig, VerifyConfig
from clients.verify.report import (
    REPLAY_PROBES,
    SAFE_RETRY,
    UNSAFE_RETRY,
    Cleanup,
    OperationReport,
    Probe,
    ProbeResult,
    Profile,
    Verdict,
    VerifyReport,
)

REPLAY_HEADERS = ("Idempotent-Replayed", "Idempotency-Replayed")
"""Replay markers seen in the wild; whichever the API sends is recorded."""
KEY_REFUSALS = frozenset({400, 409, 422})


class RequestBudgetSpent(CadenzaError):
    """The run reached its `max_requests`: it stops rather than send unbounded traffic."""


@dataclass(frozen=True)
class Answer:
    status: int
    body: Any
    headers: Mapping[str, str]

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    def replay_header(self) -> str | None:
        present = {name.lower() for name in self.headers}
        return next((name for name in REPLAY_HEADERS if name.lower() in present), None)

    def __str__(self) -> str:
        marker = self.replay_header()
        return f"{self.status}{f' ({marker})' if marker else ''}"


@dataclass
class _Target:
    """One operation with the values of one probe's requests (`${unique}`, `${before.*}`) filled in."""

    path: str
    body: Any
    values: dict[str, Any] = field(default_factory=dict)


class Prober:
    """Sends the probes' requests (counting them against the budget) and renders their templates; remembers each
    request that wrote, by its key, for the cleanup."""

    def __init__(self, config: VerifyConfig, http: httpx.AsyncClient) -> None:
        self._config = config
        self._http = http
        self.sent = 0
        self.written: list[tuple[str, str]] = []
        """(service name, key) of every keyed request that answered 2xx, in the order sent."""
        self.unkeyed: list[str] = []
        """The creations sent without a key that the API carried out (the missing-key probe's): nothing to fence them
        by. A keyless change of a record made with a key is undone with that record."""

    async def send(
        self, service: ServiceConfig, method: str, path: str, body: Any, key: str | None, *, budgeted: bool = True
    ) -> Answer:
        if budgeted and self.sent >= self._config.max_requests:
            raise RequestBudgetSpent(
                f"stopped after {self.sent} requests (max_requests in the configuration)",
                next_step="raise max_requests if the API needs more, or probe fewer operations",
            )
        self.sent += 1
        headers = {} if service.token is None else {"Authorization": f"Bearer {service.token}"}
        if key is not None:
            headers[service.key_header] = key
        try:
            response = await self._http.request(
                method,
                service.base_url.rstrip("/") + path,
                json=body,
                headers=headers,
                timeout=self._config.timeout_s,
            )
        except httpx.TransportError as err:
            raise CadenzaError(
                f"{method} {service.base_url}{path}: {type(err).__name__}: {err or 'no answer'}",
                next_step="is the API running at that base URL? (`cadenza up` starts the simulated services)",
            ) from None
        try:
            answer_body = response.json() if response.content else None
        except ValueError:
            answer_body = response.text
        answer = Answer(response.status_code, answer_body, dict(response.headers))
        if key is not None and method != "GET" and answer.ok and path != service.fence:
            self.written.append((self._name_of(service), key))
        return answer

    def _name_of(self, service: ServiceConfig) -> str:
        return next(name for name, config in self._config.services.items() if config is service)

    async def clean_up(self) -> Cleanup:
        """Fence every request of the probes that wrote, last first: what it created is undone (refunded, cancelled,
        released) as a saga's compensation undoes it, so the probes leave nothing live for an audit or a reconciler
        of the same services to find. Outside the budget, which bounds the probes. A service without a fence keeps
        the probes' records, and so does a request sent without a key (nothing to fence it by); a fence that fails
        is reported, never retried."""
        fenced = undone = 0
        kept: set[str] = set()
        refused: list[str] = []
        for name, key in reversed(self.written):
            service = self._config.services[name]
            if service.fence is None:
                kept.add(name)
                continue
            answer = await self.send(service, "POST", service.fence, {"key": key}, new_key(), budgeted=False)
            if not answer.ok:
                refused.append(f"{name}: fence of {key} answered {answer}")
                continue
            fenced += 1
            undone += isinstance(answer.body, dict) and answer.body.get("undone") is True
        return Cleanup(fenced=fenced, undone=undone, kept=sorted(kept), refused=refused, unkeyed=self.unkeyed)

    async def count(self, service: ServiceConfig, counter: Counter, values: Mapping[str, Any]) -> int:
        answer = await self.send(
            service, "GET", _with_query(render(counter.path, values), render(counter.query, values)), None, None
        )
        if answer.status == 404:
            return 0
        if not answer.ok:
            raise CadenzaError(f"counting effects: GET {counter.path} answered {answer.status}")
        records: Any = answer.body
        for name in filter(None, counter.items.split(".")):
            records = records.get(name) if isinstance(records, dict) else None
        if isinstance(records, dict):
            records = [records]
        if not isinstance(records, list):
            raise CadenzaError(f"counting effects: no list at {counter.items or 'the body'} of GET {counter.path}")
        wanted = render(counter.match, values)
        return sum(1 for item in records if isinstance(item, dict) and all(item.get(k) == v for k, v in wanted.items()))

    async def target(self, service: ServiceConfig, operation: OperationConfig, body: Any = None) -> _Target:
        """Fresh values for one probe: a new `${unique}`, and the `before` operation run with them (new key)."""
        values: dict[str, Any] = {"unique": uuid.uuid4().hex[:12]}
        if operation.before is not None:
            before = service.operations[operation.before]
            answer = await self.send(
                service, before.method, render(before.path, values), render(before.sample.body, values), new_key()
            )
            if not answer.ok:
                raise CadenzaError(f"the before operation {operation.before} answered {answer}: fix its sample")
            values["before"] = answer.body if isinstance(answer.body, dict) else {}
        path = operation.path
        for name, template in operation.path_params.items():
            path = path.replace("{" + name + "}", str(render(template, values)))
        return _Target(path, render(operation.sample.body if body is None else body, values), values)


def new_key() -> str:
    return f"cadenza-verify-{uuid.uuid4()}"


def render(template: Any, values: Mapping[str, Any]) -> Any:
    """`${unique}` and `${before.<field>}` replaced in every string of `template`."""
    if isinstance(template, str):
        text = template.replace("${unique}", str(values["unique"]))
        for name, value in (values.get("before") or {}).items():
            text = text.replace("${before." + name + "}", str(value))
        return text
    if isinstance(template, dict):
        return {key: render(item, values) for key, item in template.items()}
    if isinstance(template, list):
        return [render(item, values) for item in template]
    return template


def _with_query(path: str, query: Mapping[str, str]) -> str:
    return path if not query else f"{path}?{httpx.QueryParams(dict(query))}"


def _result(probe: Probe, ok: bool, rule: str, evidence: str, good: str, bad: str) -> ProbeResult:
    return ProbeResult(
        probe=probe,
        verdict=Verdict.PASS if ok else Verdict.FAIL,
        rule=rule,
        evidence=evidence,
        consequence=good if ok else bad,
    )


def _same(first: Answer, second: Answer) -> bool:
    return first.status == second.status and json.dumps(first.body, sort_keys=True) == json.dumps(
        second.body, sort_keys=True
    )


class OperationProbes:
    """The seven probes of one operation."""

    def __init__(self, prober: Prober, service_name: str, service: ServiceConfig, name: str) -> None:
        self._p = prober
        self._service_name = service_name
        self._service = service
        self._name = name
        self._op = service.operations[name]
        self._replay_header: str | None = None

    async def _send(self, target: _Target, key: str | None, operation: OperationConfig | None = None) -> Answer:
        return await self._p.send(self._service, (operation or self._op).method, target.path, target.body, key)

    async def _count(self, target: _Target, operation: OperationConfig | None = None) -> int:
        return await self._p.count(self._service, (operation or self._op).count, target.values)

    async def run(self) -> OperationReport:
        probes = [
            await self.replay(),
            await self.in_flight(),
            await self.reuse(),
            await self.missing_key(),
            await self.errors(),
            await self.scope(),
            await self.fence(),
        ]
        unsafe = any(r.verdict is Verdict.FAIL for r in probes if r.probe in REPLAY_PROBES)
        fence = next(r for r in probes if r.probe is Probe.FENCE)
        return OperationReport(
            service=self._service_name,
            operation=self._name,
            method=self._op.method,
            path=self._op.path,
            probes=probes,
            profile=Profile(
                replay="unsafe" if unsafe else "safe",
                fence={Verdict.PASS: "holds", Verdict.FAIL: "broken"}.get(fence.verdict, "absent"),  # type: ignore[arg-type]
                replay_header=self._replay_header,
            ),
        )

    async def replay(self) -> ProbeResult:
        target = await self._p.target(self._service, self._op)
        key = new_key()
        first = await self._send(target, key)
        second = await self._send(target, key)
        effects = await self._count(target)
        self._replay_header = second.replay_header()
        evidence = f"statuses {first}, {second}; effects {effects}"
        if not first.ok:
            return ProbeResult(
                probe=Probe.REPLAY,
                verdict=Verdict.FAIL,
                rule="configuration",
                evidence=evidence,
                consequence="the sample request was refused: fix it in the configuration, nothing was probed",
            )
        ok = _same(first, second) and effects == 1
        return _result(
            Probe.REPLAY,
            ok,
            "draft SHOULD: a retry after completion replays the first result",
            evidence,
            SAFE_RETRY + ("" if self._replay_header else " (no replay marker header)"),
            UNSAFE_RETRY
            + (
                f"; a retry executed again ({effects} effects)"
                if effects > 1
                else "; a retry got another answer than the first"
            ),
        )

    async def in_flight(self) -> ProbeResult:
        target = await self._p.target(self._service, self._op)
        key = new_key()
        first, second = await asyncio.gather(self._send(target, key), self._send(target, key))
        effects = await self._count(target)
        allowed = all(a.ok or a.status in (409, 429) for a in (first, second))
        return _result(
            Probe.IN_FLIGHT,
            effects == 1 and allowed,
            "draft SHOULD: a retry while the first is in flight gets 409 (or waits and replays); never two effects",
            f"two concurrent requests, one key: statuses {first}, {second}; effects {effects}",
            "a retry racing a slow first attempt is safe"
            + (
                " (answered 409: map it to a retry in activities/errors.py)"
                if 409 in (first.status, second.status)
                else " (it waited and replayed)"
            ),
            f"not safe: concurrent duplicates executed {effects} times; a retry after a timeout can double the effect",
        )

    async def reuse(self) -> ProbeResult:
        if self._op.other_body is None:
            return _skipped(Probe.REUSE, "no other_body in the configuration")
        target = await self._p.target(self._service, self._op)
        key = new_key()
        first = await self._send(target, key)
        second = await self._send(_Target(target.path, render(self._op.other_body, target.values), target.values), key)
        effects = await self._count(target)
        refused = second.status in KEY_REFUSALS
        evidence = f"statuses {first}, {second} (other body); effects {effects}"
        return _result(
            Probe.REUSE,
            refused and effects <= 1,
            "draft SHOULD: a key reused with another payload is refused (422), never executed",
            evidence,
            f"a key reused by mistake is refused ({second.status})",
            "not safe: "
            + (
                f"the other body was executed ({effects} effects)"
                if effects > 1
                else f"the other body got answer {second.status}, not a refusal"
            )
            + "; a bug that reuses keys goes unnoticed — Cadenza will not retry it automatically",
        )

    async def missing_key(self) -> ProbeResult:
        target = await self._p.target(self._service, self._op)
        answer = await self._send(target, None)
        effects = await self._count(target)
        evidence = f"status {answer}; effects {effects}"
        if answer.ok and effects and not self._op.path_params:  # a creation made without a key
            self._p.unkeyed.append(f"{self._service_name}.{self._name}: {self._op.method} {target.path}")
        if answer.status == 400:
            return ProbeResult(
                probe=Probe.MISSING_KEY,
                verdict=Verdict.PASS,
                rule="draft SHOULD: 400",
                evidence=evidence,
                consequence="a client that forgets the key is told",
            )
        return ProbeResult(
            probe=Probe.MISSING_KEY,
            verdict=Verdict.INFO,
            rule="draft SHOULD: 400 when a key is required",
            evidence=evidence,
            consequence="a request without a key runs unprotected; Cadenza always sends one, so no saga relies on it",
        )

    async def errors(self) -> ProbeResult:
        if self._op.failing is None:
            return _skipped(Probe.ERRORS, "no failing sample in the configuration")
        target = await self._p.target(self._service, self._op, self._op.failing.body)
        key = new_key()
        first = await self._send(target, key)
        second = await self._send(target, key)
        effects = await self._count(target)
        evidence = f"statuses {first}, {second}; effects {effects}"
        if first.ok:
            return ProbeResult(
                probe=Probe.ERRORS,
                verdict=Verdict.INFO,
                rule="configuration",
                evidence=evidence,
                consequence="the failing sample succeeded: nothing learnt about replayed errors",
            )
        marked = self._replay_header is None or second.replay_header() is not None
        replayed = _same(first, second) and effects <= 1 and marked
        return _result(
            Probe.ERRORS,
            replayed,
            "draft SHOULD: a retry after an error replays the error",
            evidence,
            f"a refusal ({first.status}) is final: its retry replays it",
            "not safe: the retry of a refused request was executed again"
            + (f" ({effects} effects)" if effects > 1 else " (no replay marker)")
            + "; a decline retried may go through — Cadenza treats the refusal as final and will not retry it",
        )

    async def scope(self) -> ProbeResult:
        other_name = (
            self._name
            if self._op.path_params
            else next((name for name in self._service.operations if name != self._name), None)
        )
        if other_name is None:
            return _skipped(Probe.SCOPE, "no other operation or path to reuse the key on")
        other = self._service.operations[other_name]
        first_target = await self._p.target(self._service, self._op)
        other_target = await self._p.target(self._service, other)
        if other_name == self._name:
            other_target.body = first_target.body  # the same request on another path: only the path tells them apart
        key = new_key()
        first = await self._send(first_target, key)
        second = await self._send(other_target, key, other)
        effects = await self._count(other_target, other)
        where = f"{other.method} {other_target.path}"
        evidence = f"statuses {first}, then {second} on {where}; effects there {effects}"
        refused = second.status in KEY_REFUSALS
        ok = refused or (second.ok and effects == 1)
        return _result(
            Probe.SCOPE,
            ok,
            "draft: a key identifies one request (method, path and payload)",
            evidence,
            f"a key used on another path is {'refused' if refused else 'a request of its own there'}",
            "not safe: the other path got the first request's answer and was never executed"
            if second.ok
            else f"not safe: the other path answered {second.status} with {effects} effects",
        )

    async def fence(self) -> ProbeResult:
        if self._service.fence is None:
            return _skipped(Probe.FENCE, "the API declares no fence")
        target = await self._p.target(self._service, self._op)
        key = new_key()
        done = await self._send(target, key)
        fenced = await self._p.send(self._service, "POST", self._service.fence, {"key": key}, new_key())
        late = await self._send(target, key)
        unknown_target = await self._p.target(self._service, self._op)
        unknown_key = new_key()
        tombstone = await self._p.send(self._service, "POST", self._service.fence, {"key": unknown_key}, new_key())
        refused = await self._send(unknown_target, unknown_key)
        never = await self._count(unknown_target)
        undone = isinstance(fenced.body, dict) and fenced.body.get("undone") is True
        tomb_undone = isinstance(tombstone.body, dict) and tombstone.body.get("undone")
        creation = not self._op.path_params
        ok = (
            done.ok
            and fenced.ok
            and (undone or not creation)
            and late.status == 409
            and tombstone.ok
            and not tomb_undone
            and refused.status == 409
            and never == 0
        )
        evidence = (
            f"request {done}, fence {fenced} undone={undone}, retry {late}; unknown key: fence {tombstone}, "
            f"later request {refused}, effects {never}"
        )
        return _result(
            Probe.FENCE,
            ok,
            "Cadenza contract: the fence undoes the keyed request, tombstones an unknown key, "
            "refuses later requests with 409",
            evidence,
            "compensation by fence is exact, and a late request after the undo is refused",
            "not safe to undo by fence: declare `when_unknown: lookup` and run the reconciler "
            "(docs/downstream-contract.md, 'An API that offers less')",
        )


def _skipped(probe: Probe, why: str) -> ProbeResult:
    return ProbeResult(probe=probe, verdict=Verdict.SKIPPED, rule="-", evidence=why, consequence="not checked")


async def verify(
    config: VerifyConfig,
    *,
    allow_production: bool = False,
    keep_records: bool = False,
    http: httpx.AsyncClient | None = None,
) -> VerifyReport:
    """Probe every configured operation, one after the other, then undo what the probes wrote (`Prober.clean_up`)
    unless `keep_records`; the report says what holds."""
    if config.environment == "production" and not allow_production:
        raise InvalidInput(
            "the configuration says environment: production; probes write (charges, orders) and refunds are not free",
            next_step="probe a staging or local URL, or pass --allow-production if you mean it",
        )
    started = time.monotonic()
    async with httpx.AsyncClient() if http is None else _borrowed(http) as client:
        prober = Prober(config, client)
        reports = [
            await OperationProbes(prober, service_name, service, name).run()
            for service_name, service in config.services.items()
            for name in service.operations
        ]
        cleanup = None if keep_records else await prober.clean_up()
    return VerifyReport(
        environment=config.environment,
        requests=prober.sent,
        seconds=round(time.monotonic() - started, 2),
        operations=reports,
        cleanup=cleanup,
    )


class _borrowed:
    """An async context over a client the caller owns (not closed here)."""

    def __init__(self, http: httpx.AsyncClient) -> None:
        self._http = http

    async def __aenter__(self) -> httpx.AsyncClient:
        return self._http

    async def __aexit__(self, *_: object) -> None:
        return None
