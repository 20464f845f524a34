"""kit.fieldmask: AIP-134 update masks."""

from __future__ import annotations

import pytest
from google.protobuf.field_mask_pb2 import FieldMask
from peony.booking.v1 import resources_pb2

from kit.errors import InvalidArgument
from kit.fieldmask import checked_paths, mask_paths

ALLOWED = ("display_name", "capacity", "active")


def test_an_empty_mask_means_the_populated_fields_the_caller_may_change():
    room = resources_pb2.Room(name="stores/s1/rooms/r1", display_name="Bed 2", capacity=2)
    assert mask_paths(FieldMask(), room, ALLOWED) == ["display_name", "capacity"]  # not `name`
    assert checked_paths(FieldMask(), room, ALLOWED) == ["display_name", "capacity"]


def test_a_mask_is_taken_as_given_once_each_even_for_zero_values():
    room = resources_pb2.Room(display_name="Bed 2")
    mask = FieldMask(paths=["active", "display_name", "active"])
    assert checked_paths(mask, room, ALLOWED) == ["active", "display_name"]


def test_populated_decides_what_an_empty_mask_means():
    room = resources_pb2.Room()
    assert checked_paths(FieldMask(), room, ALLOWED, populated=lambda: ["active"]) == ["active"]
    assert checked_paths(FieldMask(paths=["capacity"]), room, ALLOWED, populated=lambda: ["active"]) == [
        "capacity"
    ]


@pytest.mark.parametrize(
    ("mask", "message", "violations"),
    [
        (
            FieldMask(paths=["name", "capacity"]),
            resources_pb2.Room(),
            [("update_mask", "'name' is not a field you can update")],
        ),
        (FieldMask(), resources_pb2.Room(), [("update_mask", "name at least one field to update")]),
    ],
)
def test_a_field_the_caller_may_not_change_or_nothing_at_all_is_refused(mask, message, violations):
    with pytest.raises(InvalidArgument) as err:
        checked_paths(mask, message, ALLOWED)
    assert err.value.violations == violations
