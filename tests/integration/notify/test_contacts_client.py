"""Notify's members client against a real members service: a batch of recipients is resolved with
ResolveContacts (at most 100 names a call), and the optional few-seconds contact cache spares
members the repeat calls of a burst. Members' PII access log shows which calls reached it."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest_asyncio
from sqlalchemy import text

from kit.service_auth import ServiceCredentials
from services.notify.adapters.contacts import (
    NOTIFIER_ROLE,
    RESOLVE_BATCH,
    Contact,
    MembersContacts,
    RecipientNotFound,
)
from tests.integration.notify.conftest import Stack, new_phone, new_tenant


@pytest_asyncio.fixture
async def client_factory(stack: Stack) -> AsyncIterator:
    made: list[MembersContacts] = []

    def make(**kw) -> MembersContacts:
        config = stack.notify_config()
        client = MembersContacts(
            stack.members_addr, ServiceCredentials.from_config(config, extra_roles=(NOTIFIER_ROLE,)), **kw
        )
        made.append(client)
        return client

    yield make
    for client in made:
        await client.close()


async def _audited(stack: Stack, tenant: str) -> int:
    """ResolveContacts audit rows of the tenant, once the log's background flush has run."""
    await asyncio.sleep(0.8)
    async with stack.members_db.connect() as conn:
        return (
            await conn.execute(
                text("SELECT count(*) FROM pii_access_log WHERE tenant_id = :t AND rpc = 'ResolveContacts'"),
                {"t": tenant},
            )
        ).scalar_one()


async def test_a_batch_of_recipients_is_resolved_in_calls_of_at_most_100(stack: Stack, client_factory):
    tenant = new_tenant()
    store = await stack.store(tenant)
    phones = [new_phone() for _ in range(2)]
    real = [await stack.member(tenant, store, phone=p) for p in phones]
    unknown = [f"members/{uuid.uuid4()}" for _ in range(RESOLVE_BATCH)]
    names = [real[0].name, *unknown, real[1].name, "members/not-a-uuid", real[0].name]
    client = client_factory()

    got = await client.resolve_many(tenant, names)

    assert set(got) == set(names)
    for member, phone in zip(real, phones, strict=True):
        contact = got[member.name]
        assert isinstance(contact, Contact) and contact.addresses["sms"] == phone
    assert all(isinstance(got[n], RecipientNotFound) for n in [*unknown, "members/not-a-uuid"])
    assert await _audited(stack, tenant) == 2  # two members returned, each audited once


async def test_the_contact_cache_answers_repeats_within_its_ttl_and_is_off_by_default(
    stack: Stack, client_factory
):
    tenant = new_tenant()
    store = await stack.store(tenant)
    member = await stack.member(tenant, store)

    uncached = client_factory()  # the default: every batch asks members
    for _ in range(2):
        assert isinstance((await uncached.resolve_many(tenant, [member.name]))[member.name], Contact)
    assert await _audited(stack, tenant) == 2

    cached = client_factory(cache_ttl_s=30)
    for _ in range(3):
        assert isinstance((await cached.resolve_many(tenant, [member.name]))[member.name], Contact)
    assert await _audited(stack, tenant) == 3  # one more call: the repeats came from memory

    short = client_factory(cache_ttl_s=0.2)
    await short.resolve_many(tenant, [member.name])
    await asyncio.sleep(0.3)
    await short.resolve_many(tenant, [member.name])  # expired: asked again
    assert await _audited(stack, tenant) == 5

    other_tenant = new_tenant()  # the cache is per tenant: another tenant's lookup is not served
    got = await cached.resolve_many(other_tenant, [member.name])
    assert isinstance(got[member.name], RecipientNotFound)
