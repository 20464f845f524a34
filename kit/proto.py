"""Small protobuf conversions every service's mapping layer needs."""

from __future__ import annotations

from datetime import datetime

from google.protobuf.timestamp_pb2 import Timestamp


def ts(value: datetime | None) -> Timestamp | None:
    """A timezone-aware datetime as a Timestamp; None stays unset."""
    if value is None:
        return None
    out = Timestamp()
    out.FromDatetime(value)
    return out
