"""The wallet's test harness (as booking's ``tests/support/booking.py``): ``wallet`` is a real wallet
service — in-process gRPC server, relay and consumers — on its own clone of the migrated template
database, one per test module, with a stub, an engine on its database and the URL
(``tests.support.wallet.Wallet``). A module that needs a differently seeded wallet defines its own
``wallet`` fixture, which takes precedence."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.support.stack import Infra
from tests.support.wallet import Wallet, running_wallet


@pytest.fixture(scope="module")
async def wallet(infra: Infra, request: pytest.FixtureRequest) -> AsyncIterator[Wallet]:
    async with running_wallet(infra, f"wallet_{request.module.__name__.rsplit('.', 1)[-1]}") as w:
        yield w
