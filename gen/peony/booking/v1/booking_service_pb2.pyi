import datetime

from google.api import annotations_pb2 as _annotations_pb2
from google.api import field_behavior_pb2 as _field_behavior_pb2
from google.api import resource_pb2 as _resource_pb2
from google.protobuf import field_mask_pb2 as _field_mask_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from peony.booking.v1 import appointments_pb2 as _appointments_pb2
from peony.booking.v1 import availability_pb2 as _availability_pb2
from peony.booking.v1 import catalog_pb2 as _catalog_pb2
from peony.booking.v1 import feedback_pb2 as _feedback_pb2
from peony.booking.v1 import resources_pb2 as _resources_pb2
from peony.booking.v1 import waitlist_pb2 as _waitlist_pb2
from peony.options.v1 import limits_pb2 as _limits_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class CreateServiceRequest(_message.Message):
    __slots__ = ("service", "service_id", "request_id")
    SERVICE_FIELD_NUMBER: _ClassVar[int]
    SERVICE_ID_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    service: _catalog_pb2.Service
    service_id: str
    request_id: str
    def __init__(self, service: _Optional[_Union[_catalog_pb2.Service, _Mapping]] = ..., service_id: _Optional[str] = ..., request_id: _Optional[str] = ...) -> None: ...

class CreateServiceResponse(_message.Message):
    __slots__ = ("service",)
    SERVICE_FIELD_NUMBER: _ClassVar[int]
    service: _catalog_pb2.Service
    def __init__(self, service: _Optional[_Union[_catalog_pb2.Service, _Mapping]] = ...) -> None: ...

class GetServiceRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class GetServiceResponse(_message.Message):
    __slots__ = ("service",)
    SERVICE_FIELD_NUMBER: _ClassVar[int]
    service: _catalog_pb2.Service
    def __init__(self, service: _Optional[_Union[_catalog_pb2.Service, _Mapping]] = ...) -> None: ...

class ListServicesRequest(_message.Message):
    __slots__ = ("page_size", "page_token", "category", "show_inactive")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    CATEGORY_FIELD_NUMBER: _ClassVar[int]
    SHOW_INACTIVE_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    category: str
    show_inactive: bool
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., category: _Optional[str] = ..., show_inactive: _Optional[bool] = ...) -> None: ...

