"""Notification preferences — consent per channel and purpose, locale, contact channels — change only
through members' UpdateMember with an update_mask. Malformed, unsigned and foreign-tenant updates
get their status and write nothing: not the member row, not an event, not an idempotency record."""

from __future__ import annotations

import base64
import json

import grpc
import pytest
from google.protobuf import field_mask_pb2
from peony.members.v1 import member_pb2
from peony.members.v1 import members_service_pb2 as pb
from sqlalchemy import text

from kit.auth import mint_dev_token
from tests.integration.members.test_members_api import details, register, rid

pytestmark = pytest.mark.integration


async def _written(members, member_name: str) -> tuple:
    """Everything an update could write: the member's row, and the outbox and idempotency tables."""
    member_id = member_name.removeprefix("members/")
    async with members.db.connect() as conn:
        row = (
            await conn.execute(
                text("SELECT m::text FROM members m WHERE member_id = CAST(:id AS uuid)"), {"id": member_id}
            )
        ).scalar_one()
        outbox = (await conn.execute(text("SELECT count(*) FROM outbox"))).scalar_one()
        keys = (await conn.execute(text("SELECT count(*) FROM idempotency_keys"))).scalar_one()
    return row, outbox, keys


def _update(name: str, paths: list[str], **fields) -> pb.UpdateMemberRequest:
    return pb.UpdateMemberRequest(
        member=member_pb2.Member(name=name, **fields),
        update_mask=field_mask_pb2.FieldMask(paths=paths),
        request_id=rid(),
    )


async def _refused(members, request: pb.UpdateMemberRequest, metadata) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await members.stub.UpdateMember(request, metadata=metadata)
    return err.value


async def test_malformed_preference_updates_are_invalid_argument_and_write_nothing(members):
    store = await members.create_store()
    member = await register(members, store)
    before = await _written(members, member.name)
    opt_in = member_pb2.Consent(marketing_sms=True)

    for paths, fields, field in (
        (["consent.no_such_flag"], {"consent": opt_in}, "update_mask"),
        (["consent.update_time"], {"consent": opt_in}, "update_mask"),  # output only
        (["consent.marketing_sms.deeper"], {"consent": opt_in}, "update_mask"),
        (["locale.language"], {"locale": "en"}, "update_mask"),
        (["no_such_field"], {}, "update_mask"),
        # a good consent change beside a bad value: all or nothing, the consent stays as it was
        (["consent.marketing_sms", "locale"], {"consent": opt_in, "locale": "fr"}, "member.locale"),
        (["consent.marketing_email", "email"], {"consent": opt_in, "email": "no-at-sign"}, "member.email"),
        (["consent", "push_tokens"], {"consent": opt_in, "push_tokens": ["has space"]}, "member.push_tokens"),
    ):
        err = await _refused(members, _update(member.name, paths, **fields), members.auth())
        assert err.code() == grpc.StatusCode.INVALID_ARGUMENT, (paths, err.details())
        assert field in details(err)[1], (paths, details(err))
        assert await _written(members, member.name) == before, paths

    got = (
        await members.stub.GetMember(pb.GetMemberRequest(name=member.name), metadata=members.auth())
    ).member
    assert not got.consent.marketing_sms and not got.consent.marketing_email and got.locale == "zh-CN"


def _forged(token: str) -> str:
    """The same claims with a signature that does not match them (another tenant written in)."""
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["tenant"] = "acme"
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("=")
    return f"{header}.{forged}.{signature}"


async def test_unsigned_or_forged_preference_updates_are_unauthenticated_and_write_nothing(members):
    store = await members.create_store()
    member = await register(members, store)
    before = await _written(members, member.name)
    request = _update(member.name, ["consent.marketing_sms"], consent=member_pb2.Consent(marketing_sms=True))
    admin = mint_dev_token(tenant="acme", subject="user:test", roles=["hq_admin"])

    for metadata in (
        (),  # no token at all
        (("authorization", "Bearer not-a-jwt"),),
        (
            (
                "authorization",
                f"Bearer {mint_dev_token(tenant='acme', subject='u', roles=['hq_admin'], secret='x' * 32)}",
            ),
        ),
        (
            (
                "authorization",
                f"Bearer {_forged(mint_dev_token(tenant='other', subject='u', roles=['hq_admin']))}",
            ),
        ),
        (
            (
                "authorization",
                f"Bearer {mint_dev_token(tenant='acme', subject='u', roles=['hq_admin'], ttl_seconds=-60)}",
            ),
        ),
        (("authorization", admin),),  # no "Bearer" scheme
    ):
        err = await _refused(members, request, metadata)
        assert err.code() == grpc.StatusCode.UNAUTHENTICATED, (metadata, err.details())
        assert await _written(members, member.name) == before


async def test_foreign_tenant_and_member_principals_cannot_change_anothers_preferences(members):
    store = await members.create_store()
    member = await register(members, store)
    other_store = await members.create_store(tenant="other-chain")
    neighbour = await register(members, other_store, tenant="other-chain")
    before = await _written(members, member.name)
    request = _update(member.name, ["consent.marketing_sms"], consent=member_pb2.Consent(marketing_sms=True))

    # another chain's admin: the member does not exist for it (no existence leak)
    err = await _refused(members, request, members.auth(tenant="other-chain"))
    assert err.code() == grpc.StatusCode.NOT_FOUND, err.details()
    # the other chain's member name, sent with this chain's token: not found either
    err = await _refused(
        members,
        _update(neighbour.name, ["consent.marketing_sms"], consent=member_pb2.Consent(marketing_sms=True)),
        members.auth(),
    )
    assert err.code() == grpc.StatusCode.NOT_FOUND
    # a member (customer) token, even the member's own: preferences change through the salon's API
    for subject in (member.name, neighbour.name):
        err = await _refused(members, request, members.auth(roles=["member"], subject=subject))
        assert err.code() == grpc.StatusCode.PERMISSION_DENIED, subject
    assert await _written(members, member.name) == before

    updated = await members.stub.UpdateMember(request, metadata=members.auth())  # the control: allowed
    assert updated.member.consent.marketing_sms
    assert await _written(members, member.name) != before
