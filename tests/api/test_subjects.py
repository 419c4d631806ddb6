from uuid import UUID

from litestar import Litestar
from litestar.testing import AsyncTestClient

from consent.ids import uuid7
from consent.service.api_keys.issuing import Scope
from consent.store.pool import Connection
from tests.helpers import MakeKey, bearer

Client = AsyncTestClient[Litestar]

RECORD = {
    "name": "Hanako Yamada",
    "email": "  Hanako.Yamada@Example.JP ",
    "phone": "+81 90-1234-5678",
    "address": "1-2-3 Shibuya, Tokyo",
    "user_id": "u-42",
    "attributes": {"loyalty_tier": "gold", "newsletter_topics": ["shoes"]},
}


async def test_a_record_round_trips_decrypted_with_identifiers_normalised(client: Client, make_key: MakeKey) -> None:
    key = await make_key(Scope.DSR)
    subject_id = uuid7()
    created = await client.put(f"/v1/subjects/{subject_id}/record", json=RECORD, headers=bearer(key.token))
    assert created.status_code == 201
    read = await client.get(f"/v1/subjects/{subject_id}/record", headers=bearer(key.token))
    assert read.status_code == 200
    body = read.json()
    assert body["name"] == "Hanako Yamada"
    assert body["email"] == "hanako.yamada@example.jp"
    assert body["phone"] == "+819012345678"
    assert body["attributes"] == RECORD["attributes"]
    replaced = await client.put(
        f"/v1/subjects/{subject_id}/record", json={"name": "H. Yamada"}, headers=bearer(key.token)
    )
    assert replaced.status_code == 200
    assert replaced.json()["email"] is None


async def test_lookup_finds_the_subject_by_each_identifier(client: Client, make_key: MakeKey) -> None:
    key = await make_key(Scope.DSR)
    subject_id = uuid7()
    await client.put(f"/v1/subjects/{subject_id}/record", json=RECORD, headers=bearer(key.token))
    for probe in ({"email": "HANAKO.YAMADA@example.jp"}, {"phone": "+819012345678"}, {"user_id": "u-42"}):
        found = await client.post("/v1/subjects/lookup", json=probe, headers=bearer(key.token))
        assert found.status_code == 200, probe
        assert UUID(found.json()["subject_id"]) == subject_id


async def test_every_lookup_is_audited_without_the_identifier(
    client: Client, make_key: MakeKey, conn: Connection
) -> None:
    key = await make_key(Scope.DSR)
    subject_id = uuid7()
    await client.put(f"/v1/subjects/{subject_id}/record", json=RECORD, headers=bearer(key.token))
    await client.post("/v1/subjects/lookup", json={"email": "hanako.yamada@example.jp"}, headers=bearer(key.token))
    await client.post("/v1/subjects/lookup", json={"phone": "+81 90-8765-4321"}, headers=bearer(key.token))
    rows = await conn.fetch(
        "SELECT actor, target, detail, target::text || detail::text AS text FROM audit_log"
        " WHERE action = 'subject.lookup' ORDER BY position"
    )
    assert [(row["actor"], row["target"], row["detail"]) for row in rows] == [
        (key.key.actor, {"subject_id": str(subject_id)}, {"kind": "email", "found": True}),
        (key.key.actor, {}, {"kind": "phone", "found": False}),
    ]
    assert not any(value in row["text"] for row in rows for value in ("hanako", "Hanako", "8765", "9012"))


async def test_lookup_of_an_unknown_identifier_is_404_without_echoing_it(client: Client, make_key: MakeKey) -> None:
    key = await make_key(Scope.DSR)
    response = await client.post("/v1/subjects/lookup", json={"email": "nobody@example.com"}, headers=bearer(key.token))
    assert response.status_code == 404
    assert "nobody" not in response.text


