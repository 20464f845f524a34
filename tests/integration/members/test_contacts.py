"""Contact data for notifications (e-mail, WeChat openid, push tokens, locale, consent per channel
and purpose) and the internal ResolveContact RPC, over real gRPC and PostgreSQL."""

from __future__ import annotations

import asyncio
import subprocess

import grpc
import pytest
from google.protobuf import field_mask_pb2
from peony.members.v1 import member_pb2
from peony.members.v1 import members_service_pb2 as pb
from sqlalchemy import text

from cli.devstack import postgres_bin_dir
from tests.integration.members.test_members_api import counts, details, new_phone, register, rid

pytestmark = pytest.mark.integration

EMAIL = "jingyi.wang@example.com"
OPENID = "oWx1-openid_ABCDEFG12345"
PUSH = "fcm-token:APA91bHunvEryLongToken0123456789"
NOTIFIER = ["service", "notifier"]


def _mask(*paths: str) -> field_mask_pb2.FieldMask:
    return field_mask_pb2.FieldMask(paths=list(paths))


async def _set_contacts(members, member: member_pb2.Member) -> member_pb2.Member:
    patch = member_pb2.Member(
        name=member.name,
        email=EMAIL,
        wechat_openid=OPENID,
        push_tokens=[PUSH],
        locale="en",
        consent=member_pb2.Consent(marketing_wechat=True, transactional_sms_opt_out=True),
    )
    resp = await members.stub.UpdateMember(
        pb.UpdateMemberRequest(
            member=patch,
            update_mask=_mask(
                "email",
                "wechat_openid",
                "push_tokens",
                "locale",
                "consent.marketing_wechat",
                "consent.transactional_sms_opt_out",
            ),
            request_id=rid(),
        ),
        metadata=members.auth(),
    )
    return resp.member


