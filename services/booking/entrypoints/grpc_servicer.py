"""gRPC entrypoint of booking: BookingServicer, composed of one mixin per area of the API.

Each mixin translates requests into service-layer calls and rows back into messages; an RPC no
mixin implements answers UNIMPLEMENTED from the generated base.
"""

from __future__ import annotations

from peony.booking.v1 import booking_service_pb2_grpc as pb_grpc

from kit.servicer import ServicerKit
from services.booking.entrypoints.grpc_appointments import AppointmentRpcs
from services.booking.entrypoints.grpc_catalog import CatalogRpcs
from services.booking.entrypoints.grpc_feedback import FeedbackRpcs
from services.booking.entrypoints.grpc_plans import ServicePlanRpcs
from services.booking.entrypoints.grpc_policy import PolicyRpcs
from services.booking.entrypoints.grpc_waitlist import WaitlistRpcs
from services.booking.service_layer.unit_of_work import BookingUnitOfWork


class BookingServicer(
    CatalogRpcs,
    AppointmentRpcs,
    PolicyRpcs,
    ServicePlanRpcs,
    FeedbackRpcs,
    WaitlistRpcs,
    ServicerKit[BookingUnitOfWork],
    pb_grpc.BookingServiceServicer,
):
    pass
