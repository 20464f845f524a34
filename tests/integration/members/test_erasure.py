"""Erasure (right to deletion) and closing cards, through the members API over real gRPC and
PostgreSQL: what the database holds afterwards is checked with pg_dump."""

from __future__ import annotations

import contextlib
import subprocess
import uuid

import grpc
import pytest
from google.protobuf import field_mask_pb2
from peony.members.v1 import card_pb2, events_pb2, member_pb2
from peony.members.v1 import members_service_pb2 as pb
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from cli.devstack import postgres_bin_dir
from kit.messaging import EventEnvelope
from tests.integration.members.test_members_api import details, new_phone, register, rid

pytestmark = pytest.mark.integration


def dump(database_url: str) -> str:
    """The database as pg_dump writes it, with every bytea value also decoded (a protobuf or a
    JSON blob in a bytea column holds its strings verbatim)."""
    out = subprocess.run(
        [str(postgres_bin_dir() / "pg_dump"), "--data-only", database_url.replace("+asyncpg", "")],
        capture_output=True,
        check=True,
        text=True,
    ).stdout
    decoded = []
    for token in out.replace("\t", "\n").splitlines():
        if token.startswith("\\\\x"):
            with contextlib.suppress(ValueError):
                decoded.append(bytes.fromhex(token[3:]).decode("utf-8", "replace"))
    return out + "\n".join(decoded)


async def erase(m, name: str, reason: str = "member asked in store, ticket 42", **kw):
    return await m.stub.EraseMember(
        pb.EraseMemberRequest(name=name, reason=reason, request_id=kw.pop("request_id", rid())),
        metadata=kw.pop("metadata", m.auth()),
    )


async def test_erasure_leaves_nothing_readable_and_stops_every_lookup(members):
    store = await members.create_store()
    phone, name, email = (
        new_phone(),
        f"Erin Ersatz {uuid.uuid4().hex[:6]}",
        f"erin.{uuid.uuid4().hex[:6]}@ex.com",
    )
    secrets = [
        phone,
        name,
        email,
        "1979-11-23",
        "ID-55443322",
        "wx_erin_open",
        "Rue des Lilas 9",
        "nickel allergy",
    ]
    created = await register(
        members,
        store,
        display_name=name,
        phone=phone,
        email=email,
        birthday="1979-11-23",
        id_number="ID-55443322",
        wechat_openid="wx_erin_open",
        address="Rue des Lilas 9",
        care_profile=member_pb2.CareProfile(allergies=["nickel allergy"], notes="prefers Lina"),
    )
    md = members.auth()
    card = (
        await members.stub.IssueCard(pb.IssueCardRequest(parent=created.name, request_id=rid()), metadata=md)
    ).card
    before = dump(members.database_url)
    assert created.member_number in before  # the dump holds the member
    # Name, e-mail and care notes are encrypted like the phone: no plaintext even before the erasure.
    for value in (phone, name, email, "1979-11-23", "ID-55443322", "wx_erin_open", "nickel allergy"):
        assert value not in before, value

    request_id = rid()
    erased = await erase(members, created.name, request_id=request_id)
    assert erased.member.state == member_pb2.MEMBER_STATE_ERASED
    assert erased.member.display_name == "" and erased.member.phone == "" and erased.member.address == ""
    assert erased.member.member_number == created.member_number  # the opaque identity stays
    # Idempotent by request id: the retry replays, nothing runs twice.
    again = await erase(members, created.name, request_id=request_id)
    assert again == erased
    # Irreversible: another erasure is refused, as is writing personal data into the record again.
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await erase(members, created.name)
    assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert details(err.value)[0] == "MEMBER_ALREADY_ERASED"
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await members.stub.UpdateMember(
            pb.UpdateMemberRequest(
                member=member_pb2.Member(name=created.name, display_name="Back again"),
                update_mask=field_mask_pb2.FieldMask(paths=["display_name"]),
                request_id=rid(),
            ),
            metadata=md,
        )
    assert (
        err.value.code() == grpc.StatusCode.FAILED_PRECONDITION and details(err.value)[0] == "MEMBER_ERASED"
    )

    got = (await members.stub.GetMember(pb.GetMemberRequest(name=created.name), metadata=md)).member
    assert got.state == member_pb2.MEMBER_STATE_ERASED and got.display_name == "" and got.phone == ""
    assert got.email == "" and got.birthday == "" and got.id_number == "" and not got.care_profile.allergies
    # The phone's blind index no longer matches, the card no longer identifies anyone.
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await members.stub.FindMemberByPhone(pb.FindMemberByPhoneRequest(phone=phone), metadata=md)
    assert err.value.code() == grpc.StatusCode.NOT_FOUND
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await members.stub.FindMemberByCardNumber(
            pb.FindMemberByCardNumberRequest(card_number=card.card_number), metadata=md
        )
    assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION and details(err.value)[0] == "CARD_CLOSED"
    listed = await members.stub.ListMembers(
        pb.ListMembersRequest(display_name_prefix=name[:5], home_store=store), metadata=md
    )
    assert created.name not in {m.name for m in listed.members}
    contact = await members.stub.ResolveContact(
        pb.ResolveContactRequest(name=created.name),
        metadata=members.auth(roles=["service", "notifier"], subject="service:notify"),
    )
    assert contact.phone == "" and contact.email == "" and contact.display_name == ""

    after = dump(members.database_url)
    assert created.member_number in after
    for value in secrets:
        assert value not in after, value
    async with members.db.connect() as conn:
        row = (
            await conn.execute(
                text(
                    "SELECT m.dek_wrapped, m.phone_bidx, e.actor, e.reason FROM members m"
                    " JOIN member_erasures e USING (tenant_id, member_id) WHERE m.member_id = :id"
                ),
                {"id": created.name.split("/")[1]},
            )
        ).one()
        events = [
            EventEnvelope.FromString(p).event_type
            for (p,) in (
                await conn.execute(
                    text("SELECT payload FROM outbox WHERE aggregate_id = :id ORDER BY seq"),
                    {"id": created.name.split("/")[1]},
                )
            ).all()
        ]
    # The data key is gone (crypto-shredded), the erasure audited with who and why.
    assert row.dek_wrapped is None and row.phone_bidx is None
    assert (row.actor, row.reason) == ("user:test", "member asked in store, ticket 42")
    assert events[-1] == "peony.members.v1.MemberErased" and "peony.members.v1.CardClosed" in events
    # The phone may register again, as a new member.
    fresh = await register(members, store, phone=phone)
    assert fresh.name != created.name


