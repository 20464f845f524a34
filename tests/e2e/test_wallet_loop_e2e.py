"""End to end across services, all through the REST gateway: a member registered in members
becomes known to the wallet (event-fed projection), pays with stored value, members upgrades the
tier from the wallet's CheckoutCompleted, and the wallet applies the new tier's discount."""

from __future__ import annotations

import asyncio
import time
import uuid

import aiohttp
import pytest

from kit.auth import mint_dev_token

pytestmark = pytest.mark.e2e
TENANT = "loop-chain"
HEADERS = {
    "Authorization": f"Bearer {mint_dev_token(tenant=TENANT, subject='user:loop', roles=['hq_admin'])}",
    "Content-Type": "application/json",
}


async def call(session, method: str, url: str, body: dict | None = None) -> tuple[int, dict]:
    async with session.request(method, url, json=body, headers=HEADERS) as resp:
        return resp.status, await resp.json()


async def eventually(fn, timeout: float = 30.0):
    deadline = time.monotonic() + timeout
    while True:
        value = await fn()
        if value or time.monotonic() > deadline:
            return value
        await asyncio.sleep(0.2)


async def test_checkout_upgrades_the_tier_and_the_wallet_applies_it(stack):
    base = stack.gateway_url
    async with aiohttp.ClientSession() as s:
        status, _ = await call(
            s,
            "POST",
            f"{base}/v1/stores?storeId=loop&requestId={uuid.uuid4()}",
            {"displayName": "Loop store", "timeZone": "Asia/Shanghai"},
        )
        assert status in (200, 409)
        status, body = await call(
            s,
            "POST",
            f"{base}/v1/members",
            {
                "member": {"displayName": "周慧", "phone": "13566667777", "homeStore": "stores/loop"},
                "requestId": str(uuid.uuid4()),
            },
        )
        assert status == 200, body
        member = body["member"]["name"]
        assert body["member"]["tier"]["tierId"] == "regular"

        async def wallet_knows_member():
            status, body = await call(s, "GET", f"{base}/v1/{member}/wallet")
            return body if status == 200 else None

        assert await eventually(wallet_knows_member), "the wallet never learned about the member"

        status, body = await call(
            s,
            "POST",
            f"{base}/v1/{member}/wallet:topUp",
            {
                "amountMinor": "300000",
                "currencyCode": "CNY",
                "tender": "TENDER_WECHAT_PAY",
                "store": "stores/loop",
                "requestId": str(uuid.uuid4()),
            },
        )
        assert status == 200, body
        status, body = await call(
            s,
            "POST",
            f"{base}/v1/{member}/wallet:setPaymentPin",
            {"pin": "135790", "requestId": str(uuid.uuid4())},
        )
        assert status == 200, body

        def checkout(validate_only: bool, stored_value: int) -> dict:
            return {
                "member": member,
                "store": "stores/loop",
                "lines": [
                    {
                        "item": "services/facial",
                        "category": "care",
                        "quantity": 1,
                        "listPriceMinor": "200000",
                        "servingStaff": "staff/lin",
                    }
                ],
                "storedValueMinor": str(stored_value),
                "paymentPin": "135790",
                "validateOnly": validate_only,
                "requestId": str(uuid.uuid4()),
            }

        # ¥2,000 of principal-funded spend: exactly the silver threshold.
        status, body = await call(s, "POST", f"{base}/v1/checkouts", checkout(False, 200_000))
        assert status == 200, body
        assert int(body["checkout"]["pointsEarned"]) == 2000  # 1 point per yuan of principal x 1.0

        async def upgraded():
            status, body = await call(s, "GET", f"{base}/v1/{member}")
            return status == 200 and body["member"]["tier"]["tierId"] == "silver"

        assert await eventually(upgraded), "members did not upgrade the tier from CheckoutCompleted"

        async def discounted():
            status, body = await call(s, "POST", f"{base}/v1/checkouts", checkout(True, 0))
            return body if status == 200 and int(body["checkout"]["tierDiscountMinor"]) == 20_000 else None

        quote = await eventually(discounted)
        assert quote, "the wallet's projection never applied the silver discount (10 %)"
        assert int(quote["checkout"]["totalDueMinor"]) == 180_000
