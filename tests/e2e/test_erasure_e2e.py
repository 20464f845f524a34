"""Right to erasure across the whole stack, through the REST gateway: a member with a full profile
tops up, sets a PIN, pays, books with notes, files a complaint and gets a welcome SMS; EraseMember
then leaves none of the member's values in a pg_dump of any database (members, wallet, booking,
notify), while the ledger's postings and the finance views are exactly as before and the booking
history remains under the member's opaque id."""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import time
import uuid
from datetime import datetime
from zoneinfo import ZoneInfo

import aiohttp
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from cli.devstack import postgres_bin_dir
from kit.auth import mint_dev_token
from tests.e2e.test_booking_e2e import local_date_in

pytestmark = pytest.mark.e2e
TENANT = "erase-chain"
HEADERS = {
    "Authorization": f"Bearer {mint_dev_token(tenant=TENANT, subject='user:dpo', roles=['hq_admin'])}",
    "Content-Type": "application/json",
}
DATABASES = ("MEMBERS", "WALLET", "BOOKING", "NOTIFY")


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


def daytime_zone() -> str:
    """A zone where it is day now: notify holds messages back in the store's quiet hours (21-09)."""
    for zone in (
        "Asia/Shanghai",
        "Europe/Berlin",
        "America/New_York",
        "America/Los_Angeles",
        "Pacific/Auckland",
    ):
        if 10 <= datetime.now(ZoneInfo(zone)).hour < 20:
            return zone
    return "Asia/Kolkata"


def dump(url: str) -> str:
    """pg_dump of one database, with every bytea value decoded too (protobuf and JSON blobs
    hold their strings verbatim)."""
    out = subprocess.run(
        [str(postgres_bin_dir() / "pg_dump"), "--data-only", url.replace("+asyncpg", "")],
        capture_output=True,
        check=True,
        text=True,
    ).stdout
    decoded = []
    for token in out.replace("\t", "\n").replace(",", "\n").splitlines():
        token = token.strip('{}"')
        if token.startswith("\\\\x"):
            with contextlib.suppress(ValueError):
                decoded.append(bytes.fromhex(token[3:]).decode("utf-8", "replace"))
    return out + "\n".join(decoded)


def found_in_dumps(stack, values: list[str]) -> dict[str, list[str]]:
    found = {}
    for db in DATABASES:
        text_ = dump(stack.env[f"PEONY_{db}_DATABASE_URL"])
        hits = [v for v in values if v in text_]
        if hits:
            found[db] = hits
    return found


async def _found_async(stack, values: list[str], database: str, value: str) -> dict[str, list[str]] | None:
    """The dumps' findings once `value` is in `database` (None until then)."""
    found = found_in_dumps(stack, values)
    return found if value in found.get(database, []) else None


async def ledger_totals(stack) -> list[tuple]:
    engine = create_async_engine(stack.env["PEONY_WALLET_DATABASE_URL"])
    try:
        async with engine.connect() as conn:
            return [
                tuple(r)
                for r in (
                    await conn.execute(
                        text(
                            "SELECT p.account_id::text, p.unit, sum(p.amount), count(*), a.balance"
                            " FROM postings p JOIN accounts a USING (tenant_id, account_id)"
                            " WHERE p.tenant_id = :t GROUP BY 1, 2, a.balance ORDER BY 1, 2"
                        ),
                        {"t": TENANT},
                    )
                ).all()
            ]
    finally:
        await engine.dispose()


