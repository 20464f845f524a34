"""End to end through the REST gateway: a store created in members (America/New_York) and a member
registered there become known to booking (event-fed projections); the menu and a staff member are
set up, availability is queried and a slot booked and cancelled, all in one trace per request
from the gateway to booking's database and its outbox, with the events on the booking stream."""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import aiohttp
import pytest

from kit.auth import mint_dev_token

pytestmark = pytest.mark.e2e
TENANT = "booking-chain"
HEADERS = {
    "Authorization": f"Bearer {mint_dev_token(tenant=TENANT, subject='user:booking', roles=['hq_admin'])}",
    "Content-Type": "application/json",
}
ZONE = "America/New_York"


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


def local_date_in(days: int) -> date:
    return datetime.now(ZoneInfo(ZONE)).date() + timedelta(days=days)


async def test_book_and_cancel_through_the_gateway(stack):
    base = stack.gateway_url
    store_id = f"ny-{uuid.uuid4().hex[:8]}"
    store = f"stores/{store_id}"
    async with aiohttp.ClientSession() as s:
        status, body = await call(
            s,
            "POST",
            f"{base}/v1/stores?storeId={store_id}&requestId={uuid.uuid4()}",
            {"displayName": "Fifth Avenue", "timeZone": ZONE},
        )
        assert status == 200, body
        status, body = await call(
            s,
            "POST",
            f"{base}/v1/members",
            {
                "member": {"displayName": "Ana", "phone": "13512340000", "homeStore": store},
                "requestId": str(uuid.uuid4()),
            },
        )
        assert status == 200, body
        member = body["member"]["name"]

        service_id = f"facial-{uuid.uuid4().hex[:6]}"
        status, body = await call(
            s,
            "POST",
            f"{base}/v1/services?serviceId={service_id}&requestId={uuid.uuid4()}",
            {
                "displayName": "Hydrating facial",
                "category": "facial",
                "durationMinutes": 60,
                "bufferAfterMinutes": 15,
                "listPriceMinor": "29800",
                "currencyCode": "USD",
                "requirements": {"skill": "facial"},
                "onlineBookable": True,
            },
        )
        assert status == 200, body

        # Booking learns the store's zone from members' StoreCreated: until then NOT_FOUND.
        async def store_known():
            status, _ = await call(
                s,
                "POST",
                f"{base}/v1/{store}/staff?staffId=anna&requestId={uuid.uuid4()}",
                {
                    "displayName": "Anna",
                    "skills": ["facial"],
                    "weeklyHours": [
                        {"dayOfWeek": d, "startTime": "09:00", "endTime": "18:00"} for d in range(1, 8)
                    ],
                },
            )
            return status == 200

        assert await eventually(store_known), "booking never learned about the store"

        day = local_date_in(2)
        status, body = await call(
            s,
            "GET",
            f"{base}/v1/{store}:queryAvailability?startDate={day}&endDate={day}"
            f"&services=services/{service_id}",
        )
        assert status == 200, body
        assert body["timeZone"] == ZONE
        first = body["slots"][0]
        assert first["localStart"].startswith(f"{day}T09:00"), first
        expected_utc = datetime(day.year, day.month, day.day, 9, tzinfo=ZoneInfo(ZONE)).astimezone(
            ZoneInfo("UTC")
        )
        assert first["startTime"] == expected_utc.strftime("%Y-%m-%dT%H:%M:%SZ")

        booking_request = {
            "member": member,
            "store": store,
            "services": [f"services/{service_id}"],
            "startTime": first["startTime"],
            "channel": "BOOKING_CHANNEL_STORE",
            "requestId": str(uuid.uuid4()),
        }
        status, booked = await call(s, "POST", f"{base}/v1/appointments", booking_request)
        assert status == 200, booked
        appointment = booked["appointment"]["name"]
        assert booked["appointment"]["state"] == "APPOINTMENT_STATE_BOOKED"
        assert booked["appointment"]["services"][0]["staff"] == f"{store}/staff/anna"

        # A retry returns the same appointment; another member for the same slot loses it (a
        # member nobody registered is not booked at all).
        status, again = await call(s, "POST", f"{base}/v1/appointments", booking_request)
        assert status == 200 and again["appointment"]["name"] == appointment
        status, body = await call(
            s,
            "POST",
            f"{base}/v1/appointments",
            {**booking_request, "member": f"members/{uuid.uuid4()}", "requestId": str(uuid.uuid4())},
        )
        assert status == 404 and body["error"]["details"][0]["reason"] == "MEMBER_NOT_FOUND", body
        status, body = await call(
            s,
            "POST",
            f"{base}/v1/members",
            {
                "member": {"displayName": "Bo", "phone": "13512340001", "homeStore": store},
                "requestId": str(uuid.uuid4()),
            },
        )
        assert status == 200, body
        status, lost = await call(
            s,
            "POST",
            f"{base}/v1/appointments",
            {**booking_request, "member": body["member"]["name"], "requestId": str(uuid.uuid4())},
        )
        assert status == 409, lost  # ABORTED
        assert lost["error"]["status"] == "ABORTED"
        assert lost["error"]["details"][0]["reason"] == "SLOT_TAKEN"

        status, body = await call(
            s,
            "POST",
            f"{base}/v1/{appointment}:cancel",
            {"reason": "plans changed", "requestId": str(uuid.uuid4())},
        )
        assert status == 200, body
        assert body["appointment"]["state"] == "APPOINTMENT_STATE_CANCELLED"

        # The freed slot is bookable again.
        status, body = await call(
            s, "POST", f"{base}/v1/appointments", {**booking_request, "requestId": str(uuid.uuid4())}
        )
        assert status == 200, body

    # One trace per request: gateway -> booking -> its database and outbox -> the relay's publish.
    def booked_trace():
        for root in stack.otlp.spans():
            if not (
                root.service_name == "peony-gateway"
                and root.kind == "SERVER"
                and root.attributes.get("http.route", "").endswith("/v1/appointments")
            ):
                continue
            trace = stack.otlp.trace(root.trace_id)
            kinds = {(s.service_name, s.kind) for s in trace}
            has_db = any(s.service_name == "peony-booking" and s.attributes.get("db.system") for s in trace)
            if {("peony-booking", "SERVER"), ("peony-booking", "PRODUCER")} <= kinds and has_db:
                return trace
        return None

    deadline = time.monotonic() + 30
    while not booked_trace() and time.monotonic() < deadline:
        await asyncio.sleep(0.3)
    seen = sorted(
        {(s.service_name, s.kind, s.name) for s in stack.otlp.spans() if "booking" in s.service_name}
    )
    assert booked_trace(), f"no gateway->booking->outbox trace; booking spans seen: {seen}"


