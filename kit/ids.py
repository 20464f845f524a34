"""Identifiers: time-ordered UUIDs (v7) so primary keys index well and sort by creation."""

from __future__ import annotations

import os
import re
import time
import uuid

_RESOURCE_ID = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
_REQUEST_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")


def uuid7() -> uuid.UUID:
    ms = time.time_ns() // 1_000_000
    rand = int.from_bytes(os.urandom(10), "big")
    value = (ms & ((1 << 48) - 1)) << 80
    value |= 0x7 << 76
    value |= ((rand >> 62) & 0xFFF) << 64
    value |= 0b10 << 62
    value |= rand & ((1 << 62) - 1)
    return uuid.UUID(int=value)


def new_id() -> str:
    return str(uuid7())


def is_resource_id(value: str) -> bool:
    return bool(_RESOURCE_ID.match(value))


def is_request_id(value: str) -> bool:
    return bool(_REQUEST_ID.match(value))


def parse_name(name: str, collection: str) -> str | None:
    """`members/abc` -> `abc` for collection `members`; None when the name has another shape."""
    prefix = collection + "/"
    if not name.startswith(prefix):
        return None
    rest = name[len(prefix) :]
    if not rest or "/" in rest or len(rest) > 64:
        return None
    return rest
