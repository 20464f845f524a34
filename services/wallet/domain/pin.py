"""Payment PINs (储值密码): peppered HMAC hashes, with lockout after repeated wrong tries.

A 6-digit PIN has only a million values, so no hash function makes a stolen table safe on its
own; what does is a key the table does not contain. The hash is HMAC-SHA256 under a pepper
derived from the deployment's secret (`PEONY_PII_KEY`) over a per-member salt and the PIN. It
costs microseconds, where scrypt cost ~33 ms of CPU on every stored-value payment; online
guessing is stopped by the lockout.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from kit.errors import FailedPrecondition, InvalidArgument

_PIN = re.compile(r"^\d{6}$")


def validate_new_pin(pin: str) -> None:
    if not _PIN.match(pin):
        raise InvalidArgument([("pin", "must be exactly 6 digits")])
    if len(set(pin)) == 1 or pin in "0123456789" or pin in "9876543210":
        raise InvalidArgument([("pin", "is too easy to guess (repeated or sequential digits)")])


def hash_pin(pin: str, pepper: bytes, salt: bytes | None = None) -> tuple[bytes, bytes]:
    salt = salt or os.urandom(16)
    return hmac.new(pepper, salt + b"|" + pin.encode(), hashlib.sha256).digest(), salt


@dataclass
class PinCheck:
    ok: bool
    failed_attempts: int
    locked_until: datetime | None


def check_pin(
    pin: str,
    *,
    pepper: bytes,
    pin_hash: bytes,
    salt: bytes,
    failed_attempts: int,
    locked_until: datetime | None,
    now: datetime,
    max_attempts: int,
    lockout: timedelta,
) -> PinCheck:
    """The outcome of one attempt; the caller persists the counters whatever the outcome."""
    if locked_until is not None and locked_until > now:
        raise FailedPrecondition(
            "stored-value payment is locked after too many wrong PINs",
            reason="PIN_LOCKED",
            metadata={"locked_until": locked_until.isoformat()},
        )
    if hmac.compare_digest(hash_pin(pin, pepper, salt)[0], pin_hash):
        return PinCheck(True, 0, None)
    failed = failed_attempts + 1
    return PinCheck(False, failed, now + lockout if failed >= max_attempts else None)
