"""The members API over real gRPC, PostgreSQL and NATS JetStream."""

from __future__ import annotations

import asyncio
import subprocess
import uuid

import grpc
import pytest
from google.protobuf import field_mask_pb2
from google.rpc import error_details_pb2, status_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from peony.members.v1 import card_pb2, events_pb2, member_pb2, store_pb2, tier_pb2
from peony.members.v1 import members_service_pb2 as pb
from sqlalchemy import text

from cli.devstack import postgres_bin_dir
from kit.messaging import EventEnvelope

pytestmark = pytest.mark.integration

_phone_counter = iter(range(10_000_000))


def new_phone() -> str:
    return f"136{next(_phone_counter) + 12_000_000:08d}"


def rid() -> str:
    return str(uuid.uuid4())


def details(err: grpc.aio.AioRpcError) -> tuple[str, list[str]]:
    """(ErrorInfo reason, BadRequest fields) from a rich error."""
    raw = dict(err.trailing_metadata() or ()).get("grpc-status-details-bin")
    assert raw, f"no rich status on {err.code()}: {err.details()}"
    status = status_pb2.Status.FromString(raw)
    reason, fields = "", []
    for any_ in status.details:
        info, bad = error_details_pb2.ErrorInfo(), error_details_pb2.BadRequest()
        if any_.Unpack(info):
            reason = info.reason
        elif any_.Unpack(bad):
            fields = [v.field for v in bad.field_violations]
    return reason, fields


async def counts(m) -> dict[str, int]:
    async with m.db.connect() as conn:
        out = {}
        for table in (
            "members",
            "cards",
            "card_numbers",
            "outbox",
            "idempotency_keys",
            "tier_changes",
            "stores",
        ):
            out[table] = (await conn.execute(text(f"SELECT count(*) FROM {table}"))).scalar_one()  # noqa: S608
        return out


async def register(m, store: str, tenant: str = "acme", **fields) -> member_pb2.Member:
    member = member_pb2.Member(
        display_name=fields.pop("display_name", "王静"),
        phone=fields.pop("phone", new_phone()),
        home_store=store,
        **fields,
    )
    resp = await m.stub.RegisterMember(
        pb.RegisterMemberRequest(member=member, request_id=rid()), metadata=m.auth(tenant)
    )
    return resp.member


# --- registration, reads, privacy -------------------------------------------------------------
async def test_register_then_get_and_pii_masking_by_role(members):
    store = await members.create_store()
    phone = new_phone()
    created = await register(
        members,
        store,
        phone=phone,
        birthday="1990-05-12",
        id_number="110101199003071234",
        consent=member_pb2.Consent(marketing_sms=True),
    )
    assert created.name.startswith("members/") and created.member_number.startswith("M")
    assert created.phone == "+86" + phone and created.tier.tier_id == "regular"
    assert created.tier.benefits.booking_window_days == 7 and len(created.referral_code) == 8

    got = (
        await members.stub.GetMember(pb.GetMemberRequest(name=created.name), metadata=members.auth())
    ).member
    assert got.phone == "+86" + phone and got.birthday == "1990-05-12" and not got.pii_masked
    assert got.consent.marketing_sms and got.consent.HasField("update_time")

    masked = (
        await members.stub.GetMember(
            pb.GetMemberRequest(name=created.name), metadata=members.auth(roles=["beautician"])
        )
    ).member
    assert masked.pii_masked
    assert masked.phone == phone[:3] + "****" + phone[-4:]
    assert masked.birthday == "****-05-12" and masked.id_number == "1101**********1234"


