"""Changes to the tenant's wallet settings (spend order, PIN and hold parameters, points policy)."""

from __future__ import annotations

from dataclasses import replace

from kit import auth
from kit.auth import Principal
from services.wallet.domain.settings import WalletSettings
from services.wallet.service_layer.unit_of_work import WalletUnitOfWork as UoW


async def update(uow: UoW, caller: Principal, values: dict, *, field: str) -> WalletSettings:
    """Applies `values` (attribute -> value) and saves them if the whole result is valid;
    violations are reported under `field` (the message the caller sent)."""
    caller.require(auth.WALLET_ADMIN)
    updated = replace(await uow.settings.get(), **values)
    updated.validate(field)
    await uow.settings.save(updated)
    return updated