async def test_a_changed_email_no_longer_finds_the_subject(client: Client, make_key: MakeKey) -> None:
    key = await make_key(Scope.DSR)
    subject_id = uuid7()
    await client.put(f"/v1/subjects/{subject_id}/record", json={"email": "old@example.com"}, headers=bearer(key.token))
    await client.put(f"/v1/subjects/{subject_id}/record", json={"email": "new@example.com"}, headers=bearer(key.token))
    old = await client.post("/v1/subjects/lookup", json={"email": "old@example.com"}, headers=bearer(key.token))
    new = await client.post("/v1/subjects/lookup", json={"email": "new@example.com"}, headers=bearer(key.token))
    assert (old.status_code, new.status_code) == (404, 200)


async def test_an_email_identifies_one_subject_only(client: Client, make_key: MakeKey) -> None:
    key = await make_key(Scope.DSR)
    await client.put(f"/v1/subjects/{uuid7()}/record", json={"email": "a@example.com"}, headers=bearer(key.token))
    clash = await client.put(
        f"/v1/subjects/{uuid7()}/record", json={"email": "A@example.com"}, headers=bearer(key.token)
    )
    assert clash.status_code == 409
    assert clash.json()["field"] == "email"
    assert "a@example.com" not in clash.text.lower()


async def test_invalid_identifiers_are_422_naming_the_field_not_the_value(client: Client, make_key: MakeKey) -> None:
    key = await make_key(Scope.DSR)
    response = await client.put(
        f"/v1/subjects/{uuid7()}/record", json={"phone": "not-a-phone-12"}, headers=bearer(key.token)
    )
    assert response.status_code == 422
    assert response.json()["field"] == "phone"
    assert "not-a-phone" not in response.text
    lookup = await client.post(
        "/v1/subjects/lookup", json={"email": "a@x.com", "phone": "+1"}, headers=bearer(key.token)
    )
    assert lookup.status_code == 422


async def test_reading_an_unknown_subject_is_404(client: Client, make_key: MakeKey) -> None:
    key = await make_key(Scope.ADMIN)
    assert (await client.get(f"/v1/subjects/{uuid7()}/record", headers=bearer(key.token))).status_code == 404


async def test_personal_records_need_a_compliance_key(client: Client, make_key: MakeKey) -> None:
    check = await make_key(Scope.CHECK)
    response = await client.get(f"/v1/subjects/{uuid7()}/record", headers=bearer(check.token))
    assert response.status_code == 403


async def test_a_refused_write_leaves_nothing_behind_for_the_next(client: Client, make_key: MakeKey) -> None:
    """A write rolled back after its subject was created must not leave that subject in any cache."""
    key = await make_key(Scope.DSR)
    await client.put(f"/v1/subjects/{uuid7()}/record", json={"email": "taken@example.com"}, headers=bearer(key.token))
    subject_id = uuid7()
    refused = await client.put(
        f"/v1/subjects/{subject_id}/record", json={"email": "taken@example.com"}, headers=bearer(key.token)
    )
    assert refused.status_code == 409
    retried = await client.put(f"/v1/subjects/{subject_id}/record", json={"address": ""}, headers=bearer(key.token))
    assert retried.status_code == 201


async def test_deeply_nested_attributes_are_422_naming_the_field(client: Client, make_key: MakeKey) -> None:
    key = await make_key(Scope.DSR)
    subject_id = uuid7()
    for depth, field in ((9, "attributes"), (20_000, "body")):
        # 20,000 levels fit in the body limit but are beyond what the JSON decoder recurses into.
        nested = b"[" * depth + b"]" * depth
        response = await client.put(
            f"/v1/subjects/{subject_id}/record",
            content=b'{"attributes": {"a": ' + nested + b"}}",
            headers=bearer(key.token, **{"Content-Type": "application/json"}),
        )
        assert response.status_code == 422, response.text
        assert response.json()["field"] == field
    deep_enough = {"a": {"b": [[[[[["c"]]]]]]}}  # 8 levels, the most attributes may nest
    stored = await client.put(
        f"/v1/subjects/{subject_id}/record", json={"attributes": deep_enough}, headers=bearer(key.token)
    )
    assert stored.status_code == 201, stored.text
    assert stored.json()["attributes"] == deep_enough