async def test_care_profile_only_for_callers_with_care_permission(members):
    """member.proto: the care profile is returned only to callers allowed to read care data."""
    store = await members.create_store()
    created = await register(
        members, store, care_profile=member_pb2.CareProfile(skin_type="oily", allergies=["lanolin"])
    )

    async def get(roles: list[str]) -> member_pb2.Member:
        resp = await members.stub.GetMember(
            pb.GetMemberRequest(name=created.name), metadata=members.auth(roles=roles)
        )
        return resp.member

    # Allowed first, so a memoised response of an allowed caller cannot leak to the others.
    for roles in (["hq_admin"], ["beautician"]):
        seen = await get(roles)
        assert seen.care_profile.skin_type == "oily" and list(seen.care_profile.allergies) == ["lanolin"]
    for roles in (["finance"], ["marketing"]):
        hidden = await get(roles)
        assert hidden.name == created.name and not hidden.HasField("care_profile"), roles
    listed = await members.stub.ListMembers(
        pb.ListMembersRequest(home_store=store), metadata=members.auth(roles=["marketing"])
    )
    assert [m.name for m in listed.members] == [created.name]
    assert not listed.members[0].HasField("care_profile")


async def test_phone_is_never_stored_in_plaintext(members):
    store = await members.create_store()
    phone = new_phone()
    created = await register(members, store, phone=phone, birthday="1988-02-03", id_number="ID-99887766")
    dump = subprocess.run(
        [str(postgres_bin_dir() / "pg_dump"), "--data-only", members.database_url.replace("+asyncpg", "")],
        capture_output=True,
        check=True,
        text=True,
    ).stdout
    assert created.member_number in dump  # the dump really holds member rows
    for secret in (phone, "+86" + phone, "1988-02-03", "ID-99887766", "王静"):  # the name too
        assert secret not in dump


async def test_find_by_phone_uses_blind_index(members):
    store = await members.create_store()
    phone = new_phone()
    created = await register(members, store, phone=phone)
    found = await members.stub.FindMemberByPhone(
        pb.FindMemberByPhoneRequest(phone=f"+86 {phone[:3]}-{phone[3:7]}-{phone[7:]}"),
        metadata=members.auth(),
    )
    assert found.member.name == created.name
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await members.stub.FindMemberByPhone(
            pb.FindMemberByPhoneRequest(phone=new_phone()), metadata=members.auth()
        )
    assert err.value.code() == grpc.StatusCode.NOT_FOUND


# --- idempotency ------------------------------------------------------------------------------
async def test_request_id_replays_original_response_and_rejects_reuse(members):
    store = await members.create_store()
    request = pb.RegisterMemberRequest(
        member=member_pb2.Member(display_name="李娜", phone=new_phone(), home_store=store), request_id=rid()
    )
    first = await members.stub.RegisterMember(request, metadata=members.auth())
    before = await counts(members)
    again = await members.stub.RegisterMember(request, metadata=members.auth())
    assert again == first
    assert await counts(members) == before  # no second member, event or key

    changed = pb.RegisterMemberRequest()
    changed.CopyFrom(request)
    changed.member.display_name = "李娜娜"
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await members.stub.RegisterMember(changed, metadata=members.auth())
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert details(err.value) == ("REQUEST_ID_REUSED", ["request_id"])


async def test_concurrent_duplicates_create_exactly_one_member(members):
    store = await members.create_store()
    phone = new_phone()
    request = pb.RegisterMemberRequest(
        member=member_pb2.Member(display_name="周敏", phone=phone, home_store=store), request_id=rid()
    )
    results = await asyncio.gather(
        *(members.stub.RegisterMember(request, metadata=members.auth()) for _ in range(12)),
        return_exceptions=True,
    )
    ok = [r for r in results if not isinstance(r, Exception)]
    failed = [r for r in results if isinstance(r, Exception)]
    assert ok and all(r.member.name == ok[0].member.name for r in ok)
    assert all(isinstance(e, grpc.aio.AioRpcError) and e.code() == grpc.StatusCode.ABORTED for e in failed)
    # Same phone, different request ids, at once: the unique blind index admits exactly one.
    other = await asyncio.gather(
        *(
            members.stub.RegisterMember(
                pb.RegisterMemberRequest(
                    member=member_pb2.Member(display_name="赵雪", phone="13900000001", home_store=store),
                    request_id=rid(),
                ),
                metadata=members.auth(),
            )
            for _ in range(8)
        ),
        return_exceptions=True,
    )
    winners = [r for r in other if not isinstance(r, Exception)]
    assert len(winners) == 1
    assert all(e.code() == grpc.StatusCode.ALREADY_EXISTS for e in other if isinstance(e, Exception))


