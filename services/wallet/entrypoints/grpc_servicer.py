"""gRPC entrypoint of the wallet: translates requests into handler calls and back.

This class holds the wallet, stored-value, hold and points RPCs; packages, vouchers/rewards/
check-in, checkout/commission and finance live in the mixins it inherits (grpc_*.py). RPCs not
built yet would answer UNIMPLEMENTED from the generated base class (today: none).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import TypeVar

from google.protobuf.message import Message
from peony.wallet.v1 import ledger_pb2, points_pb2, stored_value_pb2
from peony.wallet.v1 import wallet_service_pb2 as pb
from peony.wallet.v1 import wallet_service_pb2_grpc as pb_grpc
from sqlalchemy.ext.asyncio import AsyncEngine

from kit import auth
from kit.auth import current_principal
from kit.errors import AlreadyExists, InvalidArgument, NotFound, Violations
from kit.idempotency import Idempotency
from kit.ids import is_resource_id, is_uuid, new_id, parse_name, parse_path
from kit.pagination import PageTokens, page_size
from kit.proto import ts
from kit.servicer import ServicerKit
from kit.uow import UnitOfWorkFactory
from services.wallet.adapters.repository import StatementRepository, TopUpPlan
from services.wallet.domain import rules
from services.wallet.entrypoints.grpc_checkout import CheckoutRpc
from services.wallet.entrypoints.grpc_finance import FinanceRpc
from services.wallet.entrypoints.grpc_packages import PackagesRpc
from services.wallet.entrypoints.grpc_vouchers import VouchersRpc
from services.wallet.service_layer import packages as pk
from services.wallet.service_layer import points as pts
from services.wallet.service_layer import stored_value as sv
from services.wallet.service_layer.unit_of_work import WalletUnitOfWork

R = TypeVar("R", bound=Message)

_TENDER = {v: k for k, v in sv.TENDER_ENUM.items()}
_SPEND_ORDER = {
    rules.PROPORTIONAL: stored_value_pb2.SPEND_ORDER_PROPORTIONAL,
    rules.PRINCIPAL_FIRST: stored_value_pb2.SPEND_ORDER_PRINCIPAL_FIRST,
    rules.BONUS_FIRST: stored_value_pb2.SPEND_ORDER_BONUS_FIRST,
}
_BONUS_RELEASE = {
    "immediate": stored_value_pb2.BONUS_RELEASE_IMMEDIATE,
    "monthly": stored_value_pb2.BONUS_RELEASE_MONTHLY,
}
_KIND = {
    name.removeprefix("TRANSACTION_KIND_").lower(): value
    for name, value in ledger_pb2.TransactionKind.items()
}
_KIND["transfer"] = ledger_pb2.TRANSACTION_KIND_UNSPECIFIED
# A refund of a checkout is stored apart from a stored-value refund ("refund") but, as
# ledger.proto says, it is a CHECKOUT transaction (its `reverses` names the checkout when it
# mirrors it exactly, and `reference` names the refund).
_KIND["checkout_refund"] = ledger_pb2.TRANSACTION_KIND_CHECKOUT
_HOLD_STATE = {
    "authorized": ledger_pb2.HOLD_STATE_AUTHORIZED,
    "captured": ledger_pb2.HOLD_STATE_CAPTURED,
    "voided": ledger_pb2.HOLD_STATE_VOIDED,
    "expired": ledger_pb2.HOLD_STATE_EXPIRED,
}
_LOT_SOURCE = {
    name.removeprefix("LOT_SOURCE_").lower(): value for name, value in points_pb2.LotSource.items()
}
_LOT_SOURCE_BACK = {v: k for k, v in _LOT_SOURCE.items()}
_EXPIRY = {
    rules.END_OF_MONTH_AFTER_MONTHS: points_pb2.POINTS_EXPIRY_POLICY_END_OF_MONTH_AFTER_MONTHS,
    rules.DAYS: points_pb2.POINTS_EXPIRY_POLICY_DAYS,
    rules.YEAR_END: points_pb2.POINTS_EXPIRY_POLICY_YEAR_END,
    rules.NEVER: points_pb2.POINTS_EXPIRY_POLICY_NEVER,
}


def member_id_of(name: str, field: str) -> str:
    member_id = parse_name(name, "members", uuid=True)
    if member_id is None:
        raise InvalidArgument([(field, "must be a resource name of the form members/{member}")])
    return member_id


def store_id_of(name: str, field: str = "store") -> str:
    store_id = parse_name(name, "stores") if name else None
    if not store_id:
        raise InvalidArgument([(field, "must be a resource name of the form stores/{store}")])
    return store_id


def tender_of(value: int, field: str = "tender") -> str:
    if value not in _TENDER:
        raise InvalidArgument([(field, "must be cash, bank card, WeChat Pay or Alipay")])
    return _TENDER[value]


def wallet_to_proto(s: sv.WalletSnapshot) -> stored_value_pb2.Wallet:
    return stored_value_pb2.Wallet(
        name=f"members/{s.member_id}/wallet",
        currency_code=s.currency,
        principal_minor=s.principal,
        bonus_minor=s.bonus,
        held_minor=s.held,
        locked_bonus_minor=s.locked_bonus,
        points_available=s.points_available,
        points_pending=s.points_pending,
        points_expiring_30d=s.points_expiring,
        pin_set=s.pin_set,
        pin_locked_until=ts(s.pin_locked_until),
    )


def transaction_to_proto(posted, tenant: str) -> ledger_pb2.LedgerTransaction:
    """As ledger.proto documents it: postings on `<kind>:<owner>`, the request and resource."""
    return ledger_pb2.LedgerTransaction(
        name=sv.transaction_name(posted),
        kind=_KIND.get(posted.kind, ledger_pb2.TRANSACTION_KIND_UNSPECIFIED),
        postings=[
            ledger_pb2.Posting(
                account=f"{p.account.kind.code}:{p.account.owner}", amount=p.amount, unit=p.account.unit
            )
            for p in posted.postings
        ],
        member=f"members/{posted.member_id}" if posted.member_id else "",
        store=f"stores/{posted.store_id}" if posted.store_id else "",
        # full resource names, like `name` (a reversal belongs to its original's member)
        reverses=sv.transaction_name(replace(posted, transaction_id=posted.reverses))
        if posted.reverses
        else "",
        reversed_by=sv.transaction_name(replace(posted, transaction_id=posted.reversed_by))
        if posted.reversed_by
        else "",
        request_id=posted.request_id,
        description=posted.description,
        create_time=ts(posted.create_time),
        reference=posted.reference,
    )


def hold_to_proto(h, currency: str) -> ledger_pb2.Hold:
    return ledger_pb2.Hold(
        name=f"holds/{h.hold_id}",
        member=f"members/{h.member_id}",
        amount_minor=h.amount_minor,
        currency_code=currency,
        state=_HOLD_STATE[h.state],
        expire_time=ts(h.expire_time),
        reference=h.reference,
        store=f"stores/{h.store_id}",
        package=f"members/{h.member_id}/packages/{h.package_id}" if h.package_id else "",
        service=h.service or "",
        sessions=h.sessions,
        principal_minor=h.principal_minor,
        bonus_minor=h.bonus_minor,
        captured_minor=h.amount_minor if h.state == "captured" else 0,
        captured_sessions=h.captured_sessions,
        authorize_transaction=f"members/{h.member_id}/transactions/{h.authorize_transaction_id}",
        captured_transaction=f"members/{h.member_id}/transactions/{h.settle_transaction_id}"
        if h.state == "captured"
        else "",
        void_transaction=f"members/{h.member_id}/transactions/{h.settle_transaction_id}"
        if h.state in ("voided", "expired")
        else "",
        create_time=ts(h.create_time),
        update_time=ts(h.update_time),
    )


def lot_to_proto(member_id: str, lot) -> points_pb2.PointLot:
    get = lot.get if isinstance(lot, dict) else lambda k: getattr(lot, k)
    return points_pb2.PointLot(
        name=f"members/{member_id}/pointLots/{get('lot_id')}",
        source=_LOT_SOURCE.get(get("source"), points_pb2.LOT_SOURCE_UNSPECIFIED),
        original=get("original"),
        remaining=get("remaining"),
        earned_time=ts(get("earned_time")),
        expire_time=ts(get("expire_time")),
        pending_until=ts(get("pending_until")),
        reason=get("reason"),
    )


def plan_to_proto(p: TopUpPlan, currency: str) -> stored_value_pb2.TopUpPlan:
    return stored_value_pb2.TopUpPlan(
        name=f"topUpPlans/{p.plan_id}",
        display_name=p.display_name,
        pay_minor=p.pay_minor,
        bonus_minor=p.bonus_minor,
        bonus_release=_BONUS_RELEASE[p.bonus_release],
        release_months=p.release_months,
        active=p.active,
        stores=[f"stores/{s}" for s in p.stores],
        currency_code=currency,
        create_time=ts(p.create_time),
    )


class WalletServicer(
    FinanceRpc,
    PackagesRpc,
    VouchersRpc,
    CheckoutRpc,
    ServicerKit[WalletUnitOfWork],
    pb_grpc.WalletServiceServicer,
):
    def __init__(
        self,
        uows: UnitOfWorkFactory[WalletUnitOfWork],
        engine: AsyncEngine,
        idempotency: Idempotency,
        page_tokens: PageTokens,
    ):
        super().__init__(uows, idempotency, page_tokens)
        self._engine = engine

    async def _check_pin(
        self, member_id: str, pin: str, *, store_id: str | None, store_field: str = "store"
    ) -> None:
        """A separate, committed transaction: a wrong PIN must count even though the call fails.

        The caller's authorization for paying at `store_id` for this member runs first: a caller
        who may not make the payment must not be able to spend (and lock) the member's attempts.
        Then the references are resolved: a payment refused for an unknown member or store is
        refused before any attempt is counted. `store_id` is None only where the call is not
        bound to a store (changing the PIN)."""
        caller = current_principal()
        caller.require(auth.WALLET_WRITE)
        if store_id is not None:
            caller.require_store(f"stores/{store_id}")
        caller.require_member(f"members/{member_id}")

        async def resolve(uow: WalletUnitOfWork) -> None:
            if store_id is not None:
                await uow.stores.require(store_id, store_field)
            await uow.members.require(member_id)

        await self._read(resolve)
        if await self._read(lambda uow: sv.pin_is_plainly_right(uow, member_id, pin)):
            return
        ok = await self._uows.run(caller.tenant, lambda uow: sv.verify_pin(uow, member_id, pin))
        if not ok:
            record = await self._read(lambda uow: uow.pins.get(member_id))
            settings = await self._read(lambda uow: uow.settings.get())
            raise sv.wrong_pin(settings.pin_max_attempts - (record.failed_attempts if record else 0))

    # --- wallet & statement -------------------------------------------------------------------
    async def GetWallet(self, request: pb.GetWalletRequest, context) -> pb.GetWalletResponse:
        name = request.name.removesuffix("/wallet")
        member_id = member_id_of(name, "name")
        caller = current_principal()
        caller.require(auth.WALLET_READ)
        caller.require_member(f"members/{member_id}")

        async def read(uow: WalletUnitOfWork) -> pb.GetWalletResponse:
            await uow.members.require(member_id)
            return pb.GetWalletResponse(wallet=wallet_to_proto(await sv.snapshot(uow, member_id)))

        return await self._read(read)

    async def GetTransaction(self, request: pb.GetTransactionRequest, context) -> pb.GetTransactionResponse:
        parts = request.name.split("/")
        if not parts or parts[-2:-1] != ["transactions"] or not is_uuid(parts[-1]):
            raise InvalidArgument(
                [("name", "must be members/{member}/transactions/{id} or transactions/{id}")]
            )
        caller = current_principal()
        caller.require(auth.WALLET_READ)

        async def read(uow: WalletUnitOfWork):
            try:
                posted = await uow.ledger.get(parts[-1])
            except NotFound:
                raise
            except Exception:  # not a UUID
                raise NotFound(f"{request.name} not found", reason="TRANSACTION_NOT_FOUND") from None
            if len(parts) == 4 and posted.member_id != parts[1]:
                raise NotFound(f"{request.name} not found", reason="TRANSACTION_NOT_FOUND")
            if posted.member_id:
                caller.require_member(f"members/{posted.member_id}")
            return pb.GetTransactionResponse(transaction=transaction_to_proto(posted, caller.tenant))

        return await self._read(read)

    # --- settings -----------------------------------------------------------------------------
    async def GetWalletSettings(self, request, context) -> pb.GetWalletSettingsResponse:
        current_principal().require(auth.WALLET_READ)
        s = await self._read(lambda uow: uow.settings.get())
        return pb.GetWalletSettingsResponse(wallet_settings=self._settings_proto(s))

    @staticmethod
    def _settings_proto(s) -> stored_value_pb2.WalletSettings:
        return stored_value_pb2.WalletSettings(
            name="walletSettings",
            spend_order=_SPEND_ORDER[s.spend_order],
            currency_code=s.currency_code,
            pin_max_attempts=s.pin_max_attempts,
            pin_lockout_minutes=s.pin_lockout_minutes,
            hold_default_ttl_minutes=s.hold_default_ttl_minutes,
        )

    async def UpdateWalletSettings(self, request, context) -> pb.UpdateWalletSettingsResponse:
        caller = current_principal()
        caller.require(auth.WALLET_ADMIN)
        allowed = (
            "spend_order",
            "currency_code",
            "pin_max_attempts",
            "pin_lockout_minutes",
            "hold_default_ttl_minutes",
        )
        paths = list(request.update_mask.paths) or [
            f.name for f, _ in request.wallet_settings.ListFields() if f.name in allowed
        ]
        bad = [p for p in paths if p not in allowed]
        if bad or not paths:
            raise InvalidArgument(
                [("update_mask", f"{p!r} is not a field you can update") for p in bad]
                or [("update_mask", "name at least one field to update")]
            )
        back = {v: k for k, v in _SPEND_ORDER.items()}
        patch = request.wallet_settings

        async def effect(uow: WalletUnitOfWork) -> pb.UpdateWalletSettingsResponse:
            current = await uow.settings.get()
            values = {}
            for path in paths:
                value = getattr(patch, path)
                if path == "spend_order":
                    value = back.get(value, "invalid")
                values[path] = value
            updated = replace(current, **values)
            updated.validate("wallet_settings")
            await uow.settings.save(updated)
            return pb.UpdateWalletSettingsResponse(wallet_settings=self._settings_proto(updated))

        return await self._mutate("UpdateWalletSettings", request, pb.UpdateWalletSettingsResponse, effect)

    # --- PIN and plans ------------------------------------------------------------------------
    async def SetPaymentPin(self, request: pb.SetPaymentPinRequest, context) -> pb.SetPaymentPinResponse:
        member_id = member_id_of(request.member, "member")
        caller = current_principal()
        if request.old_pin:
            await self._check_pin(member_id, request.old_pin, store_id=None)

        async def effect(uow: WalletUnitOfWork) -> pb.SetPaymentPinResponse:
            await sv.set_pin(uow, caller, member_id, request.pin)
            return pb.SetPaymentPinResponse(wallet=wallet_to_proto(await sv.snapshot(uow, member_id)))

        return await self._mutate("SetPaymentPin", request, pb.SetPaymentPinResponse, effect)

    async def CreateTopUpPlan(self, request, context) -> pb.CreateTopUpPlanResponse:
        caller = current_principal()
        caller.require(auth.WALLET_ADMIN)
        p = request.top_up_plan
        v = Violations()
        if request.top_up_plan_id and not is_resource_id(request.top_up_plan_id):
            v.add("top_up_plan_id", "must match [a-z0-9][a-z0-9-]{0,62}")
        v.require("top_up_plan.display_name", p.display_name.strip())
        sv.validate_money(v, "top_up_plan.pay_minor", p.pay_minor)
        if p.bonus_minor < 0 or p.bonus_minor > p.pay_minor:
            v.add("top_up_plan.bonus_minor", "must be within 0..pay_minor")
        release = {v_: k for k, v_ in _BONUS_RELEASE.items()}.get(p.bonus_release, "immediate")
        if release == "monthly" and not 1 <= p.release_months <= 36:
            v.add("top_up_plan.release_months", "must be within 1..36 for monthly release")
        stores = [parse_name(s, "stores") for s in p.stores]
        if any(s is None for s in stores):
            v.add("top_up_plan.stores", "each must be stores/{store}")
        v.raise_if_any()
        plan = TopUpPlan(
            plan_id=request.top_up_plan_id or new_id(),
            display_name=p.display_name.strip(),
            pay_minor=p.pay_minor,
            bonus_minor=p.bonus_minor,
            bonus_release=release,
            release_months=p.release_months if release == "monthly" else 1,
            active=True,
            stores=[s for s in stores if s],
        )

        async def effect(uow: WalletUnitOfWork) -> pb.CreateTopUpPlanResponse:
            await uow.stores.require_all(plan.stores, "top_up_plan.stores")
            settings = await uow.settings.get()
            sv.require_currency(p.currency_code, settings.currency_code, "top_up_plan.currency_code")
            if not await uow.plans.add(plan):
                raise AlreadyExists(f"topUpPlans/{plan.plan_id} already exists", reason="PLAN_EXISTS")
            return pb.CreateTopUpPlanResponse(top_up_plan=plan_to_proto(plan, settings.currency_code))

        return await self._mutate("CreateTopUpPlan", request, pb.CreateTopUpPlanResponse, effect)

    async def ListTopUpPlans(self, request, context) -> pb.ListTopUpPlansResponse:
        caller = current_principal()
        caller.require(auth.WALLET_READ)
        binding = f"{caller.tenant}|plans|{request.store}|{request.show_inactive}"
        size = page_size(request.page_size)
        after = (self._tokens.decode(request.page_token, binding=binding) or {}).get("after")

        async def read(uow: WalletUnitOfWork) -> pb.ListTopUpPlansResponse:
            currency = (await uow.settings.get()).currency_code
            plans = await uow.plans.list(limit=size, after=after)
            token = (
                self._tokens.encode({"after": plans[-1].plan_id}, binding=binding)
                if len(plans) == size
                else ""
            )
            store = parse_name(request.store, "stores") if request.store else None
            shown = [
                p
                for p in plans
                if (request.show_inactive or p.active)
                and (store is None or not p.stores or store in p.stores)
            ]
            return pb.ListTopUpPlansResponse(
                top_up_plans=[plan_to_proto(p, currency) for p in shown], next_page_token=token
            )

        return await self._read(read)

    # --- money movements ----------------------------------------------------------------------
    async def TopUp(self, request: pb.TopUpRequest, context) -> pb.TopUpResponse:
        member_id = member_id_of(request.member, "member")
        store_id = store_id_of(request.store)
        tender = tender_of(request.tender)
        plan_id = parse_name(request.plan, "topUpPlans") or "" if request.plan else ""
        if request.plan and not plan_id:
            raise InvalidArgument([("plan", "must be topUpPlans/{plan}")])
        caller = current_principal()

        async def effect(uow: WalletUnitOfWork) -> pb.TopUpResponse:
            result = await sv.top_up(
                uow,
                caller,
                member_id=member_id,
                store_id=store_id,
                amount=request.amount_minor,
                currency=request.currency_code,
                tender=tender,
                plan_id=plan_id,
            )
            return pb.TopUpResponse(
                transaction=transaction_to_proto(result.transaction, caller.tenant),
                wallet=wallet_to_proto(await sv.snapshot(uow, member_id)),
            )

        return await self._mutate("TopUp", request, pb.TopUpResponse, effect)

    async def RefundStoredValue(self, request, context) -> pb.RefundStoredValueResponse:
        member_id = member_id_of(request.member, "member")
        store_id = store_id_of(request.store)
        tender = tender_of(request.tender)
        caller = current_principal()

        async def effect(uow: WalletUnitOfWork) -> pb.RefundStoredValueResponse:
            result = await sv.refund_stored_value(
                uow, caller, member_id=member_id, store_id=store_id, tender=tender
            )
            return pb.RefundStoredValueResponse(
                transaction=transaction_to_proto(result.transaction, caller.tenant),
                wallet=wallet_to_proto(await sv.snapshot(uow, member_id)),
                principal_refunded_minor=result.principal_refunded,
                bonus_voided_minor=result.bonus_voided + result.scheduled_bonus_voided,
            )

        return await self._mutate("RefundStoredValue", request, pb.RefundStoredValueResponse, effect)

    # --- holds --------------------------------------------------------------------------------
    async def AuthorizeHold(self, request: pb.AuthorizeHoldRequest, context) -> pb.AuthorizeHoldResponse:
        h = request.hold
        member_id = member_id_of(h.member, "hold.member")
        store_id = store_id_of(h.store, "hold.store")
        caller = current_principal()
        # The hold expires exactly when asked (e.g. an appointment's end + grace), within 90 days.
        expire_time = h.expire_time.ToDatetime(UTC) if h.HasField("expire_time") else None
        ttl = 0
        if expire_time is not None:
            ttl = max(1, int((expire_time - datetime.now(UTC)).total_seconds() // 60))
            if expire_time <= datetime.now(UTC):
                raise InvalidArgument([("hold.expire_time", "must be in the future")])
        if h.package or h.service or h.sessions:
            return await self._authorize_session_hold(request, member_id, store_id, ttl, expire_time)
        await self._check_pin(member_id, request.payment_pin, store_id=store_id, store_field="hold.store")

        async def effect(uow: WalletUnitOfWork) -> pb.AuthorizeHoldResponse:
            settings = await uow.settings.get()
            sv.require_currency(h.currency_code, settings.currency_code, "hold.currency_code")
            hold, _ = await sv.authorize_hold(
                uow,
                caller,
                member_id=member_id,
                store_id=store_id,
                amount=h.amount_minor,
                reference=h.reference,
                ttl_minutes=ttl,
                expire_time=expire_time,
            )
            return pb.AuthorizeHoldResponse(
                hold=hold_to_proto(hold, settings.currency_code),
                wallet=wallet_to_proto(await sv.snapshot(uow, member_id)),
            )

        return await self._mutate("AuthorizeHold", request, pb.AuthorizeHoldResponse, effect)

    async def _authorize_session_hold(
        self,
        request: pb.AuthorizeHoldRequest,
        member_id: str,
        store_id: str,
        ttl: int,
        expire_time: datetime | None,
    ) -> pb.AuthorizeHoldResponse:
        """Package sessions: no PIN (the card, not stored value, pays), never with an amount."""
        h = request.hold
        v = Violations()
        ids = parse_path(h.package, "members/{uuid}/packages/{uuid}")
        package_id = ids[1] if ids else ""
        if ids is None:
            v.add("hold.package", "must be members/{member}/packages/{package}")
        elif ids[0] != member_id:
            v.add("hold.package", "must be a card of hold.member")
        if not h.service.startswith("services/") or len(h.service) <= len("services/"):
            v.add("hold.service", "must be a resource name of the form services/{service}")
        if h.sessions <= 0:
            v.add("hold.sessions", "must be greater than zero")
        if h.amount_minor:
            v.add("hold.amount_minor", "a hold reserves stored value or package sessions, never both")
        v.raise_if_any()
        caller = current_principal()

        async def effect(uow: WalletUnitOfWork) -> pb.AuthorizeHoldResponse:
            settings = await uow.settings.get()
            hold, _ = await pk.authorize_session_hold(
                uow,
                caller,
                member_id=member_id,
                package_id=package_id,
                service=h.service,
                sessions=h.sessions,
                store_id=store_id,
                reference=h.reference,
                ttl_minutes=ttl,
                expire_time=expire_time,
            )
            return pb.AuthorizeHoldResponse(
                hold=hold_to_proto(hold, settings.currency_code),
                wallet=wallet_to_proto(await sv.snapshot(uow, member_id)),
            )

        return await self._mutate("AuthorizeHold", request, pb.AuthorizeHoldResponse, effect)

    def _hold_id(self, name: str) -> str:
        hold_id = parse_name(name, "holds", uuid=True)
        if hold_id is None:
            raise InvalidArgument([("name", "must be holds/{hold}")])
        return hold_id

    async def CaptureHold(self, request: pb.CaptureHoldRequest, context) -> pb.CaptureHoldResponse:
        hold_id = self._hold_id(request.name)
        caller = current_principal()

        store_id = store_id_of(request.store) if request.store else ""
        if request.sessions < 0:
            raise InvalidArgument([("sessions", "must not be negative")])

        async def effect(uow: WalletUnitOfWork) -> pb.CaptureHoldResponse:
            held = await uow.holds.get(hold_id)
            if held is not None and held.package_id is None:
                if request.amount_minor and request.amount_minor != held.amount_minor:
                    raise InvalidArgument([("amount_minor", "partial capture is not supported yet; omit it")])
                if request.sessions:
                    raise InvalidArgument([("sessions", "only for a hold of package sessions")])
            if held is not None and held.package_id is not None and request.amount_minor:
                raise InvalidArgument([("amount_minor", "only for a hold of stored value")])
            hold, posted = await sv.capture_hold(
                uow, caller, hold_id, sessions=request.sessions, store_id=store_id
            )
            currency = (await uow.settings.get()).currency_code
            return pb.CaptureHoldResponse(
                hold=hold_to_proto(hold, currency),
                transaction=transaction_to_proto(posted, caller.tenant),
                wallet=wallet_to_proto(await sv.snapshot(uow, hold.member_id)),
            )

        return await self._mutate("CaptureHold", request, pb.CaptureHoldResponse, effect)

    async def VoidHold(self, request: pb.VoidHoldRequest, context) -> pb.VoidHoldResponse:
        hold_id = self._hold_id(request.name)
        caller = current_principal()

        async def effect(uow: WalletUnitOfWork) -> pb.VoidHoldResponse:
            hold, _ = await sv.void_hold(uow, caller, hold_id)
            currency = (await uow.settings.get()).currency_code
            return pb.VoidHoldResponse(
                hold=hold_to_proto(hold, currency),
                wallet=wallet_to_proto(await sv.snapshot(uow, hold.member_id)),
            )

        return await self._mutate("VoidHold", request, pb.VoidHoldResponse, effect)

    async def GetHold(self, request: pb.GetHoldRequest, context) -> pb.GetHoldResponse:
        hold_id = self._hold_id(request.name)
        caller = current_principal()
        caller.require(auth.WALLET_READ)

        async def read(uow: WalletUnitOfWork) -> pb.GetHoldResponse:
            try:
                hold = await uow.holds.get(hold_id)
            except Exception:
                hold = None
            if hold is None:
                raise NotFound(f"holds/{hold_id} not found", reason="HOLD_NOT_FOUND")
            caller.require_member(f"members/{hold.member_id}")
            return pb.GetHoldResponse(hold=hold_to_proto(hold, (await uow.settings.get()).currency_code))

        return await self._read(read)

    # --- points -------------------------------------------------------------------------------
    async def ListPointLots(self, request: pb.ListPointLotsRequest, context) -> pb.ListPointLotsResponse:
        member_id = member_id_of(request.parent, "parent")
        caller = current_principal()
        caller.require(auth.WALLET_READ)
        caller.require_member(f"members/{member_id}")
        size = page_size(request.page_size)
        binding = f"{caller.tenant}|lots|{member_id}|{request.show_empty}"
        after = (self._tokens.decode(request.page_token, binding=binding) or {}).get("after")

        async def read(uow: WalletUnitOfWork) -> pb.ListPointLotsResponse:
            await uow.members.require(member_id)
            rows = [r for r in await uow.lots.for_member(member_id) if after is None or r.lot_id > after]
            rows = [r for r in rows if request.show_empty or r.remaining > 0][:size]
            token = (
                self._tokens.encode({"after": rows[-1].lot_id}, binding=binding) if len(rows) == size else ""
            )
            return pb.ListPointLotsResponse(
                point_lots=[lot_to_proto(member_id, r) for r in rows], next_page_token=token
            )

        return await self._read(read)

    async def GrantPoints(self, request: pb.GrantPointsRequest, context) -> pb.GrantPointsResponse:
        member_id = member_id_of(request.member, "member")
        source = _LOT_SOURCE_BACK.get(request.source, "")
        if source not in ("referral", "activity", "birthday"):
            raise InvalidArgument([("source", "must be REFERRAL, ACTIVITY or BIRTHDAY")])
        caller = current_principal()

        async def effect(uow: WalletUnitOfWork) -> pb.GrantPointsResponse:
            posted, lot = await pts.grant_points(
                uow, caller, member_id=member_id, points=request.points, source=source, reason=request.reason
            )
            return pb.GrantPointsResponse(
                transaction=transaction_to_proto(posted, caller.tenant),
                point_lot=lot_to_proto(member_id, lot),
                wallet=wallet_to_proto(await sv.snapshot(uow, member_id)),
            )

        return await self._mutate("GrantPoints", request, pb.GrantPointsResponse, effect)

    async def AdjustPoints(self, request: pb.AdjustPointsRequest, context) -> pb.AdjustPointsResponse:
        member_id = member_id_of(request.member, "member")
        if request.delta == 0:
            raise InvalidArgument([("delta", "must not be zero")])
        caller = current_principal()

        async def effect(uow: WalletUnitOfWork) -> pb.AdjustPointsResponse:
            lot = None
            if request.delta > 0:
                posted, lot = await pts.grant_points(
                    uow,
                    caller,
                    member_id=member_id,
                    points=request.delta,
                    source="adjustment",
                    reason=request.reason,
                )
            else:
                posted = await pts.deduct_points(
                    uow, caller, member_id=member_id, points=-request.delta, reason=request.reason
                )
            return pb.AdjustPointsResponse(
                transaction=transaction_to_proto(posted, caller.tenant),
                wallet=wallet_to_proto(await sv.snapshot(uow, member_id)),
                point_lot=lot_to_proto(member_id, lot) if lot else None,
            )

        return await self._mutate("AdjustPoints", request, pb.AdjustPointsResponse, effect)

    # --- statement, plan updates, points policy -----------------------------------------------
    async def ListTransactions(
        self, request: pb.ListTransactionsRequest, context
    ) -> pb.ListTransactionsResponse:
        member_id = member_id_of(request.parent, "parent")
        store_id = parse_name(request.store, "stores") if request.store else None
        if request.store and not store_id:
            raise InvalidArgument([("store", "must be stores/{store}")])
        kinds = [k for k, v in _KIND.items() if v in set(request.kinds) and v]
        caller = current_principal()
        caller.require(auth.WALLET_READ)
        caller.require_member(f"members/{member_id}")
        start = request.start_time.ToDatetime(UTC) if request.HasField("start_time") else None
        end = request.end_time.ToDatetime(UTC) if request.HasField("end_time") else None
        binding = f"{caller.tenant}|statement|{member_id}|{store_id}|{start}|{end}|{sorted(kinds)}"
        size = page_size(request.page_size)
        cursor = self._tokens.decode(request.page_token, binding=binding)
        before = (datetime.fromisoformat(cursor["t"]), cursor["id"]) if cursor else None

        async def read(uow: WalletUnitOfWork) -> pb.ListTransactionsResponse:
            await uow.members.require(member_id)
            rows = await StatementRepository(uow.session, uow.tenant).page(
                member_id, limit=size, before=before, store_id=store_id, start=start, end=end, kinds=kinds
            )
            token = ""
            if len(rows) == size:
                token = self._tokens.encode(
                    {"t": rows[-1].create_time.isoformat(), "id": rows[-1].transaction_id}, binding=binding
                )
            return pb.ListTransactionsResponse(
                transactions=[transaction_to_proto(r, caller.tenant) for r in rows], next_page_token=token
            )

        return await self._read(read)

    async def UpdateTopUpPlan(
        self, request: pb.UpdateTopUpPlanRequest, context
    ) -> pb.UpdateTopUpPlanResponse:
        caller = current_principal()
        caller.require(auth.WALLET_ADMIN)
        plan_id = parse_name(request.top_up_plan.name, "topUpPlans")
        if plan_id is None:
            raise InvalidArgument([("top_up_plan.name", "must be topUpPlans/{plan}")])
        # Terms that change what a top-up is worth are not editable: create a new plan instead, so
        # past top-ups keep pointing at the terms they were sold under.
        allowed = ("display_name", "active", "stores")
        paths = list(request.update_mask.paths)
        bad = [p for p in paths if p not in allowed]
        if bad or not paths:
            raise InvalidArgument(
                [("update_mask", f"{p!r} cannot be updated (create a new plan)") for p in bad]
                or [("update_mask", "name at least one of display_name, active, stores")]
            )
        p = request.top_up_plan
        values: dict = {}
        v = Violations()
        if "display_name" in paths:
            v.require("top_up_plan.display_name", p.display_name.strip())
            values["display_name"] = p.display_name.strip()
        if "active" in paths:
            values["active"] = p.active
        if "stores" in paths:
            stores = [parse_name(s, "stores") for s in p.stores]
            if any(s is None for s in stores):
                v.add("top_up_plan.stores", "each must be stores/{store}")
            values["stores"] = [s for s in stores if s]
        v.raise_if_any()

        async def effect(uow: WalletUnitOfWork) -> pb.UpdateTopUpPlanResponse:
            await uow.stores.require_all(values.get("stores", []), "top_up_plan.stores")
            if not await uow.plans.update(plan_id, values):
                raise NotFound(f"topUpPlans/{plan_id} not found", reason="PLAN_NOT_FOUND")
            plan = await uow.plans.get(plan_id)
            assert plan is not None
            currency = (await uow.settings.get()).currency_code
            return pb.UpdateTopUpPlanResponse(top_up_plan=plan_to_proto(plan, currency))

        return await self._mutate("UpdateTopUpPlan", request, pb.UpdateTopUpPlanResponse, effect)

    @staticmethod
    def _points_policy_proto(s) -> points_pb2.PointsPolicy:
        return points_pb2.PointsPolicy(
            name="pointsPolicy",
            points_per_yuan=s.points_per_yuan,
            expiry_policy=_EXPIRY[s.expiry_policy],
            expiry_months=s.expiry_months,
            expiry_days=s.expiry_days,
            pending_days=s.pending_days,
            redemption_rate_points_per_yuan=s.redemption_points_per_yuan,
            min_redeem_points=s.min_redeem_points,
            max_redeem_bps=s.max_redeem_bps,
            expiring_notice_days=s.expiring_notice_days,
            check_in_points=s.check_in_points,
            check_in_streak_days=s.check_in_streak_days,
            check_in_streak_bonus_points=s.check_in_streak_bonus,
        )

    async def GetPointsPolicy(
        self, request: pb.GetPointsPolicyRequest, context
    ) -> pb.GetPointsPolicyResponse:
        current_principal().require(auth.WALLET_READ)
        settings = await self._read(lambda uow: uow.settings.get())
        return pb.GetPointsPolicyResponse(points_policy=self._points_policy_proto(settings))

    async def UpdatePointsPolicy(
        self, request: pb.UpdatePointsPolicyRequest, context
    ) -> pb.UpdatePointsPolicyResponse:
        caller = current_principal()
        caller.require(auth.WALLET_ADMIN)
        # proto field -> WalletSettings attribute
        fields = {
            "points_per_yuan": "points_per_yuan",
            "expiry_policy": "expiry_policy",
            "expiry_months": "expiry_months",
            "expiry_days": "expiry_days",
            "pending_days": "pending_days",
            "redemption_rate_points_per_yuan": "redemption_points_per_yuan",
            "min_redeem_points": "min_redeem_points",
            "max_redeem_bps": "max_redeem_bps",
            "expiring_notice_days": "expiring_notice_days",
            "check_in_points": "check_in_points",
            "check_in_streak_days": "check_in_streak_days",
            "check_in_streak_bonus_points": "check_in_streak_bonus",
        }
        paths = list(request.update_mask.paths)
        bad = [p for p in paths if p not in fields]
        if bad or not paths:
            raise InvalidArgument(
                [("update_mask", f"{p!r} is not a field you can update") for p in bad]
                or [("update_mask", "name at least one field to update")]
            )
        patch = request.points_policy
        expiry_back = {v: k for k, v in _EXPIRY.items()}

        async def effect(uow: WalletUnitOfWork) -> pb.UpdatePointsPolicyResponse:
            current = await uow.settings.get()
            values = {}
            for path in paths:
                value = getattr(patch, path)
                if path == "expiry_policy":
                    value = expiry_back.get(value, "invalid")
                values[fields[path]] = value
            updated = replace(current, **values)
            updated.validate("points_policy")
            await uow.settings.save(updated)
            return pb.UpdatePointsPolicyResponse(points_policy=self._points_policy_proto(updated))

        return await self._mutate("UpdatePointsPolicy", request, pb.UpdatePointsPolicyResponse, effect)
