"""End to end through the REST gateway on the real services: a campaign whose reward is a voucher
of a wallet template and free sessions. Members checks the template with the wallet at creation
(unknown → 404, bad shapes → 400, nothing written); once sent, the wallet grants each recipient one
voucher and one free-session card; the test's own checkout with the voucher and its own use of a
session come back in GetCampaignResults as a voucher redeemed and a session used; refunding the
checkout gives the voucher back and un-counts its redemption."""

from __future__ import annotations

import asyncio
import time
import uuid

import aiohttp
import pytest

from kit.auth import mint_dev_token

pytestmark = pytest.mark.e2e
TENANT = f"e2e-crw-{uuid.uuid4().hex[:6]}"
HEADERS = {
    "Authorization": "Bearer "
    + mint_dev_token(tenant=TENANT, subject="user:crw", roles=["hq_admin", "marketing"]),
    "Content-Type": "application/json",
}
STORE = "stores/crw"


async def call(session, method: str, url: str, body: dict | None = None) -> tuple[int, dict]:
    async with session.request(method, url, json=body, headers=HEADERS) as resp:
        return resp.status, await resp.json()


async def eventually(fn, timeout: float = 90.0):
    deadline = time.monotonic() + timeout
    while True:
        value = await fn()
        if value or time.monotonic() > deadline:
            return value
        await asyncio.sleep(0.3)