# --- bad input writes nothing -----------------------------------------------------------------
@pytest.mark.parametrize(
    ("member", "request_id", "code", "fields"),
    [
        (
            member_pb2.Member(),
            "r-1",
            grpc.StatusCode.INVALID_ARGUMENT,
            {"member.display_name", "member.phone", "member.home_store"},
        ),
        (
            member_pb2.Member(display_name="x", phone="12345", home_store="STORE", email="nope"),
            "r-2",
            grpc.StatusCode.INVALID_ARGUMENT,
            {"member.home_store"},
        ),
        (
            member_pb2.Member(display_name="x", phone="12345", email="nope", birthday="2990-01-01"),
            "r-3",
            grpc.StatusCode.INVALID_ARGUMENT,
            {"member.phone", "member.email", "member.birthday", "member.home_store"},
        ),
        (
            member_pb2.Member(display_name="x", phone="13800000000", home_store="stores/s1"),
            "",
            grpc.StatusCode.INVALID_ARGUMENT,
            {"request_id"},
        ),
        (
            member_pb2.Member(display_name="x", phone="13800000000", home_store="stores/nowhere"),
            "r-5",
            grpc.StatusCode.NOT_FOUND,
            set(),
        ),
    ],
)
async def test_bad_registration_gets_clear_status_and_writes_nothing(
    members, member, request_id, code, fields
):
    before = await counts(members)
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await members.stub.RegisterMember(
            pb.RegisterMemberRequest(member=member, request_id=request_id), metadata=members.auth()
        )
    assert err.value.code() == code
    reason, got_fields = details(err.value)
    assert fields <= set(got_fields)
    assert reason
    assert await counts(members) == before


