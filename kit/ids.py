"""Identifiers: time-ordered UUIDs (v7) so primary keys index well and sort by creation.

Resource names (`members/{member}`) are parsed here. An id that is stored as a PostgreSQL `uuid`
must be parsed with `uuid=True` (or `{uuid}` in a `parse_path` template): a malformed one is then
refused as INVALID_ARGUMENT by the caller instead of reaching the database, which would refuse it
with an error the client sees as INTERNAL.
"""

from __future__ import annotations

import os
import re
import time
import uuid

_RESOURCE_ID = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
_REQUEST_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")
# The hyphenated 8-4-4-4-12 form only: what Peony issues, and unambiguous in a resource name.
_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


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


# What is_resource_id accepts, in words: the one field-violation text for a client-chosen id.
RESOURCE_ID_RULE = "must be 1-63 characters of a-z, 0-9 and '-', starting with a letter or digit"


def is_resource_id(value: str) -> bool:
    return bool(_RESOURCE_ID.match(value))


def is_request_id(value: str) -> bool:
    return bool(_REQUEST_ID.match(value))


def is_uuid(value: str) -> bool:
    return bool(_UUID.match(value))


def parse_name(name: str, collection: str, *, uuid: bool = False) -> str | None:
    """`members/abc` -> `abc` for collection `members`; None when the name has another shape.

    With `uuid=True` the id must also be a UUID (returned lower-case)."""
    prefix = collection + "/"
    if not name.startswith(prefix):
        return None
    rest = name[len(prefix) :]
    if not rest or "/" in rest or len(rest) > 64:
        return None
    if uuid:
        return rest.lower() if is_uuid(rest) else None
    return rest


def parse_path(name: str, template: str) -> tuple[str, ...] | None:
    """The ids of a nested resource name, or None when `name` does not fit `template`.

    `template` is literal segments and placeholders: `{id}` (any id of up to 64 characters
    without a slash) or `{uuid}` (a UUID, returned lower-case), e.g.
    `parse_path("members/…/cards/…", "members/{uuid}/cards/{uuid}")` -> (member_id, card_id).
    """
    parts, shape = name.split("/"), template.split("/")
    if len(parts) != len(shape):
        return None
    ids: list[str] = []
    for part, expected in zip(parts, shape, strict=True):
        if expected == "{uuid}":
            if not is_uuid(part):
                return None
            ids.append(part.lower())
        elif expected == "{id}":
            if not part or len(part) > 64:
                return None
            ids.append(part)
        elif part != expected:
            return None
    return tuple(ids)
