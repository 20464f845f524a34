"""No accepted checkout can produce an event its stream refuses (issue 9, example 4), over real gRPC."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator

import grpc
import pytest
from peony.wallet.v1 import checkout_pb2, ledger_pb2
from peony.wallet.v1 import wallet_service_pb2 as pb
from peony.wallet.v1 import wallet_service_pb2_grpc as pb_grpc
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from kit.auth import mint_dev_token
from tests.support.wallet import reason_of, running_wallet, seed_stores

pytestmark = pytest.mark.integration
TENANT = "wallet-limits"
MD = (("authorization", f"Bearer {mint_dev_token(tenant=TENANT, subject='user:t', roles=['hq_admin'])}"),)


@contextlib.asynccontextmanager
async def wallet(infra, **env: str) -> AsyncIterator[tuple[pb_grpc.WalletServiceStub, AsyncEngine]]:
    async with running_wallet(infra, "wallet_limits", **env) as w:
        yield w.stub, w.engine


async def counts(engine: AsyncEngine) -> dict[str, int]:
    async with engine.connect() as conn:
        return {
            table: (await conn.execute(text(f"SELECT count(*) FROM {table}"))).scalar_one()  # noqa: S608
            for table in ("checkouts", "postings", "outbox", "idempotency_keys")
        }


def walk_in(items: list[str]) -> pb.CheckoutRequest:
    return pb.CheckoutRequest(
        store="stores/s1",
        lines=[
            checkout_pb2.CheckoutLine(item=item, category="retail", quantity=1, list_price_minor=100)
            for item in items
        ],
        tenders=[checkout_pb2.TenderAmount(tender=ledger_pb2.TENDER_CASH, amount_minor=100 * len(items))],
        request_id=str(uuid.uuid4()),
    )


async def test_a_checkout_whose_event_exceeds_the_configured_limit_is_refused_and_writes_nothing(
    infra,
) -> None:
    # A 2 KiB event limit: 30 lines of ordinary item names make a CheckoutCompleted larger than that.
    async with wallet(infra, PEONY_MAX_EVENT_BYTES="2048") as (stub, engine):
        async with engine.begin() as conn:
            await seed_stores(conn, TENANT)
        done = await stub.Checkout(walk_in(["services/facial"]), metadata=MD)
        assert done.checkout.total_due_minor == 100
        before = await counts(engine)
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await stub.Checkout(
                walk_in([f"products/serum-{i:02d}-hydrating-night-care-50ml" for i in range(30)]), metadata=MD
            )
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert reason_of(err.value) == "EVENT_TOO_LARGE"
        assert "CheckoutCompleted" in (err.value.details() or "")
        assert await counts(engine) == before  # no checkout, posting, event or idempotency key


async def test_the_1_mb_line_item_of_issue_9_is_refused_and_writes_nothing(infra) -> None:
    async with wallet(infra) as (stub, engine):
        async with engine.begin() as conn:
            await seed_stores(conn, TENANT)
        before = await counts(engine)
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await stub.Checkout(walk_in(["x" * (1024 * 1024)]), metadata=MD)
        # INVALID_ARGUMENT whichever check refuses it first (a field limit, or the event size guard).
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert await counts(engine) == before