async def test_erasure_leaves_no_value_in_any_database_and_keeps_the_money(stack):
    base = stack.gateway_url
    tag = uuid.uuid4().hex[:6]
    store_id = f"er-{tag}"
    store = f"stores/{store_id}"
    phone = f"1357{int(tag, 16) % 10_000_000:07d}"
    name = f"Quinn Erasable {tag}"
    email = f"quinn.{tag}@example.org"
    id_number = f"ID-{tag}-7788"
    care_note = f"latex allergy {tag}"
    appointment_note = f"call {phone} before, Quinn prefers room 2"
    complaint_text = f"{name} says the towel was cold"
    values = [phone, name, email, "1983-04-05", id_number, care_note, appointment_note, complaint_text]
    values += [phone[-4:] + tag]  # (not stored anywhere: a control that the search itself is sound)

    async with aiohttp.ClientSession() as s:
        status, body = await call(
            s,
            "POST",
            f"{base}/v1/stores?storeId={store_id}&requestId={uuid.uuid4()}",
            {"displayName": "Erase store", "timeZone": daytime_zone()},
        )
        assert status == 200, body
        status, body = await call(
            s,
            "POST",
            f"{base}/v1/members",
            {
                "member": {
                    "displayName": name,
                    "phone": phone,
                    "email": email,
                    "birthday": "1983-04-05",
                    "idNumber": id_number,
                    "homeStore": store,
                    "careProfile": {"allergies": [care_note]},
                    "consent": {"marketingSms": True},
                },
                "requestId": str(uuid.uuid4()),
            },
        )
        assert status == 200, body
        member = body["member"]["name"]

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
            {"pin": "246810", "requestId": str(uuid.uuid4())},
        )
        assert status == 200, body
        status, body = await call(
            s,
            "POST",
            f"{base}/v1/checkouts",
            {
                "member": member,
                "store": store,
                "lines": [
                    {"item": "services/facial", "category": "care", "quantity": 1, "listPriceMinor": "30000"}
                ],
                "storedValueMinor": "30000",
                "paymentPin": "246810",
                "requestId": str(uuid.uuid4()),
            },
        )
        assert status == 200, body

        service_id = f"facial-{tag}"
        status, body = await call(
            s,
            "POST",
            f"{base}/v1/services?serviceId={service_id}&requestId={uuid.uuid4()}",
            {
                "displayName": "Facial",
                "category": "facial",
                "durationMinutes": 60,
                "listPriceMinor": "30000",
                "currencyCode": "CNY",
                "requirements": {"skill": "facial"},
            },
        )
        assert status == 200, body

        async def staff_created():
            status, _ = await call(
                s,
                "POST",
                f"{base}/v1/{store}/staff?staffId=lina&requestId={uuid.uuid4()}",
                {
                    "displayName": "Lina",
                    "skills": ["facial"],
                    "weeklyHours": [
                        {"dayOfWeek": d, "startTime": "09:00", "endTime": "18:00"} for d in range(1, 8)
                    ],
                },
            )
            return status == 200

        assert await eventually(staff_created), "booking never learned about the store"
        day = local_date_in(3)
        status, body = await call(
            s,
            "GET",
            f"{base}/v1/{store}:queryAvailability?startDate={day}&endDate={day}&services=services/{service_id}",
        )
        assert status == 200 and body["slots"], body

        async def booked():
            status, body = await call(
                s,
                "POST",
                f"{base}/v1/appointments",
                {
                    "member": member,
                    "store": store,
                    "services": [f"services/{service_id}"],
                    "startTime": body_slots["slots"][0]["startTime"],
                    "channel": "BOOKING_CHANNEL_STORE",
                    "notes": appointment_note,
                    "requestId": str(uuid.uuid4()),
                },
            )
            return body if status == 200 else None

        body_slots = body
        appointment = (await eventually(booked))["appointment"]["name"]
        status, body = await call(
            s,
            "POST",
            f"{base}/v1/complaints?requestId={uuid.uuid4()}",
            {"member": member, "store": store, "description": complaint_text},
        )
        assert status == 200, body

        async def welcome_sent():
            status, body = await call(s, "GET", f"{base}/v1/messages?recipient={member}")
            return status == 200 and any(
                m.get("trigger", "").endswith("welcome")
                and m["state"] in ("MESSAGE_STATE_SENT", "MESSAGE_STATE_DELIVERED")
                for m in body.get("messages", [])
            )

        assert await eventually(welcome_sent), "notify never sent the welcome message"

        status, liability_before = await call(s, "GET", f"{base}/v1/finance/storedValueLiability")
        assert status == 200, liability_before
        status, points_before = await call(s, "GET", f"{base}/v1/finance/pointsLiability")
        assert status == 200, points_before
        status, wallet_before = await call(s, "GET", f"{base}/v1/{member}/wallet")
        assert status == 200
        ledger_before = await ledger_totals(stack)
        # Before: the copies are there (notes, complaint, the SMS text with the name in notify).
        before = await eventually(lambda: _found_async(stack, values, "NOTIFY", name))
        assert appointment_note in before.get("BOOKING", []) and complaint_text in before.get("BOOKING", [])
        assert name in before.get("NOTIFY", []), before

        status, body = await call(
            s,
            "POST",
            f"{base}/v1/{member}:erase",
            {"reason": "erasure requested by the member, ticket 7", "requestId": str(uuid.uuid4())},
        )
        assert status == 200, body
        assert body["member"]["state"] == "MEMBER_STATE_ERASED"

        async def nothing_left():
            return not found_in_dumps(stack, values)

        assert await eventually(nothing_left), f"still stored: {found_in_dumps(stack, values)}"

        # The money did not move: the same postings, balances and finance views.
        assert await ledger_totals(stack) == ledger_before
        status, liability_after = await call(s, "GET", f"{base}/v1/finance/storedValueLiability")
        assert status == 200
        for key in ("rows", "totalPrincipalMinor", "totalBonusMinor"):
            assert liability_after.get(key) == liability_before.get(key), key
        status, points_after = await call(s, "GET", f"{base}/v1/finance/pointsLiability")
        assert status == 200 and points_after.get("pointsLiability") == points_before.get("pointsLiability")
        status, wallet_after = await call(s, "GET", f"{base}/v1/{member}/wallet")
        assert status == 200
        for key in ("principalMinor", "bonusMinor", "pointsAvailable"):
            assert wallet_after["wallet"].get(key) == wallet_before["wallet"].get(key), key
        assert wallet_after["wallet"].get("pinSet", False) is False  # the PIN (a credential) went
        # The booking history remains, under the member's opaque id, without the notes.
        status, body = await call(s, "GET", f"{base}/v1/{appointment}")
        assert status == 200, body
        assert body["appointment"]["member"] == member and body["appointment"].get("notes", "") == ""
        # The member's record: no personal data, lookups by phone find nobody.
        status, body = await call(s, "GET", f"{base}/v1/{member}")
        assert status == 200 and body["member"]["state"] == "MEMBER_STATE_ERASED"
        assert body["member"].get("displayName", "") == "" and body["member"].get("phone", "") == ""
        status, body = await call(s, "POST", f"{base}/v1/members:findByPhone", {"phone": phone})
        assert status == 404, body
