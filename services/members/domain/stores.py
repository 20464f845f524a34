"""Stores (门店) of a tenant."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from kit.errors import Violations
from services.members.domain.values import MAX_TEXT, valid_hhmm, valid_time_zone

DEFAULT_TIME_ZONE = "Asia/Shanghai"


@dataclass(frozen=True)
class OpeningHours:
    day_of_week: int  # ISO: 1 = Monday .. 7 = Sunday
    open_time: str
    close_time: str


@dataclass
class Store:
    store_id: str
    display_name: str
    address: str = ""
    time_zone: str = DEFAULT_TIME_ZONE
    opening_hours: list[OpeningHours] = field(default_factory=list)
    create_time: datetime | None = None
    update_time: datetime | None = None

    def validate(self, prefix: str = "store") -> None:
        v = Violations()
        if not self.display_name.strip():
            v.add(f"{prefix}.display_name", "is required")
        elif len(self.display_name) > 200:
            v.add(f"{prefix}.display_name", "must be at most 200 characters")
        if len(self.address) > MAX_TEXT:
            v.add(f"{prefix}.address", f"must be at most {MAX_TEXT} characters")
        if not valid_time_zone(self.time_zone):
            v.add(f"{prefix}.time_zone", "must be an IANA time zone such as Asia/Shanghai")
        for i, hours in enumerate(self.opening_hours):
            p = f"{prefix}.opening_hours[{i}]"
            if not 1 <= hours.day_of_week <= 7:
                v.add(f"{p}.day_of_week", "must be 1 (Monday) .. 7 (Sunday)")
            if not valid_hhmm(hours.open_time):
                v.add(f"{p}.open_time", "must be HH:MM")
            if not valid_hhmm(hours.close_time):
                v.add(f"{p}.close_time", "must be HH:MM")
            if (
                valid_hhmm(hours.open_time)
                and valid_hhmm(hours.close_time)
                and hours.open_time >= hours.close_time
            ):
                v.add(p, "must open before it closes")
        v.raise_if_any()
