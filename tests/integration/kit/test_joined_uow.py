"""kit.uow.UnitOfWork.joined: a unit of work inside an event consumer's transaction."""

from __future__ import annotations

import pytest
from google.protobuf.wrappers_pb2 import StringValue
from sqlalchemy.ext.asyncio import AsyncEngine

from kit.db import session_factory
from kit.uow import UnitOfWork
from tests.integration.kit.helpers import outbox_rows

pytestmark = pytest.mark.integration


async def test_a_joined_unit_of_work_writes_its_events_in_the_owners_transaction(
    engine: AsyncEngine, service: str
) -> None:
    sessions = session_factory(engine)
    for owner_commits in (False, True):
        async with sessions() as session, session.begin():
            uow = UnitOfWork.joined(session, service=service, tenant="t1")
            assert uow.is_joined
            async with uow:  # entering and leaving neither begins nor ends the owner's transaction
                uow.emit(
                    StringValue(value="reward"), aggregate_type="member", aggregate_id=f"m-{owner_commits}"
                )
                await uow.commit()
            assert session.in_transaction()
            assert await outbox_rows(engine) == []  # nothing visible before the owner commits
            if not owner_commits:
                await session.rollback()
    rows = await outbox_rows(engine)
    # The rolled-back owner took its event with it; the committed one has exactly its own.
    assert [r["aggregate_id"] for r in rows] == ["m-True"]
