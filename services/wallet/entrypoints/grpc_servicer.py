"""gRPC entrypoint of the wallet: WalletServicer, composed of one mixin per area of the API.

Each mixin (grpc_*.py) translates requests into service-layer calls and results back into
messages with the helpers of mapping*.py; none imports this module. An RPC no mixin implements
answers UNIMPLEMENTED from the generated base (today: none).
"""

from __future__ import annotations

from peony.wallet.v1 import wallet_service_pb2_grpc as pb_grpc
from sqlalchemy.ext.asyncio import AsyncEngine

from kit.auth import current_principal
from kit.idempotency import Idempotency
from kit.pagination import PageTokens
from kit.servicer import ServicerKit
from kit.uow import UnitOfWorkFactory
from services.wallet.adapters.wallet_apply import WalletApply
from services.wallet.entrypoints.grpc_checkout import CheckoutRpc
from services.wallet.entrypoints.grpc_finance import FinanceRpc
from services.wallet.entrypoints.grpc_holds import HoldsRpc
from services.wallet.entrypoints.grpc_imports import ImportsRpc
from services.wallet.entrypoints.grpc_packages import PackagesRpc
from services.wallet.entrypoints.grpc_points import PointsRpc
from services.wallet.entrypoints.grpc_vouchers import VouchersRpc
from services.wallet.entrypoints.grpc_wallet import WalletRpc
from services.wallet.service_layer import payment_pin
from services.wallet.service_layer.one_call import OneCall
from services.wallet.service_layer.unit_of_work import WalletUnitOfWork


class WalletServicer(
    WalletRpc,
    HoldsRpc,
    PointsRpc,
    FinanceRpc,
    PackagesRpc,
    VouchersRpc,
    CheckoutRpc,
    ImportsRpc,
    ServicerKit[WalletUnitOfWork],
    pb_grpc.WalletServiceServicer,
):
    def __init__(
        self,
        uows: UnitOfWorkFactory[WalletUnitOfWork],
        engine: AsyncEngine,
        idempotency: Idempotency,
        page_tokens: PageTokens,
        wallet_apply: WalletApply,
    ):
        super().__init__(uows, idempotency, page_tokens)
        self._engine = engine
        # the hot paths applied in one database call (service_layer/one_call.py)
        self._one_call = OneCall(uows, wallet_apply, idempotency)

    async def _check_pin(
        self, member_id: str, pin: str, *, store_id: str | None, store_field: str = "store"
    ) -> None:
        """The mixins' PIN guard; see payment_pin.check."""
        await payment_pin.check(
            self._uows, current_principal(), member_id, pin, store_id=store_id, store_field=store_field
        )
