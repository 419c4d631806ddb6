"""What a publishable (collect) key may not do, however it is called: its token sits in page source."""

from __future__ import annotations

import json
from uuid import UUID

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from consent.service.api_keys.issuing import Scope
from consent.store.pool import Connection
from crypto import public_keys_from_jwks, verify_jws
from tests.helpers import MakeKey, bearer, choices, stored

Client = AsyncTestClient[Litestar]
ORIGIN = "https://shop.example"
DEVICE = {"device_id": "d_7Hq2visitor-0000000000"}


async def check(client: Client, token: str, subject: dict[str, str], purpose: str) -> dict[str, object]:
    answer = await client.post("/v1/check", json={"subject": subject, "purposes": [purpose]}, headers=bearer(token))
    assert answer.status_code == 200, answer.text
    body: dict[str, object] = answer.json()
    return body


async def test_a_collect_key_never_changes_a_subjects_stored_jurisdiction(
    client: Client, make_key: MakeKey, conn: Connection
) -> None:
    collect, checker = await make_key(Scope.COLLECT), await make_key(Scope.CHECK)
    headers = bearer(collect.token, Origin=ORIGIN)
    assert (await client.post("/v1/consents", json=choices(), headers=headers)).status_code == 201
    # Under ccpa, a purpose never asked about would be allowed until opted out of (`not_opted_out`).
    moved = choices(jurisdiction="ccpa", decisions=[{"purpose": "analytics", "status": "granted", "notice_version": 2}])
    assert (await client.post("/v1/consents", json=moved, headers=headers)).status_code == 201
    assert await conn.fetchval("SELECT jurisdiction FROM subject_facts") == "gdpr"
    answer = await check(client, checker.token, DEVICE, "advertising")
    assert answer["jurisdiction"] == "gdpr"
    assert answer["decisions"] == {"advertising": {"allowed": False, "reason": "not_asked", "expires_at": None}}


async def test_a_secret_key_still_sets_the_jurisdiction(client: Client, make_key: MakeKey, conn: Connection) -> None:
    collect, dsr = await make_key(Scope.COLLECT), await make_key(Scope.DSR)
    await client.post("/v1/consents", json=choices(), headers=bearer(collect.token, Origin=ORIGIN))
    moved = choices(jurisdiction="ccpa")
    assert (await client.post("/v1/consents", json=moved, headers=bearer(dsr.token))).status_code == 201
    assert await conn.fetchval("SELECT jurisdiction FROM subject_facts") == "ccpa"


async def test_a_new_device_gets_the_jurisdiction_its_first_choice_names(
    client: Client, make_key: MakeKey, conn: Connection
) -> None:
    collect = await make_key(Scope.COLLECT)
    response = await client.post(
        "/v1/consents", json=choices(jurisdiction="ccpa"), headers=bearer(collect.token, Origin=ORIGIN)
    )
    assert response.status_code == 201
    assert await conn.fetchval("SELECT jurisdiction FROM subject_facts") == "ccpa"


async def test_a_collect_key_may_not_write_for_a_device_linked_to_an_account(
    client: Client, make_key: MakeKey, conn: Connection
) -> None:
    collect, admin = await make_key(Scope.COLLECT), await make_key(Scope.ADMIN)
    headers = bearer(collect.token, Origin=ORIGIN)
    assert (await client.post("/v1/consents", json=choices(), headers=headers)).status_code == 201
    linked = await client.post("/v1/subjects/link", json={**DEVICE, "user_id": "u-42"}, headers=bearer(admin.token))
    assert linked.status_code == 200, linked.text
    before = await stored(conn)
    refused = await client.post(
        "/v1/consents",
        json=choices(decisions=[{"purpose": "analytics", "status": "denied", "notice_version": 2}]),
        headers=headers,
    )
    assert refused.status_code == 403, refused.text
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["field"] == "subject.device_id"
    assert await stored(conn) == before


async def test_a_secret_key_writes_for_a_linked_device(client: Client, make_key: MakeKey) -> None:
    admin = await make_key(Scope.ADMIN)
    await client.post("/v1/subjects/link", json={**DEVICE, "user_id": "u-42"}, headers=bearer(admin.token))
    assert (await client.post("/v1/consents", json=choices(), headers=bearer(admin.token))).status_code == 201


async def test_a_collect_keys_answer_names_no_subject(client: Client, make_key: MakeKey) -> None:
    collect, checker = await make_key(Scope.COLLECT), await make_key(Scope.CHECK)
    headers = bearer(collect.token, Origin=ORIGIN)
    answers = [(await client.post("/v1/consents", json=choices(), headers=headers)).json() for _ in range(2)]
    subject_id = (await check(client, checker.token, DEVICE, "analytics"))["subject_id"]
    named = [UUID(answer["subject_id"]) for answer in answers]
    assert [n.version for n in named] == [4, 4]  # random, not time-ordered: it tells nothing of the device
    assert len({*map(str, named), subject_id}) == 3
    keys = public_keys_from_jwks((await client.get("/.well-known/jwks.json")).content)
    receipt = json.loads(verify_jws(answers[0]["receipt"], keys))
    assert receipt["subject_id"] == receipt["sub"] == answers[0]["subject_id"]


async def test_a_secret_keys_answer_names_the_subject(client: Client, make_key: MakeKey) -> None:
    dsr, checker = await make_key(Scope.DSR), await make_key(Scope.CHECK)
    answer = (await client.post("/v1/consents", json=choices(), headers=bearer(dsr.token))).json()
    assert answer["subject_id"] == (await check(client, checker.token, DEVICE, "analytics"))["subject_id"]


@pytest.mark.parametrize("device", ["d_7Hq2visitor", "0123456789abcdefghij", "d_7Hq2 visitor 000000000000"])
async def test_a_device_id_shorter_than_128_bits_is_422_naming_the_field(
    client: Client, make_key: MakeKey, conn: Connection, device: str
) -> None:
    collect = await make_key(Scope.COLLECT)
    response = await client.post(
        "/v1/consents", json=choices(subject={"device_id": device}), headers=bearer(collect.token, Origin=ORIGIN)
    )
    assert response.status_code == 422, response.text
    assert response.json()["field"] == "subject.device_id"
    assert await stored(conn) == (0, 0)