async def test_erasure_needs_its_permission_and_a_reason_and_writes_nothing_when_refused(members):
    store = await members.create_store()
    created = await register(members, store)
    for roles in (["store_manager"], ["front_desk"], ["finance"]):
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await erase(members, created.name, metadata=members.auth(roles=roles, stores=[store]))
        assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED, roles
    for bad, field in (("", "reason"), ("x" * 501, "reason")):
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await erase(members, created.name, reason=bad)
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT and field in details(err.value)[1]
    for name, code in (
        ("members/not-a-uuid", grpc.StatusCode.INVALID_ARGUMENT),
        (f"members/{uuid.uuid4()}", grpc.StatusCode.NOT_FOUND),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await erase(members, name)
        assert err.value.code() == code
    with pytest.raises(grpc.aio.AioRpcError) as err:  # another tenant's admin cannot reach it
        await erase(members, created.name, metadata=members.auth("other-tenant"))
    assert err.value.code() == grpc.StatusCode.NOT_FOUND
    got = (
        await members.stub.GetMember(pb.GetMemberRequest(name=created.name), metadata=members.auth())
    ).member
    assert got.state == member_pb2.MEMBER_STATE_ACTIVE and got.display_name == created.display_name
    async with members.db.connect() as conn:
        assert (await conn.execute(text("SELECT count(*) FROM member_erasures"))).scalar_one() == 0 or (
            await conn.execute(
                text("SELECT count(*) FROM member_erasures WHERE member_id = :id"),
                {"id": created.name.split("/")[1]},
            )
        ).scalar_one() == 0


async def test_close_card_stops_its_numbers_and_is_final(members):
    store = await members.create_store()
    created = await register(members, store)
    md = members.auth()
    card = (
        await members.stub.IssueCard(pb.IssueCardRequest(parent=created.name, request_id=rid()), metadata=md)
    ).card
    legacy = f"YKT-{uuid.uuid4().hex[:8]}"
    await members.stub.AddLegacyCardNumber(
        pb.AddLegacyCardNumberRequest(name=card.name, legacy_number=legacy, request_id=rid()), metadata=md
    )
    with pytest.raises(grpc.aio.AioRpcError) as err:  # a beautician may not close cards
        await members.stub.CloseCard(
            pb.CloseCardRequest(name=card.name, request_id=rid()),
            metadata=members.auth(roles=["beautician"], stores=[store]),
        )
    assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED
    closed = (
        await members.stub.CloseCard(
            pb.CloseCardRequest(name=card.name, reason="member left", request_id=rid()), metadata=md
        )
    ).card
    assert closed.state == card_pb2.CARD_STATE_CLOSED
    for number in (card.card_number, legacy):
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await members.stub.FindMemberByCardNumber(
                pb.FindMemberByCardNumberRequest(card_number=number), metadata=md
            )
        assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert details(err.value)[0] == "CARD_CLOSED" and created.name not in err.value.details()
    for call in (
        members.stub.CloseCard(pb.CloseCardRequest(name=card.name, request_id=rid()), metadata=md),
        members.stub.ReplaceCard(pb.ReplaceCardRequest(name=card.name, request_id=rid()), metadata=md),
        members.stub.UnfreezeCard(pb.UnfreezeCardRequest(name=card.name, request_id=rid()), metadata=md),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await call
        assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert details(err.value)[0] == "CARD_STATE_CONFLICT"
    # Closing freed the live-card slot: the member can get a new card, which works.
    new = (
        await members.stub.IssueCard(pb.IssueCardRequest(parent=created.name, request_id=rid()), metadata=md)
    ).card
    found = await members.stub.FindMemberByCardNumber(
        pb.FindMemberByCardNumberRequest(card_number=new.card_number), metadata=md
    )
    assert found.member.name == created.name
    async with members.db.connect() as conn:
        payloads = (
            await conn.execute(
                text("SELECT payload FROM outbox WHERE event_type = 'peony.members.v1.CardClosed'")
            )
        ).all()
    closed_events = []
    for (p,) in payloads:
        event = events_pb2.CardClosed()
        EventEnvelope.FromString(p).payload.Unpack(event)
        closed_events.append(event)
    assert any(e.card == card.name and e.reason == "member left" for e in closed_events)


async def test_migration_encrypts_names_emails_and_care_profiles_written_in_plaintext(infra):
    """Rows written before 0007 hold the name, an e-mail (before 0006) and the care profile in
    plaintext: upgrading encrypts them under the member's data key and blanks the plaintext."""
    from kit.config import pii_master_key_from_env, to_async_url
    from kit.crypto import PiiCipher
    from kit.migrations import upgrade
    from services.members.adapters.repository import MemberCodec
    from services.members.domain.member import CareProfile

    url = to_async_url(await infra.anew_database("members_0007"))
    await upgrade("members", url, revision="0006_member_contacts")
    engine = create_async_engine(url)
    cipher = PiiCipher(pii_master_key_from_env())
    with_key, without_key = str(uuid.uuid4()), str(uuid.uuid4())
    dek, wrapped = cipher.new_data_key("acme")
    phone_ct = cipher.encrypt_field(dek, "+8613600001111", f"acme/{with_key}/phone")
    try:
        async with engine.begin() as conn:
            for member_id, wrapped_dek, ct, number in (
                (with_key, wrapped, phone_ct, "M1"),
                (without_key, None, None, "M2"),
            ):
                await conn.execute(
                    text(
                        "INSERT INTO members (tenant_id, member_id, member_number, display_name, gender,"
                        " email, home_store_id, registration_channel, consent, care_profile, referral_code,"
                        " tier_id, dek_wrapped, phone_ct)"
                        " VALUES ('acme', :m, :n, :name, 'female', :email, 's1', 'store', '{}'::jsonb,"
                        " CAST(:care AS jsonb), :n, 'regular', :dek, :ct)"
                    ),
                    {
                        "m": member_id,
                        "n": number,
                        "name": f"Old Plain {number}",
                        "email": f"old.{number}@example.com",
                        "care": '{"skin_type": "dry", "allergies": ["old pollen"]}',
                        "dek": wrapped_dek,
                        "ct": ct,
                    },
                )
        await upgrade("members", url)
        assert "Old Plain" not in dump(url) and "old pollen" not in dump(url) and "old.M1@" not in dump(url)
        async with engine.connect() as conn:
            rows = {
                str(r.member_id): r
                for r in (
                    await conn.execute(text("SELECT *, member_id::text AS member_id FROM members"))
                ).all()
            }
        codec = MemberCodec("acme", cipher)
        for member_id, number in ((with_key, "M1"), (without_key, "M2")):
            m = codec.from_row(rows[member_id])
            assert m.display_name == f"Old Plain {number}" and m.email == f"old.{number}@example.com"
            assert m.care_profile == CareProfile(skin_type="dry", allergies=["old pollen"])
            assert rows[member_id].display_name == "" and rows[member_id].email == ""
            assert codec.name_prefix_index("Old P") in rows[member_id].name_prefix_bidx
        assert codec.from_row(rows[with_key]).phone == "+8613600001111"  # the existing key was kept
    finally:
        await engine.dispose()


async def test_name_prefix_search_works_on_encrypted_names_beyond_the_indexed_prefix(members):
    """Names are encrypted: ListMembers finds them by keyed indexes of their first characters, and
    a longer prefix is checked against the decrypted names (pages stay full and complete)."""
    tenant = f"names-{uuid.uuid4().hex[:6]}"
    store = await members.create_store(tenant)
    wanted = set()
    for i in range(5):
        wanted.add((await register(members, store, tenant, display_name=f"Alexandra Montgomery {i}")).name)
        await register(members, store, tenant, display_name=f"Alexandra Morris {i}")  # same 8 characters
    await register(members, store, tenant, display_name="alexandra montgomery")  # prefixes are exact
    seen, token = [], ""
    while True:
        page = await members.stub.ListMembers(
            pb.ListMembersRequest(page_size=2, page_token=token, display_name_prefix="Alexandra Mont"),
            metadata=members.auth(tenant),
        )
        seen += [m.name for m in page.members]
        assert all(m.display_name.startswith("Alexandra Mont") for m in page.members)
        token = page.next_page_token
        if not token:
            break
    assert sorted(seen) == sorted(wanted)
    short = await members.stub.ListMembers(
        pb.ListMembersRequest(page_size=50, display_name_prefix="Alexandra M"), metadata=members.auth(tenant)
    )
    assert len(short.members) == 10
