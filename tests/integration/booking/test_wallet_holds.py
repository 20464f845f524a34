"""Appointments' wallet holds against the real wallet service, in-process, over real gRPC,
PostgreSQL and NATS: a deposit or package sessions authorised with the booking (as the booking
service itself, whoever booked), refusals and an unreachable wallet failing the booking with
nothing written, a hold of a rolled-back booking voided, and settlements (void on cancel,
capture per policy on a late cancel / no-show, capture or release on completion) carried out by
the jobs step exactly once, with a permanent wallet refusal recorded and not retried.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import grpc
import jwt
import pytest
from google.rpc import error_details_pb2, status_pb2
from peony.booking.v1 import appointments_pb2
from peony.booking.v1 import booking_service_pb2 as pb
from peony.wallet.v1 import checkout_pb2, ledger_pb2, packages_pb2
from peony.wallet.v1 import wallet_service_pb2 as wpb
from peony.wallet.v1 import wallet_service_pb2_grpc as wpb_grpc
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from cli.devstack import free_port
from kit.auth import mint_dev_token
from kit.config import load_config, to_async_url
from kit.db import session_factory
from kit.errors import Aborted, DomainError
from kit.service_auth import ServiceCredentialError, ServiceCredentials
from kit.uow import UnitOfWorkFactory
from services.booking.adapters.wallet_client import WalletClient
from services.booking.entrypoints.jobs import STEPS
from services.booking.service_layer import appointments as appts
from services.booking.service_layer import holds
from services.booking.service_layer.unit_of_work import BookingUnitOfWork
from services.wallet.entrypoints.app import build as build_wallet
from tests.support.booking import booking_uows, md, register_members, rid, running_booking, scalar, stamp
from tests.support.wallet import seed_stores

pytestmark = pytest.mark.integration
STORE = "s1"
PIN = "204816"
AUTHORIZED = appointments_pb2.APPOINTMENT_HOLD_STATE_AUTHORIZED
CAPTURED = appointments_pb2.APPOINTMENT_HOLD_STATE_CAPTURED
RELEASED = appointments_pb2.APPOINTMENT_HOLD_STATE_RELEASED
EXPIRED = appointments_pb2.APPOINTMENT_HOLD_STATE_EXPIRED


def error_info(err: grpc.aio.AioRpcError) -> error_details_pb2.ErrorInfo:
    raw = dict(err.trailing_metadata() or ()).get("grpc-status-details-bin")
    for any_ in status_pb2.Status.FromString(raw).details:
        info = error_details_pb2.ErrorInfo()
        if any_.Unpack(info):
            return info
    return error_details_pb2.ErrorInfo()


def zone_at_noon() -> str:
    """A fixed-offset zone where it is about noon now, so near-term slots are in working hours."""
    offset = 12 - datetime.now(UTC).hour
    offset = offset - 24 if offset > 14 else offset + 24 if offset < -12 else offset
    return f"Etc/GMT{-offset:+d}" if offset else "Etc/GMT"


def slot(after: timedelta) -> datetime:
    at = datetime.now(UTC) + after
    return at.replace(minute=at.minute - at.minute % 15, second=0, microsecond=0) + timedelta(minutes=15)


def deposit(amount: int = 5_000, pin: str = PIN) -> appointments_pb2.WalletHoldSpec:
    return appointments_pb2.WalletHoldSpec(
        deposit=appointments_pb2.DepositHold(amount_minor=amount), payment_pin=pin
    )


def sessions(card: str, n: int = 1) -> appointments_pb2.WalletHoldSpec:
    return appointments_pb2.WalletHoldSpec(
        package_session=appointments_pb2.PackageSessionHold(
            package=card, service="services/facial", sessions=n
        )
    )


class Env:
    def __init__(self, wallet, booking, wallet_engine, booking_engine, uows, down_uows):
        self.wallet, self.booking = wallet, booking
        self.wallet_engine, self.booking_engine = wallet_engine, booking_engine
        self.uows = uows  # booking units of work with a wallet client, for the service layer and jobs
        self.down_uows = down_uows  # ... whose wallet is unreachable

    async def open_tenant(self) -> tuple[str, str, str]:
        """A tenant with a store, a facial and a beautician; a member with 100_000 of stored value,
        a PIN and a card of 5 facials. Returns (tenant, member id, card name)."""
        tenant, member = f"h-{uuid.uuid4().hex[:10]}", str(uuid.uuid4())
        hours = [{"day": d, "start": "06:00", "end": "22:00"} for d in range(1, 8)]

        async def seed(uow: BookingUnitOfWork) -> None:
            await register_members(uow, tenant, member)
            await uow.catalog.put_store_zone(STORE, zone_at_noon())
            await uow.catalog.add_service(
                service_id="facial",
                display_name="Facial",
                duration_minutes=60,
                list_price_minor=28_800,
                currency_code="CNY",
            )
            await uow.catalog.add_staff(
                store_id=STORE, staff_id="anna", display_name="Anna", weekly_hours=hours
            )

        await self.uows.run(tenant, seed)
        async with self.wallet_engine.begin() as conn:
            await conn.execute(
                text(
                    "INSERT INTO member_directory (tenant_id, member_id, home_store_id, tier_id,"
                    " discount_bps, points_multiplier_permille, registered_time)"
                    " VALUES (:t, :m, 's1', 'regular', 0, 1000, now())"
                ),
                {"t": tenant, "m": member},
            )
            await seed_stores(conn, tenant)
        w, admin = self.wallet, md(tenant)
        await w.TopUp(
            wpb.TopUpRequest(
                member=f"members/{member}",
                amount_minor=100_000,
                tender=ledger_pb2.TENDER_CASH,
                store=f"stores/{STORE}",
                request_id=rid(),
            ),
            metadata=admin,
        )
        await w.SetPaymentPin(
            wpb.SetPaymentPinRequest(member=f"members/{member}", pin=PIN, request_id=rid()), metadata=admin
        )
        await w.CreatePackageProduct(
            wpb.CreatePackageProductRequest(
                package_product_id="facial-5",
                package_product=packages_pb2.PackageProduct(
                    display_name="Facial x5",
                    price_minor=100_000,
                    items=[
                        packages_pb2.PackageItem(
                            service="services/facial", sessions=5, list_price_minor=25_000
                        )
                    ],
                ),
                request_id=rid(),
            ),
            metadata=admin,
        )
        sold = await w.SellPackage(
            wpb.SellPackageRequest(
                member=f"members/{member}",
                product="packageProducts/facial-5",
                store=f"stores/{STORE}",
                tenders=[checkout_pb2.TenderAmount(tender=ledger_pb2.TENDER_CASH, amount_minor=100_000)],
                request_id=rid(),
            ),
            metadata=admin,
        )
        return tenant, member, sold.member_package.name

    async def book(self, tenant: str, member: str, start: datetime, hold, *, metadata=None, request_id=None):
        return await self.booking.BookAppointment(
            pb.BookAppointmentRequest(
                member=f"members/{member}",
                store=f"stores/{STORE}",
                services=["services/facial"],
                start_time=stamp(start),
                channel=appointments_pb2.BOOKING_CHANNEL_STORE,
                wallet_hold=hold,
                request_id=request_id or rid(),
            ),
            metadata=metadata or md(tenant),
            timeout=60,
        )

    async def refused(self, tenant: str, member: str, start: datetime, hold) -> tuple:
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await self.book(tenant, member, start, hold)
        info = error_info(err.value)
        return err.value.code(), info.reason, dict(info.metadata)

    async def wallet_of(self, tenant: str, member: str):
        return (
            await self.wallet.GetWallet(
                wpb.GetWalletRequest(name=f"members/{member}/wallet"), metadata=md(tenant)
            )
        ).wallet

    async def hold(self, tenant: str, name: str) -> ledger_pb2.Hold:
        return (await self.wallet.GetHold(wpb.GetHoldRequest(name=name), metadata=md(tenant))).hold

    async def card(self, tenant: str, name: str) -> packages_pb2.PackageItemBalance:
        listed = await self.wallet.ListMemberPackages(
            wpb.ListMemberPackagesRequest(parent=name.split("/packages/")[0]), metadata=md(tenant)
        )
        return next(c for c in listed.member_packages if c.name == name).items[0]

    async def appointment(self, tenant: str, name: str) -> appointments_pb2.Appointment:
        return (
            await self.booking.GetAppointment(pb.GetAppointmentRequest(name=name), metadata=md(tenant))
        ).appointment

    async def settlements(self, tenant: str) -> list:
        async with self.booking_engine.connect() as conn:
            return list(
                (
                    await conn.execute(
                        text("SELECT * FROM hold_settlements WHERE tenant_id = :t ORDER BY create_time"),
                        {"t": tenant},
                    )
                ).all()
            )

    async def count(self, engine, sql: str, **params) -> int:
        return await scalar(engine, sql, **params)

    async def run_settlements(self, tenant: str, uows=None) -> int:
        """Runs the jobs step (over every tenant); returns how many of `tenant`'s pending
        settlements it ended (done or failed)."""
        pending = {s.hold_id for s in await self.settlements(tenant) if s.state == "pending"}
        await holds.settle_pending(
            self.booking_engine, uows or self.uows, datetime.now(UTC) + timedelta(seconds=1)
        )
        return sum(1 for s in await self.settlements(tenant) if s.hold_id in pending and s.state != "pending")

    async def in_uow(self, tenant: str, fn):
        return await self.uows.run(tenant, fn)


@pytest.fixture(scope="module")
async def env(infra):
    wallet_url = to_async_url(await infra.amigrated_database("wallet", "holds_wallet"))
    wallet_runner = await build_wallet(
        load_config(
            "wallet",
            {
                "PEONY_NATS_URL": infra.nats_url,
                "PEONY_SHUTDOWN_GRACE_SECONDS": "2",
                "PEONY_WALLET_DATABASE_URL": wallet_url,
                "PEONY_WALLET_MEMBERS_READ_THROUGH": "off",  # no members service here
                "PEONY_WALLET_GRPC_PORT": "0",
            },
        )
    )
    wallet_port = await wallet_runner.start()
    wallet_engine = create_async_engine(wallet_url)
    wallet_channel = grpc.aio.insecure_channel(f"127.0.0.1:{wallet_port}")
    try:
        async with running_booking(
            infra,
            "holds_booking",
            {
                "PEONY_WALLET_ADDR": f"127.0.0.1:{wallet_port}",
                # the tests run the settlement step themselves
                "PEONY_BOOKING_JOBS_INTERVAL_SECONDS": "3600",
            },
        ) as booking:
            credentials = ServiceCredentials.from_config(booking.config, environ={})
            client = WalletClient(f"127.0.0.1:{wallet_port}", credentials)
            down = WalletClient(f"127.0.0.1:{free_port()}", credentials, deadline_s=1.0, attempts=2)
            try:
                yield Env(
                    wpb_grpc.WalletServiceStub(wallet_channel),
                    booking.stub,
                    wallet_engine,
                    booking.engine,
                    booking_uows(booking.engine, wallet=client),
                    booking_uows(booking.engine, wallet=down),
                )
            finally:
                await client.close()
                await down.close()
    finally:
        await wallet_channel.close()
        await wallet_runner.stop()
        await wallet_engine.dispose()


# --- authorising with the booking ----------------------------------------------------------------


async def test_a_deposit_is_held_with_the_booking_and_released_on_a_free_cancel(env: Env):
    tenant, member, _ = await env.open_tenant()
    start = slot(timedelta(days=1))
    request_id = rid()
    booked = await env.book(tenant, member, start, deposit(), request_id=request_id)
    # a retry of the booking replays it: one appointment, one hold
    assert await env.book(tenant, member, start, deposit(), request_id=request_id) == booked
    a = booked.appointment
    h = a.wallet_hold
    assert (h.state, h.amount_minor, h.currency_code, h.package) == (AUTHORIZED, 5_000, "CNY", "")
    held = await env.hold(tenant, h.hold)
    assert held.reference == a.name and held.store == f"stores/{STORE}" and held.member == f"members/{member}"
    # expires hold_grace_hours (48) after the appointment's end
    assert held.expire_time.ToDatetime(UTC) == a.end_time.ToDatetime(UTC) + timedelta(hours=48)
    assert (await env.wallet_of(tenant, member)).held_minor == 5_000
    assert (
        await env.count(env.wallet_engine, "SELECT count(*) FROM holds WHERE tenant_id = :t", t=tenant) == 1
    )

    cancelled = await env.booking.CancelAppointment(
        pb.CancelAppointmentRequest(name=a.name, request_id=rid()), metadata=md(tenant)
    )
    assert not cancelled.appointment.late_cancel
    assert cancelled.appointment.wallet_hold.state == RELEASED  # decided in the cancel...
    assert (await env.hold(tenant, h.hold)).state == ledger_pb2.HOLD_STATE_AUTHORIZED  # ...done by the job
    [s] = await env.settlements(tenant)
    assert (s.action, s.reason, s.state) == ("void", "cancel", "pending")
    assert await env.run_settlements(tenant) == 1
    assert (await env.hold(tenant, h.hold)).state == ledger_pb2.HOLD_STATE_VOIDED
    assert (await env.wallet_of(tenant, member)).held_minor == 0
    [s] = await env.settlements(tenant)
    assert (s.state, s.outcome, s.attempts) == ("done", "voided", 1)
    assert (await env.appointment(tenant, a.name)).wallet_hold.state == RELEASED
    assert await env.run_settlements(tenant) == 0  # exactly once


async def test_a_member_books_with_a_hold_the_booking_service_places_as_itself(env: Env):
    tenant, member, card = await env.open_tenant()
    member_md = md(tenant, roles=("member",), subject=f"members/{member}")
    # members may not write to the wallet themselves...
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await env.wallet.AuthorizeHold(
            wpb.AuthorizeHoldRequest(
                hold=ledger_pb2.Hold(
                    member=f"members/{member}",
                    store="stores/s1",
                    package=card,
                    service="services/facial",
                    sessions=1,
                ),
                request_id=rid(),
            ),
            metadata=member_md,
        )
    assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED
    # ...but their booking's hold is placed by the booking service
    booked = await env.booking.BookAppointment(
        pb.BookAppointmentRequest(
            member=f"members/{member}",
            store=f"stores/{STORE}",
            services=["services/facial"],
            start_time=stamp(slot(timedelta(days=1))),
            channel=appointments_pb2.BOOKING_CHANNEL_MINI_PROGRAM,
            wallet_hold=sessions(card, 0),  # 0 means 1
            request_id=rid(),
        ),
        metadata=member_md,
    )
    h = booked.appointment.wallet_hold
    assert (h.state, h.package, h.service, h.sessions, h.amount_minor) == (
        AUTHORIZED,
        card,
        "services/facial",
        1,
        0,
    )
    item = await env.card(tenant, card)
    assert (item.sessions_remaining, item.sessions_held) == (5, 1)


async def test_refusals_fail_the_booking_and_write_nothing(env: Env):
    tenant, member, card = await env.open_tenant()
    start = slot(timedelta(days=1))
    refused = "WALLET_HOLD_REFUSED"

    async def nothing_written():
        return (
            await env.count(
                env.booking_engine, "SELECT count(*) FROM appointments WHERE tenant_id = :t", t=tenant
            ),
            await env.count(
                env.booking_engine,
                "SELECT count(*) FROM appointment_resources WHERE tenant_id = :t",
                t=tenant,
            ),
            await env.count(env.wallet_engine, "SELECT count(*) FROM holds WHERE tenant_id = :t", t=tenant),
        )

    before = await nothing_written()
    fpc = grpc.StatusCode.FAILED_PRECONDITION
    code, reason, meta = await env.refused(tenant, member, start, deposit(200_000))
    assert (code, reason, meta["wallet_reason"]) == (fpc, refused, "INSUFFICIENT_BALANCE")
    code, reason, meta = await env.refused(tenant, member, start, deposit(pin="111111"))
    assert (code, reason, meta["wallet_reason"]) == (fpc, refused, "PIN_INCORRECT")
    code, reason, meta = await env.refused(tenant, member, start, deposit(pin=""))
    assert (code, reason, meta["wallet_reason"]) == (fpc, refused, "PIN_REQUIRED")
    code, reason, meta = await env.refused(tenant, member, start, sessions(card, 6))
    assert (code, reason, meta["wallet_reason"]) == (fpc, refused, "NO_SESSIONS_LEFT")
    code, reason, meta = await env.refused(
        tenant, member, start, sessions(card.replace(card.rsplit("/", 1)[1], str(uuid.uuid4())))
    )
    assert (code, reason, meta["wallet_reason"]) == (fpc, refused, "PACKAGE_NOT_FOUND")
    code, reason, _ = await env.refused(tenant, member, start, sessions(f"members/{uuid.uuid4()}/packages/x"))
    assert (code, reason) == (grpc.StatusCode.INVALID_ARGUMENT, "INVALID_ARGUMENT")
    code, reason, _ = await env.refused(tenant, member, start, deposit(0))
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    await env.wallet.FreezePackage(
        wpb.FreezePackageRequest(package=card, request_id=rid()), metadata=md(tenant)
    )
    code, reason, meta = await env.refused(tenant, member, start, sessions(card))
    assert (code, reason, meta["wallet_reason"]) == (fpc, refused, "PACKAGE_FROZEN")
    assert await nothing_written() == before
    # the slot is still free
    assert (await env.book(tenant, member, start, None)).appointment.name


async def test_an_unreachable_wallet_fails_the_booking_with_unavailable(env: Env):
    tenant, member, _ = await env.open_tenant()

    async def book(uow: BookingUnitOfWork):
        return await appts.book_appointment(
            uow,
            member=member,
            store=STORE,
            service_ids=["facial"],
            staff=None,
            start_utc=slot(timedelta(days=1)),
            channel=appointments_pb2.BOOKING_CHANNEL_STORE,
            wallet_hold=deposit(),
            request_key=rid(),
        )

    with pytest.raises(DomainError) as err:
        await env.down_uows.run(tenant, book)
    assert (err.value.code, err.value.reason) == ("UNAVAILABLE", "WALLET_UNAVAILABLE")
    assert (
        await env.count(
            env.booking_engine, "SELECT count(*) FROM appointments WHERE tenant_id = :t", t=tenant
        )
        == 0
    )


async def test_the_hold_of_a_booking_that_rolls_back_is_voided(env: Env):
    tenant, member, _ = await env.open_tenant()

    async def book_then_fail(uow: BookingUnitOfWork):
        await appts.book_appointment(
            uow,
            member=member,
            store=STORE,
            service_ids=["facial"],
            staff=None,
            start_utc=slot(timedelta(days=1)),
            channel=appointments_pb2.BOOKING_CHANNEL_STORE,
            wallet_hold=deposit(),
            request_key=rid(),
        )
        raise Aborted("something after the hold failed")

    with pytest.raises(Aborted):
        await env.uows.run(tenant, book_then_fail)
    async with env.wallet_engine.connect() as conn:
        states = (
            (await conn.execute(text("SELECT state FROM holds WHERE tenant_id = :t"), {"t": tenant}))
            .scalars()
            .all()
        )
    assert states == ["voided"]
    assert (await env.wallet_of(tenant, member)).held_minor == 0
    assert (
        await env.count(
            env.booking_engine, "SELECT count(*) FROM appointments WHERE tenant_id = :t", t=tenant
        )
        == 0
    )


# --- settling ------------------------------------------------------------------------------------


async def test_a_late_cancel_forfeits_the_deposit_but_not_the_sessions(env: Env):
    tenant, member, card = await env.open_tenant()
    with_deposit = (await env.book(tenant, member, slot(timedelta(hours=1)), deposit())).appointment
    with_sessions = (await env.book(tenant, member, slot(timedelta(hours=2)), sessions(card, 2))).appointment
    for a in (with_deposit, with_sessions):
        out = await env.booking.CancelAppointment(
            pb.CancelAppointmentRequest(name=a.name, request_id=rid()), metadata=md(tenant)
        )
        assert out.appointment.late_cancel
    assert (await env.appointment(tenant, with_deposit.name)).wallet_hold.state == CAPTURED
    assert (await env.appointment(tenant, with_sessions.name)).wallet_hold.state == RELEASED
    assert await env.run_settlements(tenant) == 2
    assert (await env.hold(tenant, with_deposit.wallet_hold.hold)).state == ledger_pb2.HOLD_STATE_CAPTURED
    assert (await env.hold(tenant, with_sessions.wallet_hold.hold)).state == ledger_pb2.HOLD_STATE_VOIDED
    wallet = await env.wallet_of(tenant, member)
    assert (wallet.principal_minor, wallet.held_minor) == (95_000, 0)
    item = await env.card(tenant, card)
    assert (item.sessions_remaining, item.sessions_held) == (5, 0)
    assert {(s.action, s.reason, s.state) for s in await env.settlements(tenant)} == {
        ("capture", "late_cancel", "done"),
        ("void", "late_cancel", "done"),
    }


async def test_no_show_and_completion_consume_the_sessions(env: Env):
    tenant, member, card = await env.open_tenant()
    no_show = (await env.book(tenant, member, slot(timedelta(hours=1)), sessions(card, 1))).appointment
    done = (await env.book(tenant, member, slot(timedelta(hours=3)), sessions(card, 2))).appointment
    released = (await env.book(tenant, member, slot(timedelta(hours=5)), sessions(card, 1))).appointment
    item = await env.card(tenant, card)
    assert (item.sessions_remaining, item.sessions_held) == (5, 4)

    def ends(a) -> datetime:
        return a.end_time.ToDatetime(UTC)

    await env.in_uow(
        tenant, lambda uow: appts.mark_no_show(uow, no_show.name.split("/")[1], now=ends(no_show))
    )
    await env.in_uow(
        tenant,
        lambda uow: appts.complete_appointment(
            uow, done.name.split("/")[1], capture_hold=True, now=ends(done)
        ),
    )
    await env.in_uow(
        tenant, lambda uow: appts.complete_appointment(uow, released.name.split("/")[1], now=ends(released))
    )
    assert await env.run_settlements(tenant) == 3
    states = {
        a.name: (await env.appointment(tenant, a.name)).wallet_hold.state for a in (no_show, done, released)
    }
    assert states == {no_show.name: CAPTURED, done.name: CAPTURED, released.name: RELEASED}
    item = await env.card(tenant, card)
    assert (item.sessions_remaining, item.sessions_held) == (2, 0)
    # consumed like any consumption: at the appointment's store, with its revenue recognised
    consumed = await env.count(
        env.wallet_engine,
        "SELECT coalesce(sum(sessions), 0) FROM package_consumptions"
        " WHERE tenant_id = :t AND store_used = 's1'",
        t=tenant,
    )
    assert consumed == 3
    assert await env.run_settlements(tenant) == 0


async def test_a_permanent_refusal_is_recorded_and_not_retried(env: Env):
    tenant, member, card = await env.open_tenant()
    a = (await env.book(tenant, member, slot(timedelta(hours=1)), sessions(card, 1))).appointment
    hold_id = a.wallet_hold.hold.split("/")[1]
    # the hold expires in the wallet before booking settles it
    async with env.wallet_engine.begin() as conn:
        await conn.execute(
            text("UPDATE holds SET expire_time = now() - interval '1 second' WHERE hold_id = :h"),
            {"h": hold_id},
        )
    from services.wallet.entrypoints.jobs import WalletJobs
    from services.wallet.service_layer.unit_of_work import WalletUnitOfWork

    wallet_uows = UnitOfWorkFactory(WalletUnitOfWork, session_factory(env.wallet_engine), service="wallet")
    assert await WalletJobs(env.wallet_engine, wallet_uows).expire_holds(datetime.now(UTC)) >= 1
    await env.in_uow(
        tenant, lambda uow: appts.mark_no_show(uow, a.name.split("/")[1], now=a.end_time.ToDatetime(UTC))
    )
    assert await env.run_settlements(tenant) == 1
    [s] = await env.settlements(tenant)
    assert (s.action, s.state, s.outcome) == ("capture", "failed", "expired")
    assert "HOLD_NOT_AUTHORIZED" in s.last_error
    assert (await env.appointment(tenant, a.name)).wallet_hold.state == EXPIRED
    assert await env.run_settlements(tenant) == 0  # not retried
    item = await env.card(tenant, card)
    assert (item.sessions_remaining, item.sessions_held) == (5, 0)


async def test_an_unreachable_wallet_is_retried_later(env: Env):
    tenant, member, _ = await env.open_tenant()
    a = (await env.book(tenant, member, slot(timedelta(days=1)), deposit())).appointment
    await env.booking.CancelAppointment(
        pb.CancelAppointmentRequest(name=a.name, request_id=rid()), metadata=md(tenant)
    )
    assert await env.run_settlements(tenant, env.down_uows) == 0
    [s] = await env.settlements(tenant)
    assert (s.state, s.attempts) == ("pending", 1) and s.next_attempt_at > datetime.now(UTC)
    assert s.last_error
    # not due yet; once due, the reachable wallet settles it
    assert await env.run_settlements(tenant) == 0
    async with env.booking_engine.begin() as conn:
        await conn.execute(
            text("UPDATE hold_settlements SET next_attempt_at = now() WHERE tenant_id = :t"), {"t": tenant}
        )
    assert await env.run_settlements(tenant) == 1
    assert (await env.hold(tenant, a.wallet_hold.hold)).state == ledger_pb2.HOLD_STATE_VOIDED


async def test_settle_is_decided_once_and_the_step_is_registered(env: Env):
    tenant, member, _ = await env.open_tenant()
    a = (await env.book(tenant, member, slot(timedelta(days=1)), deposit())).appointment
    appointment_id = a.name.split("/")[1]

    async def settle_twice(uow: BookingUnitOfWork) -> None:
        await holds.settle(uow, appointment_id, capture=True, reason="complete")
        await holds.settle(uow, appointment_id, capture=False, reason="cancel")

    await env.in_uow(tenant, settle_twice)
    [s] = await env.settlements(tenant)
    assert (s.action, s.reason) == ("capture", "complete")
    assert holds.settle_pending in dict(STEPS).values()
    # without a hold, settle does nothing
    b = (await env.book(tenant, member, slot(timedelta(days=2)), None)).appointment
    await env.in_uow(
        tenant, lambda uow: holds.settle(uow, b.name.split("/")[1], capture=True, reason="no_show")
    )
    assert len(await env.settlements(tenant)) == 1


# --- service credentials -------------------------------------------------------------------------


def test_service_credentials_mint_per_tenant_or_read_the_mounted_file(tmp_path):
    config = load_config("booking", {"PEONY_BOOKING_DATABASE_URL": "postgresql://x/y"})
    minted = ServiceCredentials.from_config(config, environ={})
    claims = jwt.decode(minted.token("t1"), options={"verify_signature": False})
    assert (claims["tenant"], claims["roles"], claims["sub"]) == ("t1", ["service"], "services/booking")
    assert claims["exp"] - claims["iat"] <= 300
    assert minted.token("t1") == minted.token("t1") and minted.token("t2") != minted.token("t1")

    one = mint_dev_token(tenant="t1", subject="services/booking", roles=["service"])
    path = tmp_path / "token"
    path.write_text(one + "\n")
    from_file = ServiceCredentials.from_config(config, environ={"PEONY_SERVICE_TOKEN_FILE": str(path)})
    assert from_file.token("t1") == one
    with pytest.raises(ServiceCredentialError):
        from_file.token("t2")  # a token is only ever sent for its own tenant
    path.write_text(json.dumps({"t1": one, "t2": "token-of-t2"}))
    assert from_file.token("t2") == "token-of-t2"
    no_secret = ServiceCredentials("booking", auth=None)
    with pytest.raises(ServiceCredentialError):
        no_secret.token("t1")
    assert ZoneInfo(zone_at_noon())  # the helper's zones exist


async def reschedule(env: Env, tenant: str, name: str, start: datetime, **fields):
    return (
        await env.booking.RescheduleAppointment(
            pb.RescheduleAppointmentRequest(name=name, start_time=stamp(start), request_id=rid(), **fields),
            metadata=md(tenant),
            timeout=60,
        )
    ).appointment


async def hold_events(env: Env, tenant: str) -> int:
    return await env.count(
        env.wallet_engine,
        "SELECT count(*) FROM outbox WHERE tenant_id = :t AND event_type = 'peony.wallet.v1.HoldExtended'",
        t=tenant,
    )


async def test_a_reschedule_moves_the_hold_with_it_without_needing_the_value_twice(env: Env):
    tenant, member, card = await env.open_tenant()
    # Every session of the card, and every fen of stored value, is held: a hold that had to be
    # authorised again before the old one is voided could not be placed.
    s = (await env.book(tenant, member, slot(timedelta(days=1)), sessions(card, 5))).appointment
    d = (await env.book(tenant, member, slot(timedelta(days=1, hours=2)), deposit(100_000))).appointment
    assert (await env.card(tenant, card)).sessions_held == 5
    assert (await env.wallet_of(tenant, member)).held_minor == 100_000
    # the booking tells the wallet the day the sessions are for: the appointment's start
    assert (await env.hold(tenant, s.wallet_hold.hold)).use_time == s.start_time
    for a in (s, d):
        old_expiry = (await env.hold(tenant, a.wallet_hold.hold)).expire_time.ToDatetime(UTC)
        # earlier: the hold already lasts long enough, its expiry stays (a session hold's day of
        # use still moves with the appointment: a time card's daily cap counts it on that day)
        earlier = await reschedule(env, tenant, a.name, a.start_time.ToDatetime(UTC) - timedelta(hours=1))
        assert earlier.wallet_hold == a.wallet_hold
        kept = await env.hold(tenant, a.wallet_hold.hold)
        assert kept.expire_time.ToDatetime(UTC) == old_expiry
        if a is s:
            assert kept.use_time == earlier.start_time
        # four days later, past the hold's expiry: the same hold, extended in place, no PIN asked
        moved = await reschedule(env, tenant, a.name, a.start_time.ToDatetime(UTC) + timedelta(days=4))
        assert moved.wallet_hold.hold == a.wallet_hold.hold and moved.wallet_hold.state == AUTHORIZED
        held = await env.hold(tenant, a.wallet_hold.hold)
        assert held.state == ledger_pb2.HOLD_STATE_AUTHORIZED
        assert held.expire_time.ToDatetime(UTC) == moved.end_time.ToDatetime(UTC) + timedelta(hours=48)
        if a is s:
            assert held.use_time == moved.start_time
        assert (await env.appointment(tenant, a.name)).wallet_hold == moved.wallet_hold
    assert (await env.card(tenant, card)).sessions_held == 5
    assert (await env.wallet_of(tenant, member)).held_minor == 100_000
    assert await env.settlements(tenant) == []  # nothing was voided: nothing to settle
    assert await hold_events(env, tenant) == 2

    # A hold the wallet no longer holds (voided meanwhile) fails the reschedule; nothing moves.
    await env.wallet.VoidHold(
        wpb.VoidHoldRequest(name=d.wallet_hold.hold, reason="test", request_id=rid()), metadata=md(tenant)
    )
    before = await env.appointment(tenant, d.name)
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await reschedule(env, tenant, d.name, before.start_time.ToDatetime(UTC) + timedelta(days=1))
    assert (err.value.code(), error_info(err.value).reason) == (
        grpc.StatusCode.FAILED_PRECONDITION,
        "WALLET_HOLD_REFUSED",
    )
    assert dict(error_info(err.value).metadata)["wallet_reason"] == "HOLD_NOT_AUTHORIZED"
    assert await env.appointment(tenant, d.name) == before


async def test_extend_hold_refuses_bad_requests_and_writes_nothing(env: Env):
    tenant, member, card = await env.open_tenant()
    a = (await env.book(tenant, member, slot(timedelta(days=1)), sessions(card, 1))).appointment
    name = a.wallet_hold.hold
    expiry = (await env.hold(tenant, name)).expire_time.ToDatetime(UTC)
    now = datetime.now(UTC)

    def extend(hold=name, to: datetime | None = expiry + timedelta(days=1), metadata=None):
        request = wpb.ExtendHoldRequest(name=hold, request_id=rid())
        if to is not None:
            request.expire_time.FromDatetime(to)
        return env.wallet.ExtendHold(request, metadata=metadata or md(tenant))

    for call, code, reason in (
        (extend(to=None), grpc.StatusCode.INVALID_ARGUMENT, None),
        (extend(to=now - timedelta(minutes=1)), grpc.StatusCode.INVALID_ARGUMENT, None),
        (extend(to=now + timedelta(days=91)), grpc.StatusCode.INVALID_ARGUMENT, None),
        (extend(hold="holds/nope"), grpc.StatusCode.INVALID_ARGUMENT, None),
        (extend(hold=f"holds/{uuid.uuid4()}"), grpc.StatusCode.NOT_FOUND, "HOLD_NOT_FOUND"),
        (
            extend(metadata=md(tenant, ("member",), subject=f"members/{member}")),
            grpc.StatusCode.PERMISSION_DENIED,
            None,
        ),
        (
            extend(metadata=md(tenant, ("front_desk",), stores=["s2"])),
            grpc.StatusCode.PERMISSION_DENIED,
            "STORE_OUT_OF_SCOPE",
        ),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await call
        assert err.value.code() == code, err.value
        if reason:
            assert error_info(err.value).reason == reason
    # an earlier expiry changes nothing
    same = (await extend(to=expiry - timedelta(hours=1))).hold
    assert same.expire_time.ToDatetime(UTC) == expiry
    assert (await env.hold(tenant, name)).expire_time.ToDatetime(UTC) == expiry
    assert await hold_events(env, tenant) == 0
    # The expiry job re-checks the expiry under the hold's lock: a hold it listed as due that was
    # extended meanwhile is left alone.
    from services.wallet.service_layer import scheduled
    from services.wallet.service_layer.unit_of_work import WalletUnitOfWork

    wallet_uows = UnitOfWorkFactory(WalletUnitOfWork, session_factory(env.wallet_engine), service="wallet")
    not_yet = expiry - timedelta(seconds=1)
    assert not await wallet_uows.run(
        tenant, lambda uow: scheduled.expire_hold(uow, name.split("/")[1], not_yet)
    )
    assert (await env.hold(tenant, name)).state == ledger_pb2.HOLD_STATE_AUTHORIZED
    # a settled hold cannot be extended
    await env.wallet.VoidHold(
        wpb.VoidHoldRequest(name=name, reason="test", request_id=rid()), metadata=md(tenant)
    )
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await extend()
    assert (err.value.code(), error_info(err.value).reason) == (
        grpc.StatusCode.FAILED_PRECONDITION,
        "HOLD_NOT_AUTHORIZED",
    )
    assert await hold_events(env, tenant) == 0
