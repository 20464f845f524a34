"""An import run that keeps failing stops: with the wallet unreachable (nothing listens at its
address — a real failure, not a stub), the members-hosted ImportService retries the run from its
checkpoint after a backoff, and after PEONY_MEMBERS_IMPORT_MAX_ATTEMPTS attempts without progress
ends the operation done, failed, with the reason ATTEMPTS_EXHAUSTED and no personal data in its
message — visible through GetOperation and ListOperations. A file the mapping does not fit (a
permanent failure) fails on the first attempt."""

from __future__ import annotations

import asyncio
import time
import uuid

import grpc
import pytest
from google.rpc import code_pb2, error_details_pb2
from peony.members.v1 import imports_pb2
from peony.members.v1 import members_service_pb2 as mpb
from peony.members.v1 import members_service_pb2_grpc as mpb_grpc
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from kit.auth import mint_dev_token
from kit.config import load_config, to_async_url
from tests.support.providers import free_port

pytestmark = pytest.mark.integration

TENANT = "acme-retries"
MAX_ATTEMPTS = 2
PHONE = "13900000077"
NAME = "王小明"


def md():
    token = mint_dev_token(tenant=TENANT, subject="user:importer", roles=["hq_admin"])
    return (("authorization", f"Bearer {token}"),)


@pytest.fixture(scope="module")
async def stack(infra):
    from services.members.entrypoints.app import build as build_members

    url = to_async_url(await infra.amigrated_database("members", "impretry_members"))
    members = await build_members(
        load_config(
            "members",
            {
                "PEONY_NATS_URL": infra.nats_url,
                "PEONY_MEMBERS_DATABASE_URL": url,
                "PEONY_MEMBERS_GRPC_PORT": "0",
                "PEONY_WALLET_ADDR": f"127.0.0.1:{free_port()}",  # no wallet there
                "PEONY_MEMBERS_IMPORT_INTERVAL_SECONDS": "0.2",
                "PEONY_MEMBERS_IMPORT_LEASE_SECONDS": "3",
                "PEONY_MEMBERS_IMPORT_MAX_ATTEMPTS": str(MAX_ATTEMPTS),
                "PEONY_MEMBERS_IMPORT_RETRY_BACKOFF_SECONDS": "0.5",
                "PEONY_MEMBERS_BIRTHDAY_TIME": "23:59",
            },
        )
    )
    port = await members.start()
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
    try:
        yield mpb_grpc.ImportServiceStub(channel), url
    finally:
        await channel.close()
        await members.stop()


async def _run(imports, kind, data: bytes, file_name: str, timeout: float = 300.0):
    created = await imports.CreateImportUpload(
        mpb.CreateImportUploadRequest(
            upload=imports_pb2.ImportUpload(file_name=file_name, size_bytes=len(data)),
            request_id=str(uuid.uuid4()),
        ),
        metadata=md(),
    )
    await imports.AppendImportChunk(
        mpb.AppendImportChunkRequest(upload=created.upload.name, offset=0, data=data), metadata=md()
    )
    started = await imports.StartImport(
        mpb.StartImportRequest(kind=kind, upload=created.upload.name, request_id=str(uuid.uuid4())),
        metadata=md(),
    )
    name = started.operation.name
    deadline = time.monotonic() + timeout
    while True:
        op = (await imports.GetOperation(mpb.GetOperationRequest(name=name), metadata=md())).operation
        if op.done:
            return op
        assert time.monotonic() < deadline, f"{name} still not done after {timeout}s: retried forever?"
        await asyncio.sleep(0.3)


def _reason(op) -> str:
    info = error_details_pb2.ErrorInfo()
    assert op.error.details[0].Unpack(info)
    return info.reason


async def test_an_import_whose_wallet_stays_unreachable_stops_after_the_attempts(stack):
    imports, url = stack
    stores = "门店编号,门店名称\nqj,青浦店\n".encode()
    assert (await _run(imports, imports_pb2.IMPORT_KIND_STORES, stores, "s.csv")).response.rows_imported == 1
    # members' rows are written by members; the balances need the wallet, which never answers
    members = f"会员卡号,姓名,手机,开卡门店,储值余额\nVC-0001,{NAME},{PHONE},青浦店,100\n".encode()
    op = await _run(imports, imports_pb2.IMPORT_KIND_MEMBERS, members, "m.csv")
    assert op.done and op.metadata.state == imports_pb2.IMPORT_STATE_FAILED
    assert op.error.code == code_pb2.UNAVAILABLE
    assert _reason(op) == "ATTEMPTS_EXHAUSTED"
    assert f"{MAX_ATTEMPTS} attempts" in op.error.message and "WALLET_UNAVAILABLE" in op.error.message
    assert (
        PHONE not in op.error.message and NAME not in op.error.message and "VC-0001" not in op.error.message
    )
    listed = await imports.ListOperations(mpb.ListOperationsRequest(), metadata=md())
    mine = next(o for o in listed.operations if o.name == op.name)
    assert mine.done and _reason(mine) == "ATTEMPTS_EXHAUSTED"
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            attempts = (
                await conn.execute(
                    text("SELECT attempts FROM import_operations WHERE tenant_id = :t AND operation_id = :o"),
                    {"t": TENANT, "o": op.name.removeprefix("operations/")},
                )
            ).scalar_one()
    finally:
        await engine.dispose()
    assert attempts == MAX_ATTEMPTS  # retried (with the backoff), then no more claims
    # and it stays done: no worker claims it again
    await asyncio.sleep(2)
    again = (await imports.GetOperation(mpb.GetOperationRequest(name=op.name), metadata=md())).operation
    assert again.done and again.metadata.update_time == op.metadata.update_time


async def test_a_file_the_mapping_does_not_fit_fails_at_the_first_attempt(stack):
    imports, url = stack
    op = await _run(imports, imports_pb2.IMPORT_KIND_MEMBERS, b"a,b\n1,2\n", "x.csv")
    assert op.done and op.metadata.state == imports_pb2.IMPORT_STATE_FAILED
    assert _reason(op) == "MAPPING_DOES_NOT_FIT" and op.error.code == code_pb2.FAILED_PRECONDITION
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            attempts = (
                await conn.execute(
                    text("SELECT attempts FROM import_operations WHERE tenant_id = :t AND operation_id = :o"),
                    {"t": TENANT, "o": op.name.removeprefix("operations/")},
                )
            ).scalar_one()
    finally:
        await engine.dispose()
    assert attempts == 1
