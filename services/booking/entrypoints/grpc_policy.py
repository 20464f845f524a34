"""BookingService RPCs of the booking policy and members' booking standing: a mixin of
BookingServicer (grpc_servicer.py), which supplies `_mutate` and `_read` (kit.servicer)."""

from __future__ import annotations


class PolicyRpcs:
    pass