async def test_a_campaign_voucher_and_free_sessions_are_granted_once_and_their_use_attributed(stack):
    gw = stack.gateway_url
    async with aiohttp.ClientSession() as s:
        status, body = await call(
            s,
            "POST",
            f"{gw}/v1/stores?storeId=crw&requestId={uuid.uuid4()}",
            {"displayName": "Rewards store", "timeZone": "Asia/Shanghai"},
        )
        assert status == 200, body
        members = []
        for i, consent in enumerate((True, True, False)):
            status, body = await call(
                s,
                "POST",
                f"{gw}/v1/members",
                {
                    "member": {
                        "displayName": f"m{i}",
                        "phone": f"1351234{i:04d}",
                        "homeStore": STORE,
                        "consent": {"marketingSms": consent},
                    },
                    "requestId": str(uuid.uuid4()),
                },
            )
            assert status == 200, body
            members.append(body["member"]["name"])
        a, b, silent = members
        status, body = await call(
            s,
            "POST",
            f"{gw}/v1/voucherTemplates?voucherTemplateId=crw-50&requestId={uuid.uuid4()}",
            {
                "displayName": "¥50 off",
                "kind": "VOUCHER_KIND_AMOUNT_OFF",
                "amountOffMinor": "5000",
                "validDays": 30,
            },
        )
        assert status == 200, body
        status, body = await call(
            s,
            "POST",
            f"{gw}/v1/segments?segmentId=crw&requestId={uuid.uuid4()}",
            {"displayName": "Rewards store", "filter": {"homeStores": [STORE]}},
        )
        assert status == 200, body

        def campaign(**reward) -> dict:
            return {
                "displayName": "Welcome back",
                "segment": "segments/crw",
                "messageBody": "{{ member.display_name }}, a gift for you",
                "throttlePerMinute": 100,
                **reward,
            }

        # bad rewards: refused with a clear status, nothing written
        for reward, expected in (
            ({"rewardVoucherTemplate": "voucherTemplates/nope"}, 404),
            ({"rewardVoucherTemplate": "templates/crw-50"}, 400),
            ({"rewardVoucherTemplate": "voucherTemplates/" + "x" * 300}, 400),
            ({"rewardFreeService": "services/facial"}, 400),  # no session count
            ({"rewardFreeService": "services/facial", "rewardFreeSessions": 101}, 400),
            ({"rewardFreeService": "facial", "rewardFreeSessions": 1}, 400),
            (
                {
                    "rewardFreeSessions": 2,
                    "rewardFreeService": "services/facial",
                    "rewardFreeSessionsValidDays": 4000,
                },
                400,
            ),
            ({"rewardFreeSessionsValidDays": 10}, 400),
        ):
            status, body = await call(
                s, "POST", f"{gw}/v1/campaigns?requestId={uuid.uuid4()}", campaign(**reward)
            )
            assert status == expected, (reward, status, body)
        status, body = await call(s, "GET", f"{gw}/v1/campaigns")
        assert status == 200 and not body.get("campaigns"), body

        status, body = await call(
            s,
            "POST",
            f"{gw}/v1/campaigns?campaignId=crw&requestId={uuid.uuid4()}",
            campaign(
                rewardVoucherTemplate="voucherTemplates/crw-50",
                rewardFreeService="services/facial",
                rewardFreeSessions=2,
                rewardFreeSessionsValidDays=30,
            ),
        )
        assert status == 200, body
        assert body["campaign"]["rewardVoucherTemplate"] == "voucherTemplates/crw-50"
        assert body["campaign"]["rewardFreeSessions"] == 2

        async def rewards_of(member: str) -> tuple[list, list]:
            _, vouchers = await call(s, "GET", f"{gw}/v1/{member}/vouchers")
            _, packages = await call(s, "GET", f"{gw}/v1/{member}/packages")
            return vouchers.get("vouchers", []), packages.get("memberPackages", [])

        async def both_granted():
            got = [await rewards_of(m) for m in (a, b)]
            return got if all(v and p for v, p in got) else None

        granted = await eventually(both_granted)
        assert granted, "the wallet never granted the campaign's rewards"
        for vouchers, packages in granted:
            assert [v["template"] for v in vouchers] == ["voucherTemplates/crw-50"]
            assert len(packages) == 1 and packages[0]["items"][0]["sessionsRemaining"] == "2"
        assert await rewards_of(silent) == ([], [])  # no consent: suppressed, no reward

        # a's checkout with the voucher; b uses one free session
        voucher = granted[0][0][0]["name"]

        def bill(validate_only: bool, tenders: list) -> dict:
            return {
                "member": a,
                "store": STORE,
                "lines": [{"item": "services/facial", "quantity": 1, "listPriceMinor": "20000"}],
                "vouchers": [voucher],
                "tenders": tenders,
                "validateOnly": validate_only,
                "requestId": str(uuid.uuid4()),
            }

        status, body = await call(s, "POST", f"{gw}/v1/checkouts", bill(True, []))
        assert status == 200, body
        due = body["checkout"]["totalDueMinor"]
        status, body = await call(
            s,
            "POST",
            f"{gw}/v1/checkouts",
            bill(False, [{"tender": "TENDER_WECHAT_PAY", "amountMinor": due}]),
        )
        assert status == 200, body
        checkout = body["checkout"]["name"]
        package = granted[1][1][0]["name"]
        status, body = await call(
            s,
            "POST",
            f"{gw}/v1/{package}:consume",
            {"service": "services/facial", "store": STORE, "sessions": 1, "requestId": str(uuid.uuid4())},
        )
        assert status == 200, body

        async def attributed():
            status, body = await call(s, "GET", f"{gw}/v1/campaigns/crw:results")
            r = body.get("results", {})
            ok = (
                status == 200
                and int(r.get("vouchersRedeemed", 0)) == 1
                and int(r.get("freeSessionsUsed", 0)) == 1
            )
            return r if ok else None

        results = await eventually(attributed)
        assert results, "the redemptions never reached the campaign's results"
        assert int(results["recipientsSent"]) == 2 and int(results["rewardsGranted"]) == 2
        status, body = await call(s, "GET", f"{gw}/v1/campaigns/crw")
        assert status == 200 and int(body["campaign"].get("rewardsRefusedCount", 0)) == 0

        # a's checkout refunded in full: the voucher is given back (VoucherRestored) and its
        # redemption no longer counts; the free session used outside a checkout still does
        status, body = await call(
            s,
            "POST",
            f"{gw}/v1/{checkout}:refund",
            {"full": True, "reason": "changed her mind", "requestId": str(uuid.uuid4())},
        )
        assert status == 200, body
        assert body["refund"]["vouchersRestored"] == [voucher]

        async def uncounted():
            status, body = await call(s, "GET", f"{gw}/v1/campaigns/crw:results")
            r = body.get("results", {})
            ok = (
                status == 200
                and int(r.get("vouchersRedeemed", 0)) == 0
                and int(r.get("freeSessionsUsed", 0)) == 1
            )
            return r if ok else None

        assert await eventually(uncounted), "the refund never un-counted the voucher's redemption"
