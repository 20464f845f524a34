"""Referral thresholds and rewards as tenant settings through the API (issue 12, point 6):
`GetReferralSettings` / `UpdateReferralSettings`, and `ReferralRewardEarned` carrying the terms
in force when the reward was earned. Real PostgreSQL and NATS; checkouts arrive as wallet events."""

from __future__ import annotations

import grpc
import pytest
from google.protobuf import field_mask_pb2
from peony.members.v1 import events_pb2 as members_events
from peony.members.v1 import members_service_pb2 as pb
from peony.members.v1 import referral_pb2

from tests.integration.members.test_spend_and_referrals import (
    _register,
    _tenant,
    checkout,
    rid,
    yuan,
)
from tests.integration.members.test_spend_and_referrals import wallet as wallet
from tests.integration.wallet.test_package_commission import field_of

pytestmark = pytest.mark.integration


def update(settings: referral_pb2.ReferralSettings, *paths: str, request_id: str | None = None):
    return pb.UpdateReferralSettingsRequest(
        referral_settings=settings,
        update_mask=field_mask_pb2.FieldMask(paths=list(paths)),
        request_id=request_id or rid(),
    )


async def settings_of(members, tenant: str) -> referral_pb2.ReferralSettings:
    got = await members.stub.GetReferralSettings(
        pb.GetReferralSettingsRequest(name="referralSettings"), metadata=members.auth(tenant)
    )
    return got.referral_settings


async def test_the_defaults_until_updated_then_the_new_terms(members):
    tenant = _tenant()
    got = await settings_of(members, tenant)
    assert (
        got.name,
        got.threshold_minor,
        got.referrer_voucher_minor,
        got.voucher_valid_days,
        got.referrer_points,
        got.referee_points,
        got.currency_code,
        got.HasField("update_time"),
    ) == ("referralSettings", 50_000, 5_000, 90, 200, 200, "CNY", False)

    request = update(
        referral_pb2.ReferralSettings(
            name="referralSettings",
            threshold_minor=yuan(1_000),
            referrer_voucher_minor=8_800,
            voucher_valid_days=30,
            referrer_points=500,
            referee_points=0,
        ),
        "threshold_minor",
        "referrer_voucher_minor",
        "voucher_valid_days",
        "referrer_points",
        "referee_points",
    )
    first = await members.stub.UpdateReferralSettings(request, metadata=members.auth(tenant))
    assert await members.stub.UpdateReferralSettings(request, metadata=members.auth(tenant)) == first
    got = await settings_of(members, tenant)
    assert got == first.referral_settings
    assert (got.threshold_minor, got.referrer_voucher_minor, got.voucher_valid_days) == (
        yuan(1_000),
        8_800,
        30,
    )
    assert (got.referrer_points, got.referee_points, got.HasField("update_time")) == (500, 0, True)

    # An empty mask updates the fields that are set; the others stay.
    await members.stub.UpdateReferralSettings(
        update(referral_pb2.ReferralSettings(referee_points=50)), metadata=members.auth(tenant)
    )
    got = await settings_of(members, tenant)
    assert (got.threshold_minor, got.referrer_points, got.referee_points) == (yuan(1_000), 500, 50)


async def test_the_reward_follows_the_tenants_threshold_and_carries_its_terms(members, wallet):
    tenant = _tenant()
    await members.stub.UpdateReferralSettings(
        update(
            referral_pb2.ReferralSettings(
                threshold_minor=yuan(1_000), referrer_voucher_minor=8_800, voucher_valid_days=30
            )
        ),
        metadata=members.auth(tenant),
    )
    store = await members.create_store(tenant)
    referrer = await _register(members, tenant, store)
    referee = await _register(members, tenant, store, referral_code=referrer.referral_code)
    await wallet.publish(checkout(tenant, referee, yuan(600)))  # past the default ¥500, not ¥1,000
    assert await wallet.events(tenant, members_events.ReferralRewardEarned) == []
    await wallet.publish(checkout(tenant, referee, yuan(500)))
    [earned] = await wallet.events(tenant, members_events.ReferralRewardEarned)
    assert (earned.referrer, earned.referee, earned.qualifying_spend_minor) == (
        referrer.name,
        referee.name,
        yuan(1_100),
    )
    assert (
        earned.terms_included,
        earned.referrer_voucher_minor,
        earned.voucher_valid_days,
        earned.referrer_points,
        earned.referee_points,
    ) == (True, 8_800, 30, 200, 200)


@pytest.mark.parametrize(
    ("settings", "paths", "field"),
    [
        (
            referral_pb2.ReferralSettings(threshold_minor=0),
            ("threshold_minor",),
            "referral_settings.threshold_minor",
        ),
        (
            referral_pb2.ReferralSettings(threshold_minor=100_000_001),
            (),
            "referral_settings.threshold_minor",
        ),
        (
            referral_pb2.ReferralSettings(referrer_voucher_minor=-1),
            (),
            "referral_settings.referrer_voucher_minor",
        ),
        (
            referral_pb2.ReferralSettings(voucher_valid_days=0),
            ("voucher_valid_days",),
            "referral_settings.voucher_valid_days",
        ),
        (referral_pb2.ReferralSettings(voucher_valid_days=3661), (), "referral_settings.voucher_valid_days"),
        (referral_pb2.ReferralSettings(referee_points=10_000_001), (), "referral_settings.referee_points"),
        (referral_pb2.ReferralSettings(referrer_points=-5), (), "referral_settings.referrer_points"),
        (referral_pb2.ReferralSettings(threshold_minor=1), ("currency_code",), "update_mask"),
        (referral_pb2.ReferralSettings(), (), "update_mask"),
        (referral_pb2.ReferralSettings(name="tierLadder", threshold_minor=1), (), "referral_settings.name"),
    ],
)
async def test_bad_settings_are_refused_and_change_nothing(members, settings, paths, field):
    tenant = _tenant()
    before = await settings_of(members, tenant)
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await members.stub.UpdateReferralSettings(update(settings, *paths), metadata=members.auth(tenant))
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert field in field_of(err.value)
    assert await settings_of(members, tenant) == before


@pytest.mark.parametrize("role", ["store_manager", "front_desk", "marketing", "finance"])
async def test_only_who_manages_the_programme_may_change_it(members, role):
    tenant = _tenant()
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await members.stub.UpdateReferralSettings(
            update(referral_pb2.ReferralSettings(threshold_minor=1)),
            metadata=members.auth(tenant, roles=[role], stores=["stores/s1"]),
        )
    assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert (await settings_of(members, tenant)).threshold_minor == 50_000