async def test_authentication_failures(members):
    request = pb.GetMemberRequest(name=f"members/{uuid.uuid4()}")
    for metadata in (
        (),
        (("authorization", "Bearer garbage"),),
        members.auth(ttl_seconds=-300),
        members.auth(secret="forged-secret-forged-secret-forged-secret"),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await members.stub.GetMember(request, metadata=metadata)
        assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED
        assert details(err.value)[0] in ("MISSING_CREDENTIALS", "INVALID_TOKEN", "TOKEN_EXPIRED")


async def test_other_tenants_cannot_see_or_touch_a_member(members):
    store = await members.create_store("acme")
    created = await register(members, store, "acme")
    before = await counts(members)
    for call in (
        members.stub.GetMember(pb.GetMemberRequest(name=created.name), metadata=members.auth("rival")),
        members.stub.UpdateMember(
            pb.UpdateMemberRequest(
                member=member_pb2.Member(name=created.name, display_name="hijack"),
                update_mask=field_mask_pb2.FieldMask(paths=["display_name"]),
                request_id=rid(),
            ),
            metadata=members.auth("rival"),
        ),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await call
        assert err.value.code() == grpc.StatusCode.NOT_FOUND
    assert await counts(members) == before
    listed = await members.stub.ListMembers(
        pb.ListMembersRequest(page_size=500), metadata=members.auth("rival")
    )
    assert created.name not in {m.name for m in listed.members}


async def test_oversize_message_is_refused(members):
    big = member_pb2.Member(display_name="x" * (70 * 1024), phone="13800000000", home_store="stores/s")
    before = await counts(members)
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await members.stub.RegisterMember(
            pb.RegisterMemberRequest(member=big, request_id=rid()), metadata=members.auth()
        )
    assert err.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert await counts(members) == before


async def test_permissions_and_store_scope(members):
    store_a, store_b = await members.create_store(), await members.create_store()
    front_desk_a = members.auth(roles=["front_desk"], stores=[store_a])
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await members.stub.RegisterMember(
            pb.RegisterMemberRequest(
                member=member_pb2.Member(display_name="x", phone=new_phone(), home_store=store_b),
                request_id=rid(),
            ),
            metadata=front_desk_a,
        )
    assert (
        err.value.code() == grpc.StatusCode.PERMISSION_DENIED
        and details(err.value)[0] == "STORE_OUT_OF_SCOPE"
    )
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await members.stub.CreateStore(
            pb.CreateStoreRequest(store=store_pb2.Store(display_name="x"), request_id=rid()),
            metadata=front_desk_a,
        )
    assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED


# --- update, list, pagination -----------------------------------------------------------------
async def test_update_with_mask(members):
    store = await members.create_store()
    created = await register(members, store, email="a@example.com")
    resp = await members.stub.UpdateMember(
        pb.UpdateMemberRequest(
            member=member_pb2.Member(
                name=created.name,
                display_name="王静怡",
                email="ignored@example.com",
                care_profile=member_pb2.CareProfile(skin_type="dry", allergies=["fragrance"]),
                custom_attributes={"wechat_nick": "jing"},
            ),
            update_mask=field_mask_pb2.FieldMask(paths=["display_name", "care_profile", "custom_attributes"]),
            request_id=rid(),
        ),
        metadata=members.auth(),
    )
    m = resp.member
    assert (m.display_name, m.email, m.care_profile.skin_type) == ("王静怡", "a@example.com", "dry")
    assert dict(m.custom_attributes) == {"wechat_nick": "jing"}
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await members.stub.UpdateMember(
            pb.UpdateMemberRequest(
                member=member_pb2.Member(name=created.name, member_number="M1"),
                update_mask=field_mask_pb2.FieldMask(paths=["member_number"]),
                request_id=rid(),
            ),
            metadata=members.auth(),
        )
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT and details(err.value)[1] == ["update_mask"]


async def test_list_filters_and_pages(members):
    store = await members.create_store("pager")
    other = await members.create_store("pager")
    names = {(await register(members, store, "pager", display_name=f"林{i:02d}")).name for i in range(7)}
    await register(members, other, "pager", display_name="林99")
    seen, token = [], ""
    while True:
        page = await members.stub.ListMembers(
            pb.ListMembersRequest(page_size=3, page_token=token, home_store=store, display_name_prefix="林"),
            metadata=members.auth("pager"),
        )
        seen += [m.name for m in page.members]
        assert all(m.pii_masked for m in page.members)
        token = page.next_page_token
        if not token:
            break
    assert set(seen) == names and len(seen) == 7
    first = await members.stub.ListMembers(
        pb.ListMembersRequest(page_size=3, home_store=store), metadata=members.auth("pager")
    )
    with pytest.raises(grpc.aio.AioRpcError) as err:  # a token from one filter is refused for another
        await members.stub.ListMembers(
            pb.ListMembersRequest(page_size=3, home_store=other, page_token=first.next_page_token),
            metadata=members.auth("pager"),
        )
    assert (
        err.value.code() == grpc.StatusCode.INVALID_ARGUMENT and details(err.value)[0] == "INVALID_PAGE_TOKEN"
    )


# --- cards ------------------------------------------------------------------------------------
async def test_card_lost_stops_resolving_and_replaced_or_legacy_numbers_find_the_member(members):
    store = await members.create_store()
    created = await register(members, store)
    md = members.auth()
    card = (
        await members.stub.IssueCard(pb.IssueCardRequest(parent=created.name, request_id=rid()), metadata=md)
    ).card
    assert card.state == card_pb2.CARD_STATE_ACTIVE and len(card.card_number) == 12
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await members.stub.IssueCard(pb.IssueCardRequest(parent=created.name, request_id=rid()), metadata=md)
    assert (
        err.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        and details(err.value)[0] == "MEMBER_HAS_LIVE_CARD"
    )

    legacy = f"YKT-{uuid.uuid4().hex[:8]}"
    await members.stub.AddLegacyCardNumber(
        pb.AddLegacyCardNumberRequest(name=card.name, legacy_number=legacy, request_id=rid()), metadata=md
    )
    lost = (
        await members.stub.ReportCardLost(
            pb.ReportCardLostRequest(name=card.name, request_id=rid()), metadata=md
        )
    ).card
    assert lost.state == card_pb2.CARD_STATE_LOST
    # A lost card no longer identifies the member at the till, by its number or a legacy alias.
    for number in (card.card_number, legacy):
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await members.stub.FindMemberByCardNumber(
                pb.FindMemberByCardNumberRequest(card_number=number), metadata=md
            )
        assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert details(err.value)[0] == "CARD_LOST" and created.name not in err.value.details()
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await members.stub.FreezeCard(pb.FreezeCardRequest(name=card.name, request_id=rid()), metadata=md)
    assert (
        err.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        and details(err.value)[0] == "CARD_STATE_CONFLICT"
    )

    replaced = await members.stub.ReplaceCard(
        pb.ReplaceCardRequest(name=card.name, request_id=rid()), metadata=md
    )
    assert replaced.old_card.state == card_pb2.CARD_STATE_REPLACED
    assert replaced.old_card.replaced_by == replaced.new_card.name
    for number, via_replacement, via_legacy in ((card.card_number, True, False), (legacy, True, True)):
        found = await members.stub.FindMemberByCardNumber(
            pb.FindMemberByCardNumberRequest(card_number=number), metadata=md
        )
        assert found.member.name == created.name
        assert found.card.name == replaced.new_card.name
        assert (found.resolved_via_replacement, found.resolved_via_legacy_alias) == (
            via_replacement,
            via_legacy,
        )

    frozen = (
        await members.stub.FreezeCard(
            pb.FreezeCardRequest(name=replaced.new_card.name, reason="travel", request_id=rid()), metadata=md
        )
    ).card
    assert frozen.state == card_pb2.CARD_STATE_FROZEN
    with pytest.raises(grpc.aio.AioRpcError) as err:  # the old number now leads to a frozen card
        await members.stub.FindMemberByCardNumber(
            pb.FindMemberByCardNumberRequest(card_number=card.card_number), metadata=md
        )
    assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION and details(err.value)[0] == "CARD_FROZEN"
    cards = await members.stub.ListCards(pb.ListCardsRequest(parent=created.name), metadata=md)
    assert {c.state for c in cards.cards} == {card_pb2.CARD_STATE_REPLACED, card_pb2.CARD_STATE_FROZEN}


# --- tiers ------------------------------------------------------------------------------------
async def test_staff_tier_override_is_audited_and_evented(members):
    store = await members.create_store("tiers")
    created = await register(members, store, "tiers")
    md = members.auth("tiers", subject="user:manager")
    ladder = (
        await members.stub.GetTierLadder(pb.GetTierLadderRequest(name="tierLadder"), metadata=md)
    ).tier_ladder
    assert [t.tier_id for t in ladder.tiers] == ["regular", "silver", "gold", "platinum", "diamond"]
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await members.stub.SetMemberTier(
            pb.SetMemberTierRequest(name=created.name, tier_id="gold", request_id=rid()), metadata=md
        )
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "reason" in details(err.value)[1]
    resp = await members.stub.SetMemberTier(
        pb.SetMemberTierRequest(name=created.name, tier_id="gold", reason="VIP transfer", request_id=rid()),
        metadata=md,
    )
    assert resp.member.tier.tier_id == "gold" and resp.member.tier.staff_override
    assert resp.member.tier.benefits.discount_bps == 1500
    assert (resp.tier_change.from_tier_id, resp.tier_change.actor) == ("regular", "user:manager")
    changes = await members.stub.ListTierChanges(pb.ListTierChangesRequest(parent=created.name), metadata=md)
    assert [c.to_tier_id for c in changes.tier_changes] == ["gold"]
    assert [c.reason_code for c in changes.tier_changes] == [tier_pb2.TIER_CHANGE_REASON_MANUAL]
    async with members.db.connect() as conn:
        types = (
            (
                await conn.execute(
                    text("SELECT event_type FROM outbox WHERE aggregate_id = :a ORDER BY seq"),
                    {"a": created.name.split("/")[1]},
                )
            )
            .scalars()
            .all()
        )
    assert types == ["peony.members.v1.MemberRegistered", "peony.members.v1.TierChanged"]
    async with members.db.connect() as conn:
        payload = (
            await conn.execute(
                text(
                    "SELECT payload FROM outbox WHERE aggregate_id = :a"
                    " AND event_type = 'peony.members.v1.TierChanged'"
                ),
                {"a": created.name.split("/")[1]},
            )
        ).scalar_one()
    manual = events_pb2.TierChanged()
    assert EventEnvelope.FromString(bytes(payload)).payload.Unpack(manual)
    assert (manual.reason, manual.reason_code) == ("VIP transfer", tier_pb2.TIER_CHANGE_REASON_MANUAL)


async def test_update_tier_ladder(members):
    md = members.auth("ladder")
    ladder = (
        await members.stub.GetTierLadder(pb.GetTierLadderRequest(name="tierLadder"), metadata=md)
    ).tier_ladder
    ladder.tiers[1].qualifying_spend_minor = 300_000
    updated = await members.stub.UpdateTierLadder(
        pb.UpdateTierLadderRequest(
            tier_ladder=ladder, update_mask=field_mask_pb2.FieldMask(paths=["tiers"]), request_id=rid()
        ),
        metadata=md,
    )
    assert updated.tier_ladder.tiers[1].qualifying_spend_minor == 300_000
    ladder.tiers[2].rank = 0
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await members.stub.UpdateTierLadder(
            pb.UpdateTierLadderRequest(
                tier_ladder=ladder, update_mask=field_mask_pb2.FieldMask(paths=["tiers"]), request_id=rid()
            ),
            metadata=md,
        )
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT


# --- stores, events, infrastructure -----------------------------------------------------------
async def test_store_validation_and_duplicates(members):
    md = members.auth("stores")
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await members.stub.CreateStore(
            pb.CreateStoreRequest(
                store=store_pb2.Store(display_name="x", time_zone="Mars/Base"), request_id=rid()
            ),
            metadata=md,
        )
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT and details(err.value)[1] == [
        "store.time_zone"
    ]
    await members.create_store("stores", "ny", tz="America/New_York")
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await members.create_store("stores", "ny")
    assert err.value.code() == grpc.StatusCode.ALREADY_EXISTS
    got = await members.stub.GetStore(pb.GetStoreRequest(name="stores/ny"), metadata=md)
    assert got.store.time_zone == "America/New_York"


async def test_events_reach_jetstream_once_with_event_id_as_msg_id(members):
    import nats
    from nats.js.api import ConsumerConfig, DeliverPolicy
    from peony.events.v1.envelope_pb2 import EventEnvelope
    from peony.members.v1 import events_pb2

    store = await members.create_store("events")
    nc = await nats.connect(members.nats_url)
    try:
        js = nc.jetstream()
        # Read from the stream's end as it is before this registration: the shared stream holds
        # every other test's registrations, too many to scan from the start in time.
        subject = "peony.members.MemberRegistered"
        stream = await js.find_stream_name_by_subject(subject)
        start = (await js.stream_info(stream)).state.last_seq + 1
        created = await register(members, store, "events")
        config = ConsumerConfig(deliver_policy=DeliverPolicy.BY_START_SEQUENCE, opt_start_seq=start)
        sub = await js.pull_subscribe(subject, durable=None, config=config)
        deadline = asyncio.get_running_loop().time() + 30
        found = None
        while found is None and asyncio.get_running_loop().time() < deadline:
            try:
                msgs = await sub.fetch(100, timeout=1)
            except nats.errors.TimeoutError:
                continue
            for msg in msgs:
                env = EventEnvelope.FromString(msg.data)
                payload = events_pb2.MemberRegistered()
                env.payload.Unpack(payload)
                if payload.member == created.name:
                    found = (env, msg)
        assert found is not None, "MemberRegistered was not published"
        env, msg = found
        assert msg.headers["Nats-Msg-Id"] == env.event_id and env.tenant == "events"
        assert created.phone[-8:] not in msg.data.decode("latin-1")
    finally:
        await nc.close()


async def test_health_and_reflection_answer_without_a_token(members):
    health = health_pb2_grpc.HealthStub(members.channel)
    for service in ("", "peony.members.v1.MembersService"):
        resp = await health.Check(health_pb2.HealthCheckRequest(service=service))
        assert resp.status == health_pb2.HealthCheckResponse.SERVING
    reflection = reflection_pb2_grpc.ServerReflectionStub(members.channel)

    async def ask():
        yield reflection_pb2.ServerReflectionRequest(list_services="")

    async for resp in reflection.ServerReflectionInfo(ask()):
        names = {s.name for s in resp.list_services_response.service}
        assert {"peony.members.v1.MembersService", "grpc.health.v1.Health"} <= names
        break


async def test_unmasked_reads_are_audited_and_masked_reads_are_not(members):
    store = await members.create_store("audit")
    created = await register(members, store, "audit")
    member_id = created.name.split("/")[1]
    await members.stub.GetMember(
        pb.GetMemberRequest(name=created.name), metadata=members.auth("audit", subject="user:amy")
    )
    await members.stub.GetMember(
        pb.GetMemberRequest(name=created.name),
        metadata=members.auth("audit", subject="user:bob", roles=["beautician"]),
    )

    async def audit_rows():
        async with members.db.connect() as conn:
            return (
                await conn.execute(
                    text("SELECT actor, rpc FROM pii_access_log WHERE member_id = :m ORDER BY id"),
                    {"m": member_id},
                )
            ).all()

    rows = []
    for _ in range(50):  # the trail is flushed in the background every 0.5 s
        rows = await audit_rows()
        if len(rows) >= 2:
            break
        await asyncio.sleep(0.1)
    assert [tuple(r) for r in rows] == [("user:test", "RegisterMember"), ("user:amy", "GetMember")]


async def test_referral_code_links_the_referee_to_the_referrer(members):
    store = await members.create_store("referrals")
    referrer = await register(members, store, "referrals")
    resp = await members.stub.RegisterMember(
        pb.RegisterMemberRequest(
            member=member_pb2.Member(display_name="新朋友", phone=new_phone(), home_store=store),
            referral_code=referrer.referral_code.lower(),  # codes are read out loud: case does not matter
            request_id=rid(),
        ),
        metadata=members.auth("referrals"),
    )
    assert resp.member.referrer == referrer.name
    assert resp.member.registration_channel == member_pb2.REGISTRATION_CHANNEL_REFERRAL
    before = await counts(members)
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await members.stub.RegisterMember(
            pb.RegisterMemberRequest(
                member=member_pb2.Member(display_name="x", phone=new_phone(), home_store=store),
                referral_code="NOSUCHCD",
                request_id=rid(),
            ),
            metadata=members.auth("referrals"),
        )
    assert (
        err.value.code() == grpc.StatusCode.NOT_FOUND and details(err.value)[0] == "REFERRAL_CODE_NOT_FOUND"
    )
    # A phone the tenant already knows cannot be "referred" again.
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await members.stub.RegisterMember(
            pb.RegisterMemberRequest(
                member=member_pb2.Member(display_name="again", phone=referrer.phone, home_store=store),
                referral_code=referrer.referral_code,
                request_id=rid(),
            ),
            metadata=members.auth("referrals"),
        )
    assert err.value.code() == grpc.StatusCode.ALREADY_EXISTS
    assert await counts(members) == before
