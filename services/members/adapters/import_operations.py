"""SQL of the ImportService: uploads stored in chunks, operations (durable jobs with a lease) and
their row error reports. Functions take a SQLAlchemy session or connection (the RPCs' unit of
work, or the worker's own connection); every statement is scoped to one tenant.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, delete, func, or_, select, tuple_, update
from sqlalchemy.dialects.postgresql import insert

from services.members.adapters.import_tables import (
    import_operation_errors,
    import_operations,
    import_upload_chunks,
    import_uploads,
)

u, ch, op, er = import_uploads.c, import_upload_chunks.c, import_operations.c, import_operation_errors.c
UNFINISHED = ("pending", "running")


@dataclass(frozen=True)
class Upload:
    upload_id: str
    file_name: str
    size_bytes: int
    received_bytes: int
    expire_time: datetime


def _upload(row) -> Upload:
    return Upload(row.upload_id, row.file_name, row.size_bytes, row.received_bytes, row.expire_time)


async def create_upload(
    db, tenant: str, upload_id: str, file_name: str, size: int, retention: timedelta
) -> Upload:
    row = (
        await db.execute(
            insert(import_uploads)
            .values(
                tenant_id=tenant,
                upload_id=upload_id,
                file_name=file_name,
                size_bytes=size,
                expire_time=func.now() + retention,
            )
            .returning(import_uploads)
        )
    ).one()
    return _upload(row)


async def get_upload(db, tenant: str, upload_id: str, *, lock: bool = False) -> Upload | None:
    q = select(import_uploads).where(u.tenant_id == tenant, u.upload_id == upload_id)
    row = (await db.execute(q.with_for_update() if lock else q)).one_or_none()
    return _upload(row) if row else None


async def chunk_at(db, tenant: str, upload_id: str, offset: int) -> bytes | None:
    return (
        await db.execute(
            select(ch.data).where(
                ch.tenant_id == tenant, ch.upload_id == upload_id, ch.offset_bytes == offset
            )
        )
    ).scalar_one_or_none()


async def append_chunk(db, tenant: str, upload_id: str, offset: int, data: bytes) -> Upload:
    """Stores the chunk at the upload's end (the caller holds the upload's row lock)."""
    await db.execute(
        insert(import_upload_chunks).values(
            tenant_id=tenant, upload_id=upload_id, offset_bytes=offset, data=data
        )
    )
    row = (
        await db.execute(
            update(import_uploads)
            .where(u.tenant_id == tenant, u.upload_id == upload_id)
            .values(received_bytes=u.received_bytes + len(data))
            .returning(import_uploads)
        )
    ).one()
    return _upload(row)


async def stream_chunks(engine, tenant: str, upload_id: str) -> AsyncIterator[bytes]:
    """The upload's bytes in order, one chunk in memory at a time."""
    offset = 0
    while True:
        async with engine.connect() as conn:
            data = await chunk_at(conn, tenant, upload_id, offset)
        if data is None:
            return
        yield data
        offset += len(data)


async def delete_upload(db, tenant: str, upload_id: str) -> None:
    await db.execute(delete(import_uploads).where(u.tenant_id == tenant, u.upload_id == upload_id))


async def purge_expired_uploads(db) -> int:
    """Uploads past their retention that no unfinished operation is reading."""
    busy = select(op.upload_id).where(op.tenant_id == u.tenant_id, op.state.in_(UNFINISHED))
    result = await db.execute(
        delete(import_uploads).where(u.expire_time < func.now(), ~u.upload_id.in_(busy.scalar_subquery()))
    )
    return result.rowcount or 0


# --- operations ----------------------------------------------------------------------------------


async def create_operation(db, tenant: str, operation_id: str, **values: Any) -> Any:
    return (
        await db.execute(
            insert(import_operations)
            .values(tenant_id=tenant, operation_id=operation_id, state="pending", import_id="", **values)
            .returning(import_operations)
        )
    ).one()


async def get_operation(db, tenant: str, operation_id: str) -> Any | None:
    return (
        await db.execute(
            select(import_operations).where(op.tenant_id == tenant, op.operation_id == operation_id)
        )
    ).one_or_none()


async def list_operations(db, tenant: str, *, limit: int, after: tuple[datetime, str] | None) -> list[Any]:
    q = select(import_operations).where(op.tenant_id == tenant)
    if after is not None:
        q = q.where(tuple_(op.create_time, op.operation_id) < tuple_(*after))
    q = q.order_by(op.create_time.desc(), op.operation_id.desc()).limit(limit)
    return list((await db.execute(q)).all())


