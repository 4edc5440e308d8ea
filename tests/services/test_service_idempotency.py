"""Idempotency-Key handling: replay, reuse detection, stored business errors, concurrency, restarts."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

import httpx
import pytest
from fastapi.responses import JSONResponse

from services.common.database import Database
from services.common.idempotency import IDEMPOTENCY_SCHEMA, RequestIdentity, request_hash
from services.common.mutations import REPLAYED_HEADER, MutationRunner, Outcome
from services.common.stats import ServiceStats
from tests.services.service_helpers import ClientFactory, charge_body, error_code, key, order_body, reservation_body

# (service, path, body) of one creating POST per service.
CREATES = [
    ("erp", "/orders", order_body("order-1")),
    ("payment", "/charges", charge_body("order-1")),
    ("inventory", "/reservations", reservation_body("order-1")),
]
# Where each service lists what the creating POST made.
LISTINGS = {
    "erp": ("/orders", "orders"),
    "payment": ("/charges", "charges"),
    "inventory": ("/reservations", "reservations"),
}


async def count_records(client: httpx.AsyncClient, service: str) -> int:
    path, field = LISTINGS[service]
    return len((await client.get(path)).json()[field])


@pytest.mark.parametrize(("service", "path", "body"), CREATES, ids=[c[0] for c in CREATES])
async def test_same_key_and_body_replays_with_one_effect(
    service: str, path: str, body: dict[str, object], make_client: ClientFactory
) -> None:
    client = make_client(service)

    first = await client.post(path, json=body, headers=key("k-1"))
    replay = await client.post(path, json=body, headers=key("k-1"))

    assert first.status_code == replay.status_code == 201
    assert replay.json() == first.json()
    assert "Idempotent-Replayed" not in first.headers
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert await count_records(client, service) == 1
    assert (await client.get("/admin/stats")).json()["idempotent_replays"] == 1


async def test_key_order_and_whitespace_do_not_change_the_body_hash(payment_client: httpx.AsyncClient) -> None:
    body = charge_body()
    reordered = '{ "payment_token": "tok_visa", "currency": "EUR", "amount": 2500, "order_id": "order-1" }'

    first = await payment_client.post("/charges", json=body, headers=key("k-1"))
    replay = await payment_client.post(
        "/charges", content=reordered, headers=key("k-1") | {"Content-Type": "application/json"}
    )

    assert replay.headers["Idempotent-Replayed"] == "true"
    assert replay.json() == first.json()


async def test_same_key_with_a_different_body_is_422(payment_client: httpx.AsyncClient) -> None:
    await payment_client.post("/charges", json=charge_body(amount=100), headers=key("k-1"))

    response = await payment_client.post("/charges", json=charge_body(amount=200), headers=key("k-1"))

    assert response.status_code == 422
    assert error_code(response) == "idempotency_key_reuse"
    assert len((await payment_client.get("/charges")).json()["charges"]) == 1


async def test_same_key_on_a_different_path_is_422(erp_client: httpx.AsyncClient) -> None:
    for order_id in ("order-1", "order-2"):
        await erp_client.post("/orders", json=order_body(order_id))
    await erp_client.post("/orders/order-1/confirm", headers=key("confirm"))

    response = await erp_client.post("/orders/order-2/confirm", headers=key("confirm"))

    assert response.status_code == 422
    assert error_code(response) == "idempotency_key_reuse"
    assert (await erp_client.get("/orders/order-2")).json()["status"] == "pending"


async def test_declines_are_stored_and_replayed(payment_client: httpx.AsyncClient) -> None:
    body = charge_body(payment_token="tok_chargeDeclined")

    first = await payment_client.post("/charges", json=body, headers=key("k-1"))
    replay = await payment_client.post("/charges", json=body, headers=key("k-1"))

    assert first.status_code == replay.status_code == 402
    assert replay.json() == first.json()
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert len((await payment_client.get("/charges")).json()["charges"]) == 1


async def test_conflicts_are_replayed_even_after_the_state_changes(erp_client: httpx.AsyncClient) -> None:
    # Stripe semantics: a key answers the same forever, even if a new attempt would now succeed.
    await erp_client.post("/orders", json=order_body("order-1"))
    await erp_client.post("/orders/order-1/cancel")
    conflict = await erp_client.post("/orders/order-1/confirm", headers=key("k-1"))

    replay = await erp_client.post("/orders/order-1/confirm", headers=key("k-1"))

    assert conflict.status_code == replay.status_code == 409
    assert replay.json() == conflict.json()


async def test_validation_errors_are_not_stored(payment_client: httpx.AsyncClient) -> None:
    invalid = await payment_client.post("/charges", json=charge_body(amount=0), headers=key("k-1"))

    fixed = await payment_client.post("/charges", json=charge_body(amount=10), headers=key("k-1"))

    assert invalid.status_code == 422
    assert fixed.status_code == 201
    assert "Idempotent-Replayed" not in fixed.headers


async def test_empty_and_empty_object_refund_bodies_are_the_same_request(payment_client: httpx.AsyncClient) -> None:
    charge_id = (await payment_client.post("/charges", json=charge_body())).json()["id"]

    first = await payment_client.post(f"/charges/{charge_id}/refunds", headers=key("refund"))
    replay = await payment_client.post(f"/charges/{charge_id}/refunds", json={}, headers=key("refund"))

    assert first.status_code == replay.status_code == 201
    assert replay.headers["Idempotent-Replayed"] == "true"


@pytest.mark.parametrize(("service", "path", "body"), CREATES, ids=[c[0] for c in CREATES])
async def test_concurrent_requests_with_one_key_apply_once(
    service: str, path: str, body: dict[str, object], make_client: ClientFactory
) -> None:
    # Through HTTP the services' effects are synchronous, so the event loop alone serialises these requests: this
    # proves the answers, not the lock. The lock is proven below with an effect that awaits.
    client = make_client(service)

    responses = await asyncio.gather(*(client.post(path, json=body, headers=key("same")) for _ in range(8)))

    assert {response.status_code for response in responses} == {201}
    assert len({response.json()["created_at"] for response in responses}) == 1
    assert sum(response.headers.get("Idempotent-Replayed") == "true" for response in responses) == 7
    assert await count_records(client, service) == 1


class _AwaitingEffect:
    """A test-only effect that awaits between the runner's key check and its store of the answer: the window in
    which a second request with the same key would find no answer yet and apply the mutation again."""

    def __init__(self) -> None:
        self.applied = 0

    async def __call__(self) -> Outcome:
        self.applied += 1
        applied = self.applied
        await asyncio.sleep(0.01)  # another request runs here, unless the runner holds it back
        return Outcome(201, {"applied": applied})


async def _same_key_at_once(runner: MutationRunner, effect: _AwaitingEffect) -> list[object]:
    identity = RequestIdentity("POST", "/things", request_hash({"n": 1}))
    return await asyncio.gather(*(runner.run("same", identity, effect) for _ in range(8)), return_exceptions=True)


def _runner(tmp_path: Path) -> MutationRunner:
    return MutationRunner(Database(tmp_path / "mutations.db", IDEMPOTENCY_SCHEMA), ServiceStats())


async def test_concurrent_mutations_with_one_key_apply_once_even_when_the_effect_awaits(tmp_path: Path) -> None:
    effect = _AwaitingEffect()

    responses = await _same_key_at_once(_runner(tmp_path), effect)

    assert effect.applied == 1
    assert all(isinstance(response, JSONResponse) for response in responses), responses
    assert {bytes(response.body) for response in responses} == {b'{"applied":1}'}
    assert sum(response.headers.get(REPLAYED_HEADER) == "true" for response in responses) == 7


async def test_without_the_lock_concurrent_mutations_with_one_key_go_wrong(tmp_path: Path) -> None:
    # The test above can fail: take the runner's lock away and the requests interleave in the awaiting effect. With
    # the service's one SQLite connection, every later BEGIN then fails ("cannot start a transaction within a
    # transaction": a 500 to its caller) while the first request is still inside its effect.
    runner = _runner(tmp_path)
    runner._lock = contextlib.nullcontext()  # type: ignore[assignment]
    effect = _AwaitingEffect()

    responses = await _same_key_at_once(runner, effect)

    answered_once = effect.applied == 1 and all(isinstance(response, JSONResponse) for response in responses)
    assert not answered_once, "without the lock every request still got the one answer: the test above proves nothing"


async def test_replay_survives_a_restart(make_client: ClientFactory) -> None:
    first = await make_client("payment", db="ledger").post("/charges", json=charge_body(), headers=key("k-1"))

    restarted = make_client("payment", db="ledger")
    replay = await restarted.post("/charges", json=charge_body(), headers=key("k-1"))

    assert replay.headers["Idempotent-Replayed"] == "true"
    assert replay.json() == first.json()
    assert len((await restarted.get("/charges")).json()["charges"]) == 1