class ListServicesResponse(_message.Message):
    __slots__ = ("services", "next_page_token")
    SERVICES_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    services: _containers.RepeatedCompositeFieldContainer[_catalog_pb2.Service]
    next_page_token: str
    def __init__(self, services: _Optional[_Iterable[_Union[_catalog_pb2.Service, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class UpdateServiceRequest(_message.Message):
    __slots__ = ("service", "update_mask", "request_id")
    SERVICE_FIELD_NUMBER: _ClassVar[int]
    UPDATE_MASK_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    service: _catalog_pb2.Service
    update_mask: _field_mask_pb2.FieldMask
    request_id: str
    def __init__(self, service: _Optional[_Union[_catalog_pb2.Service, _Mapping]] = ..., update_mask: _Optional[_Union[_field_mask_pb2.FieldMask, _Mapping]] = ..., request_id: _Optional[str] = ...) -> None: ...

class UpdateServiceResponse(_message.Message):
    __slots__ = ("service",)
    SERVICE_FIELD_NUMBER: _ClassVar[int]
    service: _catalog_pb2.Service
    def __init__(self, service: _Optional[_Union[_catalog_pb2.Service, _Mapping]] = ...) -> None: ...

class CreateServiceOverrideRequest(_message.Message):
    __slots__ = ("parent", "service_override", "request_id")
    PARENT_FIELD_NUMBER: _ClassVar[int]
    SERVICE_OVERRIDE_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    parent: str
    service_override: _catalog_pb2.ServiceOverride
    request_id: str
    def __init__(self, parent: _Optional[str] = ..., service_override: _Optional[_Union[_catalog_pb2.ServiceOverride, _Mapping]] = ..., request_id: _Optional[str] = ...) -> None: ...

class CreateServiceOverrideResponse(_message.Message):
    __slots__ = ("service_override",)
    SERVICE_OVERRIDE_FIELD_NUMBER: _ClassVar[int]
    service_override: _catalog_pb2.ServiceOverride
    def __init__(self, service_override: _Optional[_Union[_catalog_pb2.ServiceOverride, _Mapping]] = ...) -> None: ...

class GetServiceOverrideRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class GetServiceOverrideResponse(_message.Message):
    __slots__ = ("service_override",)
    SERVICE_OVERRIDE_FIELD_NUMBER: _ClassVar[int]
    service_override: _catalog_pb2.ServiceOverride
    def __init__(self, service_override: _Optional[_Union[_catalog_pb2.ServiceOverride, _Mapping]] = ...) -> None: ...

class ListServiceOverridesRequest(_message.Message):
    __slots__ = ("parent", "page_size", "page_token")
    PARENT_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    parent: str
    page_size: int
    page_token: str
    def __init__(self, parent: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListServiceOverridesResponse(_message.Message):
    __slots__ = ("service_overrides", "next_page_token")
    SERVICE_OVERRIDES_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    service_overrides: _containers.RepeatedCompositeFieldContainer[_catalog_pb2.ServiceOverride]
    next_page_token: str
    def __init__(self, service_overrides: _Optional[_Iterable[_Union[_catalog_pb2.ServiceOverride, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class UpdateServiceOverrideRequest(_message.Message):
    __slots__ = ("service_override", "update_mask", "request_id")
    SERVICE_OVERRIDE_FIELD_NUMBER: _ClassVar[int]
    UPDATE_MASK_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    service_override: _catalog_pb2.ServiceOverride
    update_mask: _field_mask_pb2.FieldMask
    request_id: str
    def __init__(self, service_override: _Optional[_Union[_catalog_pb2.ServiceOverride, _Mapping]] = ..., update_mask: _Optional[_Union[_field_mask_pb2.FieldMask, _Mapping]] = ..., request_id: _Optional[str] = ...) -> None: ...

class UpdateServiceOverrideResponse(_message.Message):
    __slots__ = ("service_override",)
    SERVICE_OVERRIDE_FIELD_NUMBER: _ClassVar[int]
    service_override: _catalog_pb2.ServiceOverride
    def __init__(self, service_override: _Optional[_Union[_catalog_pb2.ServiceOverride, _Mapping]] = ...) -> None: ...

class DeleteServiceOverrideRequest(_message.Message):
    __slots__ = ("name", "request_id")
    NAME_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    name: str
    request_id: str
    def __init__(self, name: _Optional[str] = ..., request_id: _Optional[str] = ...) -> None: ...

class DeleteServiceOverrideResponse(_message.Message):
    __slots__ = ("menu_item",)
    MENU_ITEM_FIELD_NUMBER: _ClassVar[int]
    menu_item: _catalog_pb2.MenuItem
    def __init__(self, menu_item: _Optional[_Union[_catalog_pb2.MenuItem, _Mapping]] = ...) -> None: ...

class ListMenuItemsRequest(_message.Message):
    __slots__ = ("parent", "page_size", "page_token", "category", "online_bookable_only")
    PARENT_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    CATEGORY_FIELD_NUMBER: _ClassVar[int]
    ONLINE_BOOKABLE_ONLY_FIELD_NUMBER: _ClassVar[int]
    parent: str
    page_size: int
    page_token: str
    category: str
    online_bookable_only: bool
    def __init__(self, parent: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., category: _Optional[str] = ..., online_bookable_only: _Optional[bool] = ...) -> None: ...

class ListMenuItemsResponse(_message.Message):
    __slots__ = ("menu_items", "next_page_token")
    MENU_ITEMS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    menu_items: _containers.RepeatedCompositeFieldContainer[_catalog_pb2.MenuItem]
    next_page_token: str
    def __init__(self, menu_items: _Optional[_Iterable[_Union[_catalog_pb2.MenuItem, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class CreateStaffRequest(_message.Message):
    __slots__ = ("parent", "staff", "staff_id", "request_id")
    PARENT_FIELD_NUMBER: _ClassVar[int]
    STAFF_FIELD_NUMBER: _ClassVar[int]
    STAFF_ID_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    parent: str
    staff: _resources_pb2.Staff
    staff_id: str
    request_id: str
    def __init__(self, parent: _Optional[str] = ..., staff: _Optional[_Union[_resources_pb2.Staff, _Mapping]] = ..., staff_id: _Optional[str] = ..., request_id: _Optional[str] = ...) -> None: ...

class CreateStaffResponse(_message.Message):
    __slots__ = ("staff",)
    STAFF_FIELD_NUMBER: _ClassVar[int]
    staff: _resources_pb2.Staff
    def __init__(self, staff: _Optional[_Union[_resources_pb2.Staff, _Mapping]] = ...) -> None: ...

class GetStaffRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class GetStaffResponse(_message.Message):
    __slots__ = ("staff",)
    STAFF_FIELD_NUMBER: _ClassVar[int]
    staff: _resources_pb2.Staff
    def __init__(self, staff: _Optional[_Union[_resources_pb2.Staff, _Mapping]] = ...) -> None: ...

class ListStaffRequest(_message.Message):
    __slots__ = ("parent", "page_size", "page_token", "skill", "show_inactive")
    PARENT_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    SKILL_FIELD_NUMBER: _ClassVar[int]
    SHOW_INACTIVE_FIELD_NUMBER: _ClassVar[int]
    parent: str
    page_size: int
    page_token: str
    skill: str
    show_inactive: bool
    def __init__(self, parent: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., skill: _Optional[str] = ..., show_inactive: _Optional[bool] = ...) -> None: ...

class ListStaffResponse(_message.Message):
    __slots__ = ("staff", "next_page_token")
    STAFF_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    staff: _containers.RepeatedCompositeFieldContainer[_resources_pb2.Staff]
    next_page_token: str
    def __init__(self, staff: _Optional[_Iterable[_Union[_resources_pb2.Staff, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class UpdateStaffRequest(_message.Message):
    __slots__ = ("staff", "update_mask", "request_id")
    STAFF_FIELD_NUMBER: _ClassVar[int]
    UPDATE_MASK_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    staff: _resources_pb2.Staff
    update_mask: _field_mask_pb2.FieldMask
    request_id: str
    def __init__(self, staff: _Optional[_Union[_resources_pb2.Staff, _Mapping]] = ..., update_mask: _Optional[_Union[_field_mask_pb2.FieldMask, _Mapping]] = ..., request_id: _Optional[str] = ...) -> None: ...

class UpdateStaffResponse(_message.Message):
    __slots__ = ("staff", "conflicting_appointments")
    STAFF_FIELD_NUMBER: _ClassVar[int]
    CONFLICTING_APPOINTMENTS_FIELD_NUMBER: _ClassVar[int]
    staff: _resources_pb2.Staff
    conflicting_appointments: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, staff: _Optional[_Union[_resources_pb2.Staff, _Mapping]] = ..., conflicting_appointments: _Optional[_Iterable[str]] = ...) -> None: ...

class CreateScheduleExceptionRequest(_message.Message):
    __slots__ = ("parent", "schedule_exception", "allow_conflicts", "request_id")
    PARENT_FIELD_NUMBER: _ClassVar[int]
    SCHEDULE_EXCEPTION_FIELD_NUMBER: _ClassVar[int]
    ALLOW_CONFLICTS_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    parent: str
    schedule_exception: _resources_pb2.ScheduleException
    allow_conflicts: bool
    request_id: str
    def __init__(self, parent: _Optional[str] = ..., schedule_exception: _Optional[_Union[_resources_pb2.ScheduleException, _Mapping]] = ..., allow_conflicts: _Optional[bool] = ..., request_id: _Optional[str] = ...) -> None: ...

class CreateScheduleExceptionResponse(_message.Message):
    __slots__ = ("schedule_exception", "conflicting_appointments")
    SCHEDULE_EXCEPTION_FIELD_NUMBER: _ClassVar[int]
    CONFLICTING_APPOINTMENTS_FIELD_NUMBER: _ClassVar[int]
    schedule_exception: _resources_pb2.ScheduleException
    conflicting_appointments: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, schedule_exception: _Optional[_Union[_resources_pb2.ScheduleException, _Mapping]] = ..., conflicting_appointments: _Optional[_Iterable[str]] = ...) -> None: ...

class ListScheduleExceptionsRequest(_message.Message):
    __slots__ = ("parent", "page_size", "page_token", "from_date", "to_date")
    PARENT_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    FROM_DATE_FIELD_NUMBER: _ClassVar[int]
    TO_DATE_FIELD_NUMBER: _ClassVar[int]
    parent: str
    page_size: int
    page_token: str
    from_date: str
    to_date: str
    def __init__(self, parent: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., from_date: _Optional[str] = ..., to_date: _Optional[str] = ...) -> None: ...

class ListScheduleExceptionsResponse(_message.Message):
    __slots__ = ("schedule_exceptions", "next_page_token")
    SCHEDULE_EXCEPTIONS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    schedule_exceptions: _containers.RepeatedCompositeFieldContainer[_resources_pb2.ScheduleException]
    next_page_token: str
    def __init__(self, schedule_exceptions: _Optional[_Iterable[_Union[_resources_pb2.ScheduleException, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class DeleteScheduleExceptionRequest(_message.Message):
    __slots__ = ("name", "allow_conflicts", "request_id")
    NAME_FIELD_NUMBER: _ClassVar[int]
    ALLOW_CONFLICTS_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    name: str
    allow_conflicts: bool
    request_id: str
    def __init__(self, name: _Optional[str] = ..., allow_conflicts: _Optional[bool] = ..., request_id: _Optional[str] = ...) -> None: ...

class DeleteScheduleExceptionResponse(_message.Message):
    __slots__ = ("conflicting_appointments",)
    CONFLICTING_APPOINTMENTS_FIELD_NUMBER: _ClassVar[int]
    conflicting_appointments: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, conflicting_appointments: _Optional[_Iterable[str]] = ...) -> None: ...

class CreateRoomRequest(_message.Message):
    __slots__ = ("parent", "room", "room_id", "request_id")
    PARENT_FIELD_NUMBER: _ClassVar[int]
    ROOM_FIELD_NUMBER: _ClassVar[int]
    ROOM_ID_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    parent: str
    room: _resources_pb2.Room
    room_id: str
    request_id: str
    def __init__(self, parent: _Optional[str] = ..., room: _Optional[_Union[_resources_pb2.Room, _Mapping]] = ..., room_id: _Optional[str] = ..., request_id: _Optional[str] = ...) -> None: ...

class CreateRoomResponse(_message.Message):
    __slots__ = ("room",)
    ROOM_FIELD_NUMBER: _ClassVar[int]
    room: _resources_pb2.Room
    def __init__(self, room: _Optional[_Union[_resources_pb2.Room, _Mapping]] = ...) -> None: ...

class GetRoomRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class GetRoomResponse(_message.Message):
    __slots__ = ("room",)
    ROOM_FIELD_NUMBER: _ClassVar[int]
    room: _resources_pb2.Room
    def __init__(self, room: _Optional[_Union[_resources_pb2.Room, _Mapping]] = ...) -> None: ...

class ListRoomsRequest(_message.Message):
    __slots__ = ("parent", "page_size", "page_token", "room_type", "show_inactive")
    PARENT_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    ROOM_TYPE_FIELD_NUMBER: _ClassVar[int]
    SHOW_INACTIVE_FIELD_NUMBER: _ClassVar[int]
    parent: str
    page_size: int
    page_token: str
    room_type: str
    show_inactive: bool
    def __init__(self, parent: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., room_type: _Optional[str] = ..., show_inactive: _Optional[bool] = ...) -> None: ...

class ListRoomsResponse(_message.Message):
    __slots__ = ("rooms", "next_page_token")
    ROOMS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    rooms: _containers.RepeatedCompositeFieldContainer[_resources_pb2.Room]
    next_page_token: str
    def __init__(self, rooms: _Optional[_Iterable[_Union[_resources_pb2.Room, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class UpdateRoomRequest(_message.Message):
    __slots__ = ("room", "update_mask", "request_id")
    ROOM_FIELD_NUMBER: _ClassVar[int]
    UPDATE_MASK_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    room: _resources_pb2.Room
    update_mask: _field_mask_pb2.FieldMask
    request_id: str
    def __init__(self, room: _Optional[_Union[_resources_pb2.Room, _Mapping]] = ..., update_mask: _Optional[_Union[_field_mask_pb2.FieldMask, _Mapping]] = ..., request_id: _Optional[str] = ...) -> None: ...

class UpdateRoomResponse(_message.Message):
    __slots__ = ("room",)
    ROOM_FIELD_NUMBER: _ClassVar[int]
    room: _resources_pb2.Room
    def __init__(self, room: _Optional[_Union[_resources_pb2.Room, _Mapping]] = ...) -> None: ...

class CreateEquipmentRequest(_message.Message):
    __slots__ = ("parent", "equipment", "equipment_id", "request_id")
    PARENT_FIELD_NUMBER: _ClassVar[int]
    EQUIPMENT_FIELD_NUMBER: _ClassVar[int]
    EQUIPMENT_ID_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    parent: str
    equipment: _resources_pb2.Equipment
    equipment_id: str
    request_id: str
    def __init__(self, parent: _Optional[str] = ..., equipment: _Optional[_Union[_resources_pb2.Equipment, _Mapping]] = ..., equipment_id: _Optional[str] = ..., request_id: _Optional[str] = ...) -> None: ...

class CreateEquipmentResponse(_message.Message):
    __slots__ = ("equipment",)
    EQUIPMENT_FIELD_NUMBER: _ClassVar[int]
    equipment: _resources_pb2.Equipment
    def __init__(self, equipment: _Optional[_Union[_resources_pb2.Equipment, _Mapping]] = ...) -> None: ...

class GetEquipmentRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class GetEquipmentResponse(_message.Message):
    __slots__ = ("equipment",)
    EQUIPMENT_FIELD_NUMBER: _ClassVar[int]
    equipment: _resources_pb2.Equipment
    def __init__(self, equipment: _Optional[_Union[_resources_pb2.Equipment, _Mapping]] = ...) -> None: ...

class ListEquipmentRequest(_message.Message):
    __slots__ = ("parent", "page_size", "page_token", "kind", "show_inactive")
    PARENT_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    SHOW_INACTIVE_FIELD_NUMBER: _ClassVar[int]
    parent: str
    page_size: int
    page_token: str
    kind: str
    show_inactive: bool
    def __init__(self, parent: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., kind: _Optional[str] = ..., show_inactive: _Optional[bool] = ...) -> None: ...

class ListEquipmentResponse(_message.Message):
    __slots__ = ("equipment", "next_page_token")
    EQUIPMENT_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    equipment: _containers.RepeatedCompositeFieldContainer[_resources_pb2.Equipment]
    next_page_token: str
    def __init__(self, equipment: _Optional[_Iterable[_Union[_resources_pb2.Equipment, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class UpdateEquipmentRequest(_message.Message):
    __slots__ = ("equipment", "update_mask", "request_id")
    EQUIPMENT_FIELD_NUMBER: _ClassVar[int]
    UPDATE_MASK_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    equipment: _resources_pb2.Equipment
    update_mask: _field_mask_pb2.FieldMask
    request_id: str
    def __init__(self, equipment: _Optional[_Union[_resources_pb2.Equipment, _Mapping]] = ..., update_mask: _Optional[_Union[_field_mask_pb2.FieldMask, _Mapping]] = ..., request_id: _Optional[str] = ...) -> None: ...

class UpdateEquipmentResponse(_message.Message):
    __slots__ = ("equipment",)
    EQUIPMENT_FIELD_NUMBER: _ClassVar[int]
    equipment: _resources_pb2.Equipment
    def __init__(self, equipment: _Optional[_Union[_resources_pb2.Equipment, _Mapping]] = ...) -> None: ...

class QueryAvailabilityRequest(_message.Message):
    __slots__ = ("store", "start_date", "end_date", "services", "preferred_staff", "member", "channel", "page_size", "page_token")
    STORE_FIELD_NUMBER: _ClassVar[int]
    START_DATE_FIELD_NUMBER: _ClassVar[int]
    END_DATE_FIELD_NUMBER: _ClassVar[int]
    SERVICES_FIELD_NUMBER: _ClassVar[int]
    PREFERRED_STAFF_FIELD_NUMBER: _ClassVar[int]
    MEMBER_FIELD_NUMBER: _ClassVar[int]
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    store: str
    start_date: str
    end_date: str
    services: _containers.RepeatedScalarFieldContainer[str]
    preferred_staff: str
    member: str
    channel: _appointments_pb2.BookingChannel
    page_size: int
    page_token: str
    def __init__(self, store: _Optional[str] = ..., start_date: _Optional[str] = ..., end_date: _Optional[str] = ..., services: _Optional[_Iterable[str]] = ..., preferred_staff: _Optional[str] = ..., member: _Optional[str] = ..., channel: _Optional[_Union[_appointments_pb2.BookingChannel, str]] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class QueryAvailabilityResponse(_message.Message):
    __slots__ = ("slots", "next_page_token", "time_zone", "bookable_until")
    SLOTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    TIME_ZONE_FIELD_NUMBER: _ClassVar[int]
    BOOKABLE_UNTIL_FIELD_NUMBER: _ClassVar[int]
    slots: _containers.RepeatedCompositeFieldContainer[_availability_pb2.Slot]
    next_page_token: str
    time_zone: str
    bookable_until: _timestamp_pb2.Timestamp
    def __init__(self, slots: _Optional[_Iterable[_Union[_availability_pb2.Slot, _Mapping]]] = ..., next_page_token: _Optional[str] = ..., time_zone: _Optional[str] = ..., bookable_until: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class BookAppointmentRequest(_message.Message):
    __slots__ = ("member", "store", "services", "start_time", "assignments", "preferred_staff", "channel", "wallet_hold", "notes", "staff_override", "override_reason", "request_id", "card_number")
    MEMBER_FIELD_NUMBER: _ClassVar[int]
    STORE_FIELD_NUMBER: _ClassVar[int]
    SERVICES_FIELD_NUMBER: _ClassVar[int]
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    ASSIGNMENTS_FIELD_NUMBER: _ClassVar[int]
    PREFERRED_STAFF_FIELD_NUMBER: _ClassVar[int]
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    WALLET_HOLD_FIELD_NUMBER: _ClassVar[int]
    NOTES_FIELD_NUMBER: _ClassVar[int]
    STAFF_OVERRIDE_FIELD_NUMBER: _ClassVar[int]
    OVERRIDE_REASON_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    CARD_NUMBER_FIELD_NUMBER: _ClassVar[int]
    member: str
    store: str
    services: _containers.RepeatedScalarFieldContainer[str]
    start_time: _timestamp_pb2.Timestamp
    assignments: _containers.RepeatedCompositeFieldContainer[_availability_pb2.SlotAssignment]
    preferred_staff: str
    channel: _appointments_pb2.BookingChannel
    wallet_hold: _appointments_pb2.WalletHoldSpec
    notes: str
    staff_override: bool
    override_reason: str
    request_id: str
    card_number: str
    def __init__(self, member: _Optional[str] = ..., store: _Optional[str] = ..., services: _Optional[_Iterable[str]] = ..., start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., assignments: _Optional[_Iterable[_Union[_availability_pb2.SlotAssignment, _Mapping]]] = ..., preferred_staff: _Optional[str] = ..., channel: _Optional[_Union[_appointments_pb2.BookingChannel, str]] = ..., wallet_hold: _Optional[_Union[_appointments_pb2.WalletHoldSpec, _Mapping]] = ..., notes: _Optional[str] = ..., staff_override: _Optional[bool] = ..., override_reason: _Optional[str] = ..., request_id: _Optional[str] = ..., card_number: _Optional[str] = ...) -> None: ...

class BookAppointmentResponse(_message.Message):
    __slots__ = ("appointment",)
    APPOINTMENT_FIELD_NUMBER: _ClassVar[int]
    appointment: _appointments_pb2.Appointment
    def __init__(self, appointment: _Optional[_Union[_appointments_pb2.Appointment, _Mapping]] = ...) -> None: ...

class GetAppointmentRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class GetAppointmentResponse(_message.Message):
    __slots__ = ("appointment",)
    APPOINTMENT_FIELD_NUMBER: _ClassVar[int]
    appointment: _appointments_pb2.Appointment
    def __init__(self, appointment: _Optional[_Union[_appointments_pb2.Appointment, _Mapping]] = ...) -> None: ...

class ListAppointmentsRequest(_message.Message):
    __slots__ = ("page_size", "page_token", "store", "member", "staff", "states", "start_time_from", "start_time_to")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    STORE_FIELD_NUMBER: _ClassVar[int]
    MEMBER_FIELD_NUMBER: _ClassVar[int]
    STAFF_FIELD_NUMBER: _ClassVar[int]
    STATES_FIELD_NUMBER: _ClassVar[int]
    START_TIME_FROM_FIELD_NUMBER: _ClassVar[int]
    START_TIME_TO_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    store: str
    member: str
    staff: str
    states: _containers.RepeatedScalarFieldContainer[_appointments_pb2.AppointmentState]
    start_time_from: _timestamp_pb2.Timestamp
    start_time_to: _timestamp_pb2.Timestamp
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., store: _Optional[str] = ..., member: _Optional[str] = ..., staff: _Optional[str] = ..., states: _Optional[_Iterable[_Union[_appointments_pb2.AppointmentState, str]]] = ..., start_time_from: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., start_time_to: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ListAppointmentsResponse(_message.Message):
    __slots__ = ("appointments", "next_page_token")
    APPOINTMENTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    appointments: _containers.RepeatedCompositeFieldContainer[_appointments_pb2.Appointment]
    next_page_token: str
    def __init__(self, appointments: _Optional[_Iterable[_Union[_appointments_pb2.Appointment, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class UpdateAppointmentRequest(_message.Message):
    __slots__ = ("appointment", "update_mask", "request_id")
    APPOINTMENT_FIELD_NUMBER: _ClassVar[int]
    UPDATE_MASK_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    appointment: _appointments_pb2.Appointment
    update_mask: _field_mask_pb2.FieldMask
    request_id: str
    def __init__(self, appointment: _Optional[_Union[_appointments_pb2.Appointment, _Mapping]] = ..., update_mask: _Optional[_Union[_field_mask_pb2.FieldMask, _Mapping]] = ..., request_id: _Optional[str] = ...) -> None: ...

class UpdateAppointmentResponse(_message.Message):
    __slots__ = ("appointment",)
    APPOINTMENT_FIELD_NUMBER: _ClassVar[int]
    appointment: _appointments_pb2.Appointment
    def __init__(self, appointment: _Optional[_Union[_appointments_pb2.Appointment, _Mapping]] = ...) -> None: ...

class RescheduleAppointmentRequest(_message.Message):
    __slots__ = ("name", "start_time", "assignments", "preferred_staff", "payment_pin", "staff_override", "override_reason", "request_id")
    NAME_FIELD_NUMBER: _ClassVar[int]
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    ASSIGNMENTS_FIELD_NUMBER: _ClassVar[int]
    PREFERRED_STAFF_FIELD_NUMBER: _ClassVar[int]
    PAYMENT_PIN_FIELD_NUMBER: _ClassVar[int]
    STAFF_OVERRIDE_FIELD_NUMBER: _ClassVar[int]
    OVERRIDE_REASON_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    name: str
    start_time: _timestamp_pb2.Timestamp
    assignments: _containers.RepeatedCompositeFieldContainer[_availability_pb2.SlotAssignment]
    preferred_staff: str
    payment_pin: str
    staff_override: bool
    override_reason: str
    request_id: str
    def __init__(self, name: _Optional[str] = ..., start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., assignments: _Optional[_Iterable[_Union[_availability_pb2.SlotAssignment, _Mapping]]] = ..., preferred_staff: _Optional[str] = ..., payment_pin: _Optional[str] = ..., staff_override: _Optional[bool] = ..., override_reason: _Optional[str] = ..., request_id: _Optional[str] = ...) -> None: ...

class RescheduleAppointmentResponse(_message.Message):
    __slots__ = ("appointment",)
    APPOINTMENT_FIELD_NUMBER: _ClassVar[int]
    appointment: _appointments_pb2.Appointment
    def __init__(self, appointment: _Optional[_Union[_appointments_pb2.Appointment, _Mapping]] = ...) -> None: ...

class CancelAppointmentRequest(_message.Message):
    __slots__ = ("name", "reason", "waive_late_cancel", "request_id")
    NAME_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    WAIVE_LATE_CANCEL_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    name: str
    reason: str
    waive_late_cancel: bool
    request_id: str
    def __init__(self, name: _Optional[str] = ..., reason: _Optional[str] = ..., waive_late_cancel: _Optional[bool] = ..., request_id: _Optional[str] = ...) -> None: ...

class CancelAppointmentResponse(_message.Message):
    __slots__ = ("appointment",)
    APPOINTMENT_FIELD_NUMBER: _ClassVar[int]
    appointment: _appointments_pb2.Appointment
    def __init__(self, appointment: _Optional[_Union[_appointments_pb2.Appointment, _Mapping]] = ...) -> None: ...

class CheckInAppointmentRequest(_message.Message):
    __slots__ = ("name", "request_id")
    NAME_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    name: str
    request_id: str
    def __init__(self, name: _Optional[str] = ..., request_id: _Optional[str] = ...) -> None: ...

class CheckInAppointmentResponse(_message.Message):
    __slots__ = ("appointment",)
    APPOINTMENT_FIELD_NUMBER: _ClassVar[int]
    appointment: _appointments_pb2.Appointment
    def __init__(self, appointment: _Optional[_Union[_appointments_pb2.Appointment, _Mapping]] = ...) -> None: ...

class CompleteAppointmentRequest(_message.Message):
    __slots__ = ("name", "hold_settlement", "request_id")
    NAME_FIELD_NUMBER: _ClassVar[int]
    HOLD_SETTLEMENT_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    name: str
    hold_settlement: _appointments_pb2.HoldSettlement
    request_id: str
    def __init__(self, name: _Optional[str] = ..., hold_settlement: _Optional[_Union[_appointments_pb2.HoldSettlement, str]] = ..., request_id: _Optional[str] = ...) -> None: ...

class CompleteAppointmentResponse(_message.Message):
    __slots__ = ("appointment", "follow_ups")
    APPOINTMENT_FIELD_NUMBER: _ClassVar[int]
    FOLLOW_UPS_FIELD_NUMBER: _ClassVar[int]
    appointment: _appointments_pb2.Appointment
    follow_ups: _containers.RepeatedCompositeFieldContainer[_appointments_pb2.FollowUp]
    def __init__(self, appointment: _Optional[_Union[_appointments_pb2.Appointment, _Mapping]] = ..., follow_ups: _Optional[_Iterable[_Union[_appointments_pb2.FollowUp, _Mapping]]] = ...) -> None: ...

class MarkNoShowRequest(_message.Message):
    __slots__ = ("name", "request_id")
    NAME_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    name: str
    request_id: str
    def __init__(self, name: _Optional[str] = ..., request_id: _Optional[str] = ...) -> None: ...

class MarkNoShowResponse(_message.Message):
    __slots__ = ("appointment", "booking_standing")
    APPOINTMENT_FIELD_NUMBER: _ClassVar[int]
    BOOKING_STANDING_FIELD_NUMBER: _ClassVar[int]
    appointment: _appointments_pb2.Appointment
    booking_standing: _appointments_pb2.BookingStanding
    def __init__(self, appointment: _Optional[_Union[_appointments_pb2.Appointment, _Mapping]] = ..., booking_standing: _Optional[_Union[_appointments_pb2.BookingStanding, _Mapping]] = ...) -> None: ...

class GetBookingPolicyRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class GetBookingPolicyResponse(_message.Message):
    __slots__ = ("booking_policy",)
    BOOKING_POLICY_FIELD_NUMBER: _ClassVar[int]
    booking_policy: _appointments_pb2.BookingPolicy
    def __init__(self, booking_policy: _Optional[_Union[_appointments_pb2.BookingPolicy, _Mapping]] = ...) -> None: ...

class UpdateBookingPolicyRequest(_message.Message):
    __slots__ = ("booking_policy", "update_mask", "request_id")
    BOOKING_POLICY_FIELD_NUMBER: _ClassVar[int]
    UPDATE_MASK_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    booking_policy: _appointments_pb2.BookingPolicy
    update_mask: _field_mask_pb2.FieldMask
    request_id: str
    def __init__(self, booking_policy: _Optional[_Union[_appointments_pb2.BookingPolicy, _Mapping]] = ..., update_mask: _Optional[_Union[_field_mask_pb2.FieldMask, _Mapping]] = ..., request_id: _Optional[str] = ...) -> None: ...

class UpdateBookingPolicyResponse(_message.Message):
    __slots__ = ("booking_policy",)
    BOOKING_POLICY_FIELD_NUMBER: _ClassVar[int]
    booking_policy: _appointments_pb2.BookingPolicy
    def __init__(self, booking_policy: _Optional[_Union[_appointments_pb2.BookingPolicy, _Mapping]] = ...) -> None: ...

class GetBookingStandingRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class GetBookingStandingResponse(_message.Message):
    __slots__ = ("booking_standing",)
    BOOKING_STANDING_FIELD_NUMBER: _ClassVar[int]
    booking_standing: _appointments_pb2.BookingStanding
    def __init__(self, booking_standing: _Optional[_Union[_appointments_pb2.BookingStanding, _Mapping]] = ...) -> None: ...

class LiftBookingRestrictionRequest(_message.Message):
    __slots__ = ("name", "reason", "request_id")
    NAME_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    name: str
    reason: str
    request_id: str
    def __init__(self, name: _Optional[str] = ..., reason: _Optional[str] = ..., request_id: _Optional[str] = ...) -> None: ...

class LiftBookingRestrictionResponse(_message.Message):
    __slots__ = ("booking_standing",)
    BOOKING_STANDING_FIELD_NUMBER: _ClassVar[int]
    booking_standing: _appointments_pb2.BookingStanding
    def __init__(self, booking_standing: _Optional[_Union[_appointments_pb2.BookingStanding, _Mapping]] = ...) -> None: ...

class CreateServicePlanRequest(_message.Message):
    __slots__ = ("service_plan", "service_plan_id", "request_id")
    SERVICE_PLAN_FIELD_NUMBER: _ClassVar[int]
    SERVICE_PLAN_ID_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    service_plan: _appointments_pb2.ServicePlan
    service_plan_id: str
    request_id: str
    def __init__(self, service_plan: _Optional[_Union[_appointments_pb2.ServicePlan, _Mapping]] = ..., service_plan_id: _Optional[str] = ..., request_id: _Optional[str] = ...) -> None: ...

class CreateServicePlanResponse(_message.Message):
    __slots__ = ("service_plan",)
    SERVICE_PLAN_FIELD_NUMBER: _ClassVar[int]
    service_plan: _appointments_pb2.ServicePlan
    def __init__(self, service_plan: _Optional[_Union[_appointments_pb2.ServicePlan, _Mapping]] = ...) -> None: ...

class GetServicePlanRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class GetServicePlanResponse(_message.Message):
    __slots__ = ("service_plan",)
    SERVICE_PLAN_FIELD_NUMBER: _ClassVar[int]
    service_plan: _appointments_pb2.ServicePlan
    def __init__(self, service_plan: _Optional[_Union[_appointments_pb2.ServicePlan, _Mapping]] = ...) -> None: ...

class ListServicePlansRequest(_message.Message):
    __slots__ = ("page_size", "page_token", "trigger_service", "show_inactive")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    TRIGGER_SERVICE_FIELD_NUMBER: _ClassVar[int]
    SHOW_INACTIVE_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    trigger_service: str
    show_inactive: bool
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., trigger_service: _Optional[str] = ..., show_inactive: _Optional[bool] = ...) -> None: ...

class ListServicePlansResponse(_message.Message):
    __slots__ = ("service_plans", "next_page_token")
    SERVICE_PLANS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    service_plans: _containers.RepeatedCompositeFieldContainer[_appointments_pb2.ServicePlan]
    next_page_token: str
    def __init__(self, service_plans: _Optional[_Iterable[_Union[_appointments_pb2.ServicePlan, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class UpdateServicePlanRequest(_message.Message):
    __slots__ = ("service_plan", "update_mask", "request_id")
    SERVICE_PLAN_FIELD_NUMBER: _ClassVar[int]
    UPDATE_MASK_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    service_plan: _appointments_pb2.ServicePlan
    update_mask: _field_mask_pb2.FieldMask
    request_id: str
    def __init__(self, service_plan: _Optional[_Union[_appointments_pb2.ServicePlan, _Mapping]] = ..., update_mask: _Optional[_Union[_field_mask_pb2.FieldMask, _Mapping]] = ..., request_id: _Optional[str] = ...) -> None: ...

class UpdateServicePlanResponse(_message.Message):
    __slots__ = ("service_plan",)
    SERVICE_PLAN_FIELD_NUMBER: _ClassVar[int]
    service_plan: _appointments_pb2.ServicePlan
    def __init__(self, service_plan: _Optional[_Union[_appointments_pb2.ServicePlan, _Mapping]] = ...) -> None: ...

class ListFollowUpsRequest(_message.Message):
    __slots__ = ("page_size", "page_token", "member", "store", "service_plan", "state")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    MEMBER_FIELD_NUMBER: _ClassVar[int]
    STORE_FIELD_NUMBER: _ClassVar[int]
    SERVICE_PLAN_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    member: str
    store: str
    service_plan: str
    state: _appointments_pb2.FollowUpState
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., member: _Optional[str] = ..., store: _Optional[str] = ..., service_plan: _Optional[str] = ..., state: _Optional[_Union[_appointments_pb2.FollowUpState, str]] = ...) -> None: ...

class ListFollowUpsResponse(_message.Message):
    __slots__ = ("follow_ups", "next_page_token")
    FOLLOW_UPS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    follow_ups: _containers.RepeatedCompositeFieldContainer[_appointments_pb2.FollowUp]
    next_page_token: str
    def __init__(self, follow_ups: _Optional[_Iterable[_Union[_appointments_pb2.FollowUp, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class ListDueFollowUpsRequest(_message.Message):
    __slots__ = ("store", "page_size", "page_token")
    STORE_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    store: str
    page_size: int
    page_token: str
    def __init__(self, store: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListDueFollowUpsResponse(_message.Message):
    __slots__ = ("follow_ups", "next_page_token")
    FOLLOW_UPS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    follow_ups: _containers.RepeatedCompositeFieldContainer[_appointments_pb2.FollowUp]
    next_page_token: str
    def __init__(self, follow_ups: _Optional[_Iterable[_Union[_appointments_pb2.FollowUp, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class ResolveFollowUpRequest(_message.Message):
    __slots__ = ("name", "outcome", "booked_appointment", "request_id")
    NAME_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    BOOKED_APPOINTMENT_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    name: str
    outcome: _appointments_pb2.FollowUpOutcome
    booked_appointment: str
    request_id: str
    def __init__(self, name: _Optional[str] = ..., outcome: _Optional[_Union[_appointments_pb2.FollowUpOutcome, str]] = ..., booked_appointment: _Optional[str] = ..., request_id: _Optional[str] = ...) -> None: ...

class ResolveFollowUpResponse(_message.Message):
    __slots__ = ("follow_up",)
    FOLLOW_UP_FIELD_NUMBER: _ClassVar[int]
    follow_up: _appointments_pb2.FollowUp
    def __init__(self, follow_up: _Optional[_Union[_appointments_pb2.FollowUp, _Mapping]] = ...) -> None: ...

class JoinWaitlistRequest(_message.Message):
    __slots__ = ("waitlist_entry", "request_id")
    WAITLIST_ENTRY_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    waitlist_entry: _waitlist_pb2.WaitlistEntry
    request_id: str
    def __init__(self, waitlist_entry: _Optional[_Union[_waitlist_pb2.WaitlistEntry, _Mapping]] = ..., request_id: _Optional[str] = ...) -> None: ...

class JoinWaitlistResponse(_message.Message):
    __slots__ = ("waitlist_entry",)
    WAITLIST_ENTRY_FIELD_NUMBER: _ClassVar[int]
    waitlist_entry: _waitlist_pb2.WaitlistEntry
    def __init__(self, waitlist_entry: _Optional[_Union[_waitlist_pb2.WaitlistEntry, _Mapping]] = ...) -> None: ...

class GetWaitlistEntryRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class GetWaitlistEntryResponse(_message.Message):
    __slots__ = ("waitlist_entry",)
    WAITLIST_ENTRY_FIELD_NUMBER: _ClassVar[int]
    waitlist_entry: _waitlist_pb2.WaitlistEntry
    def __init__(self, waitlist_entry: _Optional[_Union[_waitlist_pb2.WaitlistEntry, _Mapping]] = ...) -> None: ...

class ListWaitlistEntriesRequest(_message.Message):
    __slots__ = ("page_size", "page_token", "store", "date", "member", "states")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    STORE_FIELD_NUMBER: _ClassVar[int]
    DATE_FIELD_NUMBER: _ClassVar[int]
    MEMBER_FIELD_NUMBER: _ClassVar[int]
    STATES_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    store: str
    date: str
    member: str
    states: _containers.RepeatedScalarFieldContainer[_waitlist_pb2.WaitlistEntryState]
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., store: _Optional[str] = ..., date: _Optional[str] = ..., member: _Optional[str] = ..., states: _Optional[_Iterable[_Union[_waitlist_pb2.WaitlistEntryState, str]]] = ...) -> None: ...

class ListWaitlistEntriesResponse(_message.Message):
    __slots__ = ("waitlist_entries", "next_page_token")
    WAITLIST_ENTRIES_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    waitlist_entries: _containers.RepeatedCompositeFieldContainer[_waitlist_pb2.WaitlistEntry]
    next_page_token: str
    def __init__(self, waitlist_entries: _Optional[_Iterable[_Union[_waitlist_pb2.WaitlistEntry, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class LeaveWaitlistRequest(_message.Message):
    __slots__ = ("name", "request_id")
    NAME_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    name: str
    request_id: str
    def __init__(self, name: _Optional[str] = ..., request_id: _Optional[str] = ...) -> None: ...

class LeaveWaitlistResponse(_message.Message):
    __slots__ = ("waitlist_entry",)
    WAITLIST_ENTRY_FIELD_NUMBER: _ClassVar[int]
    waitlist_entry: _waitlist_pb2.WaitlistEntry
    def __init__(self, waitlist_entry: _Optional[_Union[_waitlist_pb2.WaitlistEntry, _Mapping]] = ...) -> None: ...

class AcceptWaitlistOfferRequest(_message.Message):
    __slots__ = ("name", "wallet_hold", "notes", "request_id")
    NAME_FIELD_NUMBER: _ClassVar[int]
    WALLET_HOLD_FIELD_NUMBER: _ClassVar[int]
    NOTES_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    name: str
    wallet_hold: _appointments_pb2.WalletHoldSpec
    notes: str
    request_id: str
    def __init__(self, name: _Optional[str] = ..., wallet_hold: _Optional[_Union[_appointments_pb2.WalletHoldSpec, _Mapping]] = ..., notes: _Optional[str] = ..., request_id: _Optional[str] = ...) -> None: ...

class AcceptWaitlistOfferResponse(_message.Message):
    __slots__ = ("waitlist_entry", "appointment")
    WAITLIST_ENTRY_FIELD_NUMBER: _ClassVar[int]
    APPOINTMENT_FIELD_NUMBER: _ClassVar[int]
    waitlist_entry: _waitlist_pb2.WaitlistEntry
    appointment: _appointments_pb2.Appointment
    def __init__(self, waitlist_entry: _Optional[_Union[_waitlist_pb2.WaitlistEntry, _Mapping]] = ..., appointment: _Optional[_Union[_appointments_pb2.Appointment, _Mapping]] = ...) -> None: ...

class DeclineWaitlistOfferRequest(_message.Message):
    __slots__ = ("name", "request_id")
    NAME_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    name: str
    request_id: str
    def __init__(self, name: _Optional[str] = ..., request_id: _Optional[str] = ...) -> None: ...

class DeclineWaitlistOfferResponse(_message.Message):
    __slots__ = ("waitlist_entry",)
    WAITLIST_ENTRY_FIELD_NUMBER: _ClassVar[int]
    waitlist_entry: _waitlist_pb2.WaitlistEntry
    def __init__(self, waitlist_entry: _Optional[_Union[_waitlist_pb2.WaitlistEntry, _Mapping]] = ...) -> None: ...

class SubmitFeedbackRequest(_message.Message):
    __slots__ = ("parent", "feedback", "request_id")
    PARENT_FIELD_NUMBER: _ClassVar[int]
    FEEDBACK_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    parent: str
    feedback: _feedback_pb2.Feedback
    request_id: str
    def __init__(self, parent: _Optional[str] = ..., feedback: _Optional[_Union[_feedback_pb2.Feedback, _Mapping]] = ..., request_id: _Optional[str] = ...) -> None: ...

class SubmitFeedbackResponse(_message.Message):
    __slots__ = ("feedback",)
    FEEDBACK_FIELD_NUMBER: _ClassVar[int]
    feedback: _feedback_pb2.Feedback
    def __init__(self, feedback: _Optional[_Union[_feedback_pb2.Feedback, _Mapping]] = ...) -> None: ...

class GetFeedbackRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class GetFeedbackResponse(_message.Message):
    __slots__ = ("feedback",)
    FEEDBACK_FIELD_NUMBER: _ClassVar[int]
    feedback: _feedback_pb2.Feedback
    def __init__(self, feedback: _Optional[_Union[_feedback_pb2.Feedback, _Mapping]] = ...) -> None: ...

class ListFeedbackRequest(_message.Message):
    __slots__ = ("page_size", "page_token", "store", "staff", "max_rating", "create_time_from", "create_time_to")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    STORE_FIELD_NUMBER: _ClassVar[int]
    STAFF_FIELD_NUMBER: _ClassVar[int]
    MAX_RATING_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FROM_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_TO_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    store: str
    staff: str
    max_rating: int
    create_time_from: _timestamp_pb2.Timestamp
    create_time_to: _timestamp_pb2.Timestamp
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., store: _Optional[str] = ..., staff: _Optional[str] = ..., max_rating: _Optional[int] = ..., create_time_from: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., create_time_to: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ListFeedbackResponse(_message.Message):
    __slots__ = ("feedback", "next_page_token", "average_rating_centi", "total_size")
    FEEDBACK_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    AVERAGE_RATING_CENTI_FIELD_NUMBER: _ClassVar[int]
    TOTAL_SIZE_FIELD_NUMBER: _ClassVar[int]
    feedback: _containers.RepeatedCompositeFieldContainer[_feedback_pb2.Feedback]
    next_page_token: str
    average_rating_centi: int
    total_size: int
    def __init__(self, feedback: _Optional[_Iterable[_Union[_feedback_pb2.Feedback, _Mapping]]] = ..., next_page_token: _Optional[str] = ..., average_rating_centi: _Optional[int] = ..., total_size: _Optional[int] = ...) -> None: ...

class OpenComplaintRequest(_message.Message):
    __slots__ = ("complaint", "request_id")
    COMPLAINT_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    complaint: _feedback_pb2.Complaint
    request_id: str
    def __init__(self, complaint: _Optional[_Union[_feedback_pb2.Complaint, _Mapping]] = ..., request_id: _Optional[str] = ...) -> None: ...

class OpenComplaintResponse(_message.Message):
    __slots__ = ("complaint",)
    COMPLAINT_FIELD_NUMBER: _ClassVar[int]
    complaint: _feedback_pb2.Complaint
    def __init__(self, complaint: _Optional[_Union[_feedback_pb2.Complaint, _Mapping]] = ...) -> None: ...

class GetComplaintRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class GetComplaintResponse(_message.Message):
    __slots__ = ("complaint",)
    COMPLAINT_FIELD_NUMBER: _ClassVar[int]
    complaint: _feedback_pb2.Complaint
    def __init__(self, complaint: _Optional[_Union[_feedback_pb2.Complaint, _Mapping]] = ...) -> None: ...

class ListComplaintsRequest(_message.Message):
    __slots__ = ("page_size", "page_token", "store", "member", "states", "sla_breached_only")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    STORE_FIELD_NUMBER: _ClassVar[int]
    MEMBER_FIELD_NUMBER: _ClassVar[int]
    STATES_FIELD_NUMBER: _ClassVar[int]
    SLA_BREACHED_ONLY_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    store: str
    member: str
    states: _containers.RepeatedScalarFieldContainer[_feedback_pb2.ComplaintState]
    sla_breached_only: bool
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., store: _Optional[str] = ..., member: _Optional[str] = ..., states: _Optional[_Iterable[_Union[_feedback_pb2.ComplaintState, str]]] = ..., sla_breached_only: _Optional[bool] = ...) -> None: ...

class ListComplaintsResponse(_message.Message):
    __slots__ = ("complaints", "next_page_token")
    COMPLAINTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    complaints: _containers.RepeatedCompositeFieldContainer[_feedback_pb2.Complaint]
    next_page_token: str
    def __init__(self, complaints: _Optional[_Iterable[_Union[_feedback_pb2.Complaint, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class RespondToComplaintRequest(_message.Message):
    __slots__ = ("name", "message", "request_id")
    NAME_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    name: str
    message: str
    request_id: str
    def __init__(self, name: _Optional[str] = ..., message: _Optional[str] = ..., request_id: _Optional[str] = ...) -> None: ...

class RespondToComplaintResponse(_message.Message):
    __slots__ = ("complaint",)
    COMPLAINT_FIELD_NUMBER: _ClassVar[int]
    complaint: _feedback_pb2.Complaint
    def __init__(self, complaint: _Optional[_Union[_feedback_pb2.Complaint, _Mapping]] = ...) -> None: ...

class ResolveComplaintRequest(_message.Message):
    __slots__ = ("name", "resolution", "request_id")
    NAME_FIELD_NUMBER: _ClassVar[int]
    RESOLUTION_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    name: str
    resolution: str
    request_id: str
    def __init__(self, name: _Optional[str] = ..., resolution: _Optional[str] = ..., request_id: _Optional[str] = ...) -> None: ...

class ResolveComplaintResponse(_message.Message):
    __slots__ = ("complaint",)
    COMPLAINT_FIELD_NUMBER: _ClassVar[int]
    complaint: _feedback_pb2.Complaint
    def __init__(self, complaint: _Optional[_Union[_feedback_pb2.Complaint, _Mapping]] = ...) -> None: ...
