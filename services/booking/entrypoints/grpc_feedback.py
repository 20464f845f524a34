"""BookingService RPCs of visit feedback and complaints: a mixin of BookingServicer (grpc_servicer.py), which
supplies `_mutate` and `_read` (kit.servicer)."""

from __future__ import annotations


class FeedbackRpcs:
    pass