async def request_cancel(db, tenant: str, operation_id: str) -> Any | None:
    """Marks a cancellation: a pending operation is cancelled at once; a running one by its worker
    after the current batch. A finished one is left as it is."""
    await db.execute(
        update(import_operations)
        .where(op.tenant_id == tenant, op.operation_id == operation_id, op.finish_time.is_(None))
        .values(cancel_time=func.coalesce(op.cancel_time, func.now()), update_time=func.now())
    )
    await db.execute(
        update(import_operations)
        .where(op.tenant_id == tenant, op.operation_id == operation_id, op.state == "pending")
        .values(state="cancelled", finish_time=func.now(), error_code="CANCELLED", error_message="cancelled")
    )
    return await get_operation(db, tenant, operation_id)


async def claim(db, owner: str, lease: timedelta) -> Any | None:
    """One operation to run: pending, or running under a lease that expired (its worker died).
    SKIP LOCKED: replicas claiming at once take different operations."""
    candidate = (
        select(op.tenant_id, op.operation_id)
        .where(
            op.finish_time.is_(None),
            or_(op.state == "pending", and_(op.state == "running", op.lease_expire_time < func.now())),
        )
        .order_by(op.create_time)
        .limit(1)
        .with_for_update(skip_locked=True)
        .cte("candidate")
    )
    return (
        await db.execute(
            update(import_operations)
            .where(
                tuple_(op.tenant_id, op.operation_id).in_(
                    select(candidate.c.tenant_id, candidate.c.operation_id)
                )
            )
            .values(
                state="running",
                attempts=op.attempts + 1,
                lease_owner=owner,
                lease_expire_time=func.now() + lease,
                update_time=func.now(),
            )
            .returning(import_operations)
        )
    ).one_or_none()


async def renew_lease(db, tenant: str, operation_id: str, owner: str, lease: timedelta) -> Any | None:
    """Extends the lease; None when this worker no longer holds it. Returns the cancel time too."""
    return (
        await db.execute(
            update(import_operations)
            .where(
                op.tenant_id == tenant,
                op.operation_id == operation_id,
                op.lease_owner == owner,
                op.finish_time.is_(None),
            )
            .values(lease_expire_time=func.now() + lease)
            .returning(op.cancel_time)
        )
    ).one_or_none()


async def release_lease(db, tenant: str, operation_id: str, owner: str) -> None:
    """Ends this worker's lease at once (the process is stopping): another replica resumes now."""
    await db.execute(
        update(import_operations)
        .where(op.tenant_id == tenant, op.operation_id == operation_id, op.lease_owner == owner)
        .values(lease_expire_time=func.now())
    )


async def retry_later(
    db, tenant: str, operation_id: str, owner: str, delay: timedelta, error_code: str, error_message: str
) -> None:
    """A failed attempt that will be retried: the lease is handed back so that it runs out after
    ``delay`` (the backoff; any replica claims it then), and the last error is kept for the record."""
    await db.execute(
        update(import_operations)
        .where(
            op.tenant_id == tenant,
            op.operation_id == operation_id,
            op.lease_owner == owner,
            op.finish_time.is_(None),
        )
        .values(
            lease_owner="",
            lease_expire_time=func.now() + delay,
            error_code=error_code,
            error_message=error_message,
            update_time=func.now(),
        )
    )


async def save_progress(
    db, tenant: str, operation_id: str, owner: str, errors: list[tuple], **values: Any
) -> bool:
    """Commits a batch's progress and error rows (a batch run again after a crash adds no error
    twice); False when the lease was lost (another worker took the operation over)."""
    if errors:
        await db.execute(
            insert(import_operation_errors)
            .values(
                [
                    {
                        "tenant_id": tenant,
                        "operation_id": operation_id,
                        "row_number": r,
                        "column_name": c,
                        "code": k,
                    }
                    for r, c, k in errors
                ]
            )
            .on_conflict_do_nothing()
        )
    result = await db.execute(
        update(import_operations)
        .where(op.tenant_id == tenant, op.operation_id == operation_id, op.lease_owner == owner)
        .values(update_time=func.now(), **values)
    )
    return bool(result.rowcount)


async def clear_errors(db, tenant: str, operation_id: str) -> None:
    await db.execute(
        delete(import_operation_errors).where(er.tenant_id == tenant, er.operation_id == operation_id)
    )


async def error_rows(db, tenant: str, operation_id: str, *, limit: int, after: tuple[int, str, str] | None):
    q = select(er.row_number, er.column_name, er.code).where(
        er.tenant_id == tenant, er.operation_id == operation_id
    )
    if after is not None:
        q = q.where(tuple_(er.row_number, er.column_name, er.code) > tuple_(*after))
    q = q.order_by(er.row_number, er.column_name, er.code).limit(limit)
    return list((await db.execute(q)).all())


async def error_count(db, tenant: str, operation_id: str) -> int:
    return (
        await db.execute(select(func.count()).where(er.tenant_id == tenant, er.operation_id == operation_id))
    ).scalar_one()
