"""The payment PIN check that guards spending stored value (SetPaymentPin, stored-value holds,
checkout, package sales paid from the wallet)."""

from __future__ import annotations

from kit import auth
from kit.auth import Principal
from kit.uow import UnitOfWorkFactory
from services.wallet.service_layer import stored_value as sv
from services.wallet.service_layer.unit_of_work import WalletUnitOfWork as UoW


async def check(
    uows: UnitOfWorkFactory[UoW],
    caller: Principal,
    member_id: str,
    pin: str,
    *,
    store_id: str | None,
    store_field: str = "store",
) -> None:
    """Raises PIN_INVALID / PIN_LOCKED unless `pin` is the member's PIN.

    A wrong PIN is counted in a separate, committed transaction: it must count even though the
    call fails. The caller's authorization for paying at `store_id` for this member runs first: a
    caller who may not make the payment must not be able to spend (and lock) the member's
    attempts. Then the references are resolved: a payment refused for an unknown member or store
    is refused before any attempt is counted. `store_id` is None only where the call is not bound
    to a store (changing the PIN)."""
    caller.require(auth.WALLET_WRITE)
    if store_id is not None:
        caller.require_store(f"stores/{store_id}")
    caller.require_member(f"members/{member_id}")

    async def resolve(uow: UoW) -> None:
        if store_id is not None:
            await uow.stores.require(store_id, store_field)
        await uow.members.require(member_id)

    await uows.run(caller.tenant, resolve, read_only=True)
    if await uows.run(
        caller.tenant, lambda uow: sv.pin_is_plainly_right(uow, member_id, pin), read_only=True
    ):
        return
    if await uows.run(caller.tenant, lambda uow: sv.verify_pin(uow, member_id, pin)):
        return

    async def attempts_left(uow: UoW) -> int:
        record = await uow.pins.get(member_id)
        settings = await uow.settings.get()
        return settings.pin_max_attempts - (record.failed_attempts if record else 0)

    raise sv.wrong_pin(await uows.run(caller.tenant, attempts_left, read_only=True))
