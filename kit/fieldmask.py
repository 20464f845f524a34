"""AIP-134 update masks: which fields an Update request changes.

An empty mask means every field the caller set (populated) among those it may change; a field
the caller may not change, or nothing at all, is INVALID_ARGUMENT on `update_mask`.
"""

from __future__ import annotations

from collections.abc import Callable, Collection

from google.protobuf.field_mask_pb2 import FieldMask
from google.protobuf.message import Message

from kit.errors import InvalidArgument


def mask_paths(mask: FieldMask, message: Message, allowed: Collection[str]) -> list[str]:
    """The mask's paths (each once), or the populated fields of `message` among `allowed`."""
    if mask.paths:
        return list(dict.fromkeys(mask.paths))
    return [f.name for f, _ in message.ListFields() if f.name in allowed]


def checked_paths(
    mask: FieldMask,
    message: Message,
    allowed: Collection[str],
    *,
    populated: Callable[[], list[str]] | None = None,
) -> list[str]:
    """`mask_paths`, refused unless every path is in `allowed` and there is at least one.
    `populated` overrides what counts as set when the mask is empty (e.g. `HasField` on
    optional scalars, whose zero value is a value to set)."""
    use_mask = mask.paths or populated is None
    paths = mask_paths(mask, message, allowed) if use_mask else populated()
    bad = [p for p in paths if p not in allowed]
    if bad or not paths:
        raise InvalidArgument(
            [("update_mask", f"{p!r} is not a field you can update") for p in bad]
            or [("update_mask", "name at least one field to update")]
        )
    return paths