async def test_deposit_hold_is_placed_in_the_wallet_and_released_on_cancel(stack):
    """Booking -> wallet over gRPC as the booking service itself: the deposit leaves the member's
    spendable balance with the booking, a wrong PIN refuses the booking (nothing written), and a
    free cancellation gives the deposit back through the durable settlement job."""
    base = stack.gateway_url
    store_id = f"sh-{uuid.uuid4().hex[:8]}"
    store = f"stores/{store_id}"
    async with aiohttp.ClientSession() as s:
        status, body = await call(
            s,
            "POST",
            f"{base}/v1/stores?storeId={store_id}&requestId={uuid.uuid4()}",
            {"displayName": "Jing'an", "timeZone": "Asia/Shanghai"},
        )
        assert status == 200, body
        status, body = await call(
            s,
            "POST",
            f"{base}/v1/members",
            {
                "member": {"displayName": "Lin", "phone": "13612345678", "homeStore": store},
                "requestId": str(uuid.uuid4()),
            },
        )
        assert status == 200, body
        member = body["member"]["name"]

        async def wallet_knows_member():
            status, _ = await call(s, "GET", f"{base}/v1/{member}/wallet")
            return status == 200

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
            {"pin": "135790", "requestId": str(uuid.uuid4())},
        )
        assert status == 200, body

        service_id = f"massage-{uuid.uuid4().hex[:6]}"
        status, body = await call(
            s,
            "POST",
            f"{base}/v1/services?serviceId={service_id}&requestId={uuid.uuid4()}",
            {
                "displayName": "Foot massage",
                "category": "massage",
                "durationMinutes": 45,
                "listPriceMinor": "16800",
                "currencyCode": "CNY",
                "requirements": {"skill": "massage"},
            },
        )
        assert status == 200, body

        async def store_known():
            status, _ = await call(
                s,
                "POST",
                f"{base}/v1/{store}/staff?staffId=wei&requestId={uuid.uuid4()}",
                {
                    "displayName": "Wei",
                    "skills": ["massage"],
                    "weeklyHours": [
                        {"dayOfWeek": d, "startTime": "10:00", "endTime": "22:00"} for d in range(1, 8)
                    ],
                },
            )
            return status == 200

        assert await eventually(store_known), "booking never learned about the store"
        day = datetime.now(ZoneInfo("Asia/Shanghai")).date() + timedelta(days=2)
        status, body = await call(
            s,
            "GET",
            f"{base}/v1/{store}:queryAvailability?startDate={day}&endDate={day}&services=services/{service_id}",
        )
        assert status == 200, body
        slot = body["slots"][0]
        request = {
            "member": member,
            "store": store,
            "services": [f"services/{service_id}"],
            "startTime": slot["startTime"],
            "channel": "BOOKING_CHANNEL_STORE",
            "walletHold": {"deposit": {"amountMinor": "5000", "currencyCode": "CNY"}, "paymentPin": "000000"},
        }

        status, body = await call(
            s, "POST", f"{base}/v1/appointments", {**request, "requestId": str(uuid.uuid4())}
        )
        assert status == 400, body  # FAILED_PRECONDITION
        assert body["error"]["details"][0]["reason"] == "WALLET_HOLD_REFUSED", body
        status, body = await call(s, "GET", f"{base}/v1/appointments?member={member}")
        assert status == 200 and not body.get("appointments"), body

        request["walletHold"]["paymentPin"] = "135790"
        status, body = await call(
            s, "POST", f"{base}/v1/appointments", {**request, "requestId": str(uuid.uuid4())}
        )
        assert status == 200, body
        appointment = body["appointment"]
        assert appointment["walletHold"]["state"] == "APPOINTMENT_HOLD_STATE_AUTHORIZED", appointment
        assert appointment["walletHold"]["amountMinor"] == "5000"
        status, body = await call(s, "GET", f"{base}/v1/{member}/wallet")
        wallet = body["wallet"]
        assert (wallet["heldMinor"], wallet["principalMinor"]) == ("5000", "95000"), wallet

        status, body = await call(
            s, "POST", f"{base}/v1/{appointment['name']}:cancel", {"requestId": str(uuid.uuid4())}
        )
        assert status == 200, body
        assert not body["appointment"].get("lateCancel", False)  # days ahead: free
        assert body["appointment"]["walletHold"]["state"] == "APPOINTMENT_HOLD_STATE_RELEASED", body

        async def deposit_back():
            status, body = await call(s, "GET", f"{base}/v1/{member}/wallet")
            wallet = body.get("wallet", {})
            return wallet if status == 200 and wallet.get("heldMinor", "0") == "0" else None

        wallet = await eventually(deposit_back)
        assert wallet, "the settlement job never voided the hold"
        assert wallet["principalMinor"] == "100000", wallet
