"""Card states that bite, across the stack through the REST gateway: a card identifies its member
at the wallet's till and at booking's front desk only while it is active. A lost, frozen or closed
card number is refused (FAILED_PRECONDITION with the card's state) and moves no money and books
nothing; the replacement card works; a retry of a call that succeeded replays."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

import aiohttp
import pytest

from tests.e2e.test_booking_e2e import local_date_in
from tests.e2e.test_erasure_e2e import call, eventually, ledger_totals

pytestmark = pytest.mark.e2e
TENANT = "erase-chain"  # the tenant test_erasure_e2e's helpers (headers, ledger) use


def reason(body: dict) -> str:
    return next((d.get("reason", "") for d in body["error"].get("details", []) if "reason" in d), "")


async def test_lost_frozen_and_closed_cards_are_refused_by_wallet_and_booking(stack):
    base = stack.gateway_url
    tag = uuid.uuid4().hex[:6]
    store_id = f"cs-{tag}"
    store = f"stores/{store_id}"
    async with aiohttp.ClientSession() as s:
        status, body = await call(
            s,
            "POST",
            f"{base}/v1/stores?storeId={store_id}&requestId={uuid.uuid4()}",
            {"displayName": "Card store", "timeZone": "Asia/Shanghai"},
        )
        assert status == 200, body
        members = []
        for i in range(2):
            status, body = await call(
                s,
                "POST",
                f"{base}/v1/members",
                {
                    "member": {
                        "displayName": f"Card holder {i}",
                        "phone": f"1358{(int(tag, 16) + i) % 10_000_000:07d}",
                        "homeStore": store,
                    },
                    "requestId": str(uuid.uuid4()),
                },
            )
            assert status == 200, body
            members.append(body["member"]["name"])
        member, other = members

        async def wallet_knows_member():
            status, body = await call(s, "GET", f"{base}/v1/{member}/wallet")
            return body if status == 200 else None

        assert await eventually(wallet_knows_member), "the wallet never learned about the member"
        status, body = await call(
            s,
            "POST",
            f"{base}/v1/{member}/wallet:topUp",
            {
                "amountMinor": "100000",
                "currencyCode": "CNY",
                "tender": "TENDER_CASH",
                "store": store,
                "requestId": str(uuid.uuid4()),
            },
        )
        assert status == 200, body
        status, body = await call(
            s,
            "POST",
            f"{base}/v1/{member}/wallet:setPaymentPin",
            {"pin": "135246", "requestId": str(uuid.uuid4())},
        )
        assert status == 200, body
        status, body = await call(s, "POST", f"{base}/v1/{member}/cards", {"requestId": str(uuid.uuid4())})
        assert status == 200, body
        card = body["card"]
        status, body = await call(s, "POST", f"{base}/v1/{other}/cards", {"requestId": str(uuid.uuid4())})
        assert status == 200, body
        others_card = body["card"]

        def checkout(number: str, request_id: str | None = None, **extra) -> dict:
            return {
                "cardNumber": number,
                "store": store,
                "lines": [
                    {"item": "services/facial", "category": "care", "quantity": 1, "listPriceMinor": "10000"}
                ],
                "storedValueMinor": "10000",
                "paymentPin": "135246",
                "requestId": request_id or str(uuid.uuid4()),
                **extra,
            }

        # An active card identifies its member at the till.
        paid_request_id = str(uuid.uuid4())
        status, paid = await call(
            s, "POST", f"{base}/v1/checkouts", checkout(card["cardNumber"], paid_request_id)
        )
        assert status == 200, paid
        assert paid["checkout"]["member"] == member
        # Another member's card with this member: refused.
        status, body = await call(
            s, "POST", f"{base}/v1/checkouts", checkout(others_card["cardNumber"], member=member)
        )
        assert status == 400 and body["error"]["status"] == "INVALID_ARGUMENT", body
        status, body = await call(s, "POST", f"{base}/v1/checkouts", checkout("NO-SUCH-CARD-1"))
        assert status == 404 and reason(body) == "CARD_NOT_FOUND", body

        # Booking: the same card at the front desk.
        service_id = f"facial-{tag}"
        status, body = await call(
            s,
            "POST",
            f"{base}/v1/services?serviceId={service_id}&requestId={uuid.uuid4()}",
            {
                "displayName": "Facial",
                "category": "facial",
                "durationMinutes": 30,
                "listPriceMinor": "10000",
                "currencyCode": "CNY",
                "requirements": {"skill": "facial"},
            },
        )
        assert status == 200, body

        async def staff_created():
            status, _ = await call(
                s,
                "POST",
                f"{base}/v1/{store}/staff?staffId=mei&requestId={uuid.uuid4()}",
                {
                    "displayName": "Mei",
                    "skills": ["facial"],
                    "weeklyHours": [
                        {"dayOfWeek": d, "startTime": "09:00", "endTime": "18:00"} for d in range(1, 8)
                    ],
                },
            )
            return status == 200

        assert await eventually(staff_created), "booking never learned about the store"
        day = local_date_in(4)
        status, body = await call(
            s,
            "GET",
            f"{base}/v1/{store}:queryAvailability?startDate={day}&endDate={day}&services=services/{service_id}",
        )
        assert status == 200 and len(body["slots"]) >= 4, body
        slots: list[str] = []  # an hour apart: none overlaps another (one staff member)
        for slot in body["slots"]:
            start = datetime.fromisoformat(slot["startTime"].replace("Z", "+00:00"))
            if not slots or start - datetime.fromisoformat(slots[-1].replace("Z", "+00:00")) >= timedelta(
                hours=1
            ):
                slots.append(slot["startTime"])
        assert len(slots) >= 4, slots

        def booking(number: str, start: str) -> dict:
            return {
                "member": member,
                "store": store,
                "services": [f"services/{service_id}"],
                "startTime": start,
                "channel": "BOOKING_CHANNEL_STORE",
                "cardNumber": number,
                "requestId": str(uuid.uuid4()),
            }

        async def booked_by_card():
            status, body = await call(
                s, "POST", f"{base}/v1/appointments", booking(card["cardNumber"], slots[0])
            )
            return body if status == 200 else None

        assert await eventually(booked_by_card), "booking by an active card failed"
        status, body = await call(
            s, "POST", f"{base}/v1/appointments", booking(others_card["cardNumber"], slots[1])
        )
        assert status == 400 and body["error"]["status"] == "INVALID_ARGUMENT", body

        # Reported lost: the card no longer identifies anyone; no money moves, nothing is booked.
        status, body = await call(
            s, "POST", f"{base}/v1/{card['name']}:reportLost", {"requestId": str(uuid.uuid4())}
        )
        assert status == 200, body
        ledger_before = await ledger_totals(stack)
        status, body = await call(s, "POST", f"{base}/v1/checkouts", checkout(card["cardNumber"]))
        assert status == 400 and reason(body) == "CARD_LOST", body
        assert member not in str(body)
        status, body = await call(s, "POST", f"{base}/v1/appointments", booking(card["cardNumber"], slots[1]))
        assert status == 400 and reason(body) == "CARD_LOST", body
        assert await ledger_totals(stack) == ledger_before
        # A retry of the checkout that succeeded before the loss replays it (idempotency holds).
        status, replay = await call(
            s, "POST", f"{base}/v1/checkouts", checkout(card["cardNumber"], paid_request_id)
        )
        assert status == 200 and replay == paid

        # The replacement works (its own number and, through it, the old one).
        status, body = await call(
            s, "POST", f"{base}/v1/{card['name']}:replace", {"requestId": str(uuid.uuid4())}
        )
        assert status == 200, body
        new_card = body["newCard"]
        status, body = await call(s, "POST", f"{base}/v1/checkouts", checkout(new_card["cardNumber"]))
        assert status == 200 and body["checkout"]["member"] == member, body
        status, body = await call(
            s, "POST", f"{base}/v1/appointments", booking(new_card["cardNumber"], slots[1])
        )
        assert status == 200, body

        # Frozen, then closed: refused with the state.
        status, body = await call(
            s,
            "POST",
            f"{base}/v1/{new_card['name']}:freeze",
            {"reason": "dispute", "requestId": str(uuid.uuid4())},
        )
        assert status == 200, body
        status, body = await call(s, "POST", f"{base}/v1/checkouts", checkout(new_card["cardNumber"]))
        assert status == 400 and reason(body) == "CARD_FROZEN", body
        status, body = await call(
            s, "POST", f"{base}/v1/appointments", booking(new_card["cardNumber"], slots[2])
        )
        assert status == 400 and reason(body) == "CARD_FROZEN", body
        status, body = await call(
            s, "POST", f"{base}/v1/{new_card['name']}:close", {"requestId": str(uuid.uuid4())}
        )
        assert status == 200 and body["card"]["state"] == "CARD_STATE_CLOSED", body
        ledger_before = await ledger_totals(stack)
        status, body = await call(s, "POST", f"{base}/v1/checkouts", checkout(new_card["cardNumber"]))
        assert status == 400 and reason(body) == "CARD_CLOSED", body
        status, body = await call(
            s, "POST", f"{base}/v1/appointments", booking(new_card["cardNumber"], slots[3])
        )
        assert status == 400 and reason(body) == "CARD_CLOSED", body
        assert await ledger_totals(stack) == ledger_before
