"""Helpers to exercise the gateway generically against the real (generated) Peony services."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

from google.protobuf.descriptor import FieldDescriptor

from gateway.routing import Route, Variable
from gateway.services import EXPOSED_SERVICES, find_service

_counter = itertools.count(1)


def available_services():
    """``[(descriptor, backend)]`` of the registered services whose generated code exists."""
    out = []
    for entry in EXPOSED_SERVICES:
        try:
            out.append((find_service(entry.full_name), entry.backend))
        except LookupError:
            continue
    return out


@dataclass
class Sample:
    path: str
    expected: dict[str, str]  # dotted field path -> value the backend must receive


def _fill(segments, is_string: bool) -> str:
    parts = []
    for seg in segments:
        if seg == "*":
            parts.append(f"id-{next(_counter)}" if is_string else str(next(_counter)))
        elif seg == "**":
            parts.append(f"deep-{next(_counter)}/leaf")
        else:
            parts.append(seg)
    return "/".join(parts)


def sample_path(route: Route) -> Sample:
    """A concrete request path for ``route`` and the path fields it binds."""
    leaf_types = {b.variable.dotted: b.fields[-1].type for b in route.variables}
    expected: dict[str, str] = {}
    parts = []
    for item in route.template.items:
        if isinstance(item, Variable):
            value = _fill(item.segments, leaf_types[item.dotted] == FieldDescriptor.TYPE_STRING)
            if item.segments == ("*",) and leaf_types[item.dotted] == FieldDescriptor.TYPE_STRING:
                value = f"v-{next(_counter)}"
            expected[item.dotted] = value
            parts.append(value)
        else:
            parts.append(_fill((item,), True))
    path = "/" + "/".join(parts)
    if route.template.verb:
        path += ":" + route.template.verb
    return Sample(path=path, expected=expected)


def get_path(message, dotted: str):
    for name in dotted.split("."):
        message = getattr(message, name)
    return message