async def test_contacts_update_with_mask_read_back_masked_by_role_and_encrypted_at_rest(members):
    store = await members.create_store()
    created = await register(members, store)
    assert created.locale == "zh-CN"  # the default

    updated = await _set_contacts(members, created)
    assert (updated.email, updated.wechat_openid, list(updated.push_tokens), updated.locale) == (
        EMAIL,
        OPENID,
        [PUSH],
        "en",
    )
    assert updated.consent.marketing_wechat and updated.consent.transactional_sms_opt_out
    assert not updated.consent.marketing_sms  # not in the mask: unchanged

    masked = (
        await members.stub.GetMember(
            pb.GetMemberRequest(name=created.name), metadata=members.auth(roles=["marketing"])
        )
    ).member
    assert masked.pii_masked
    assert masked.email == "j***@example.com"
    assert EMAIL not in str(masked) and OPENID not in str(masked) and PUSH not in str(masked)
    assert masked.locale == "en" and masked.consent.transactional_sms_opt_out

    # Nothing readable at rest: no column of the row holds an address in clear.
    dump = subprocess.run(
        [
            str(postgres_bin_dir() / "pg_dump"),
            "--data-only",
            "--table=members",
            members.database_url.replace("postgresql+asyncpg://", "postgresql://"),
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert created.member_number in dump  # the dump is the real table
    for secret in (EMAIL, OPENID, PUSH):
        assert secret not in dump


async def test_contact_fields_need_pii_permission_to_change_and_bad_values_write_nothing(members):
    store = await members.create_store()
    created = await register(members, store)
    before = await counts(members)
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await members.stub.UpdateMember(
            pb.UpdateMemberRequest(
                member=member_pb2.Member(
                    name=created.name,
                    wechat_openid="has spaces!",
                    push_tokens=["ok", "bad token"],
                    locale="fr",
                    email="not-an-address",
                ),
                update_mask=_mask("wechat_openid", "push_tokens", "locale", "email"),
                request_id=rid(),
            ),
            metadata=members.auth(),
        )
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert set(details(err.value)[1]) == {
        "member.wechat_openid",
        "member.push_tokens",
        "member.locale",
        "member.email",
    }

    with pytest.raises(grpc.aio.AioRpcError) as err:
        await members.stub.UpdateMember(
            pb.UpdateMemberRequest(
                member=member_pb2.Member(name=created.name, wechat_openid=OPENID),
                update_mask=_mask("wechat_openid"),
                request_id=rid(),
            ),
            metadata=members.auth(roles=["consultant"], stores=[store.split("/")[1]]),
        )
    assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert await counts(members) == before


async def test_resolve_contact_for_notify_only_returns_addresses_zone_and_is_audited(members):
    store = await members.create_store(tz="America/New_York")
    created = await register(members, store, phone=new_phone())
    await _set_contacts(members, created)
    member_id = created.name.split("/")[1]

    resolved = await members.stub.ResolveContact(
        pb.ResolveContactRequest(name=created.name),
        metadata=members.auth(roles=NOTIFIER, subject="services/notify"),
    )
    assert resolved.member == created.name and resolved.display_name == created.display_name
    assert resolved.phone == created.phone and "*" not in resolved.phone  # unmasked
    assert (resolved.email, resolved.wechat_openid, list(resolved.push_tokens)) == (EMAIL, OPENID, [PUSH])
    assert (resolved.locale, resolved.home_store, resolved.time_zone) == ("en", store, "America/New_York")
    assert resolved.consent.marketing_wechat and resolved.consent.transactional_sms_opt_out
    assert resolved.state == member_pb2.MEMBER_STATE_ACTIVE

    # Every resolution is in the PII access log (flushed in the background every 0.5 s).
    async def audited() -> list:
        async with members.db.connect() as conn:
            return (
                await conn.execute(
                    text("SELECT actor FROM pii_access_log WHERE member_id = :m AND rpc = 'ResolveContact'"),
                    {"m": member_id},
                )
            ).all()

    rows: list = []
    for _ in range(50):
        rows = await audited()
        if rows:
            break
        await asyncio.sleep(0.1)
    assert [r.actor for r in rows] == ["services/notify"]

    # Anyone else: another service without `notifier`, a human with every permission, a member.
    for roles in (["service"], ["hq_admin"], ["member"], ["receipt_forwarder"]):
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await members.stub.ResolveContact(
                pb.ResolveContactRequest(name=created.name),
                metadata=members.auth(roles=roles, subject=created.name),
            )
        assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED, roles
    await asyncio.sleep(0.7)
    assert len(await audited()) == 1  # refused calls read nothing and leave no audit row

    with pytest.raises(grpc.aio.AioRpcError) as err:
        await members.stub.ResolveContact(
            pb.ResolveContactRequest(name="members/00000000-0000-0000-0000-000000000000"),
            metadata=members.auth(roles=NOTIFIER),
        )
    assert err.value.code() == grpc.StatusCode.NOT_FOUND
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await members.stub.ResolveContact(
            pb.ResolveContactRequest(name="nobody"), metadata=members.auth(roles=NOTIFIER)
        )
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT and details(err.value)[1] == ["name"]
    # Another tenant's token cannot see this member.
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await members.stub.ResolveContact(
            pb.ResolveContactRequest(name=created.name), metadata=members.auth("other", roles=NOTIFIER)
        )
    assert err.value.code() == grpc.StatusCode.NOT_FOUND


async def test_resolve_contacts_batch_is_one_call_same_callers_bounded_and_audited(members):
    store = await members.create_store(tz="Europe/London")
    first = await register(members, store, phone=new_phone())
    await _set_contacts(members, first)
    second = await register(members, store, phone=new_phone())
    unknown = "members/00000000-0000-0000-0000-000000000001"
    notifier = members.auth(roles=NOTIFIER, subject="services/notify")

    got = await members.stub.ResolveContacts(
        pb.ResolveContactsRequest(names=[second.name, unknown, first.name, second.name]), metadata=notifier
    )
    # each found member once, in the order first named; the unknown one listed, not an error
    assert [c.member for c in got.contacts] == [second.name, first.name]
    assert list(got.missing) == [unknown]
    by_name = {c.member: c for c in got.contacts}
    single = await members.stub.ResolveContact(pb.ResolveContactRequest(name=first.name), metadata=notifier)
    assert by_name[first.name] == single  # the same answer as ResolveContact, unmasked
    assert by_name[first.name].time_zone == "Europe/London" and by_name[second.name].phone == second.phone

    async def audited() -> list:
        async with members.db.connect() as conn:
            return (
                await conn.execute(
                    text("SELECT member_id::text AS m FROM pii_access_log WHERE rpc = 'ResolveContacts'"),
                )
            ).all()

    rows: list = []
    for _ in range(50):
        rows = await audited()
        if len(rows) >= 2:
            break
        await asyncio.sleep(0.1)
    assert sorted(r.m for r in rows) == sorted(n.split("/")[1] for n in (first.name, second.name))

    # the same callers as ResolveContact only; refused calls read nothing and leave no audit row
    for roles in (["service"], ["hq_admin"], ["member"], ["receipt_forwarder"]):
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await members.stub.ResolveContacts(
                pb.ResolveContactsRequest(names=[first.name]),
                metadata=members.auth(roles=roles, subject=first.name),
            )
        assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED, roles
    # another tenant's notifier: nothing of this tenant
    other = await members.stub.ResolveContacts(
        pb.ResolveContactsRequest(names=[first.name]), metadata=members.auth("other", roles=NOTIFIER)
    )
    assert list(other.contacts) == [] and list(other.missing) == [first.name]
    await asyncio.sleep(0.7)
    assert len(await audited()) == 2

    # bounded and checked: none, more than 100, a malformed name
    for names, field in (
        ([], "names"),
        ([first.name] * 101, "names"),
        ([first.name, "members/not-a-uuid"], "names[1]"),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await members.stub.ResolveContacts(pb.ResolveContactsRequest(names=names), metadata=notifier)
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT, names
        assert field in details(err.value)[1], details(err.value)
