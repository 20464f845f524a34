"""BookingService RPCs of the waitlist: a mixin of BookingServicer (grpc_servicer.py), which
supplies `_mutate` and `_read` (kit.servicer)."""

from __future__ import annotations


class WaitlistRpcs:
    pass
