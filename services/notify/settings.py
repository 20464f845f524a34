"""Notify's own settings (``PEONY_NOTIFY_*``), read from the service config and validated at start.

PEONY_NOTIFY_QUIET_HOURS                 "21:00-09:00" (store-local; "" or "off" for none)
PEONY_NOTIFY_MARKETING_PER_DAY           3     marketing messages per member per 24 h
PEONY_NOTIFY_MARKETING_PER_WEEK          10    ... per 7 days
PEONY_NOTIFY_DAILY_SPEND_CAP_MINOR       paid-channel (SMS) budget per tenant and day, minor units;
                                         unset = no cap
PEONY_NOTIFY_TENANT_SPEND_CAPS           JSON {tenant: cap_minor} overriding it per tenant
PEONY_NOTIFY_SPEND_CURRENCY              CNY
PEONY_NOTIFY_SPEND_DAY_ZONE              Asia/Shanghai (where the spend day starts)
PEONY_NOTIFY_RETRY_BACKOFF_SECONDS       "5,30,120,600": waits between send attempts; one more
                                         attempt than waits, then the message fails
PEONY_NOTIFY_DISPATCH_INTERVAL_SECONDS   0.05  how often the send queue is polled when idle (it also
                                         finds deferred and retried messages as they fall due)
PEONY_NOTIFY_DISPATCH_WAKE               off   on: the consumer's commit of new messages wakes the
                                         dispatchers (NOTIFY peony_notify_dispatch), for a notify-
                                         heavy deployment with a longer poll. Off by default: under
                                         a registration overload the wake-ups' one-message batches
                                         doubled notify's CPU per registration (bench/README.md)
PEONY_NOTIFY_DISPATCH_BATCH              64    messages per dispatcher transaction
PEONY_NOTIFY_DISPATCH_LOOPS              1     dispatch loops per process: while one batch waits
                                         on its commits and the providers, another claims the
                                         next (SKIP LOCKED claims, as between replicas)
PEONY_NOTIFY_SEND_TIMEOUT_SECONDS        10    one provider call
PEONY_NOTIFY_MEMBERS_DEADLINE_SECONDS    2     one ResolveContacts call
PEONY_NOTIFY_CONTACT_CACHE_SECONDS       0     how long a resolved contact is reused, in memory only;
                                         a consent or address change reaches notify only after it
                                         (members' events do not invalidate it: each replica has
                                         its own), so it is off unless set; 0 = resolve every batch
PEONY_NOTIFY_CONTACT_CACHE_ENTRIES       10000 contacts kept at most
PEONY_NOTIFY_STAFF_CONTACTS_FILE         JSON of store staff contacts (see adapters.contacts)
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import time
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from kit.config import ConfigError, ServiceConfig
from services.notify.domain.policy import QuietHours, Rules

_HHMM_RANGE = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-3]):([0-5]\d)$")


@dataclass(frozen=True)
class NotifySettings:
    rules: Rules = field(default_factory=Rules)
    spend_cap_minor: int | None = None
    tenant_spend_caps: Mapping[str, int] = field(default_factory=dict)
    spend_currency: str = "CNY"
    spend_day_zone: str = "Asia/Shanghai"
    retry_backoff_s: tuple[float, ...] = (5, 30, 120, 600)
    dispatch_interval_s: float = 0.5
    dispatch_wake: bool = True
    dispatch_batch: int = 64
    dispatch_loops: int = 2
    send_timeout_s: float = 10.0
    members_deadline_s: float = 2.0
    contact_cache_s: float = 0.0
    contact_cache_entries: int = 10_000
    staff_contacts_file: str = ""

    def spend_cap_for(self, tenant: str) -> int | None:
        return self.tenant_spend_caps.get(tenant, self.spend_cap_minor)

    @property
    def max_attempts(self) -> int:
        return len(self.retry_backoff_s) + 1


def notify_settings(config: ServiceConfig, environ: Mapping[str, str] | None = None) -> NotifySettings:
    env = os.environ if environ is None else environ

    def get(name: str) -> str:
        return (config.extra.get(name) or env.get(name) or "").strip()

    problems: list[str] = []

    def number(name: str, default: float, lo: float, hi: float, *, integer: bool = False) -> float:
        raw = get(name)
        if not raw:
            return default
        try:
            value = int(raw) if integer else float(raw)
        except ValueError:
            problems.append(f"{name}={raw!r} is not a number")
            return default
        if not lo <= value <= hi:
            problems.append(f"{name}={raw!r} must be between {lo} and {hi}")
            return default
        return value

    quiet = QuietHours()
    raw_quiet = get("PEONY_NOTIFY_QUIET_HOURS")
    if raw_quiet in ("off", "none"):
        quiet = QuietHours(time(0, 0), time(0, 0))
    elif raw_quiet:
        match = _HHMM_RANGE.match(raw_quiet)
        if match is None:
            problems.append(f"PEONY_NOTIFY_QUIET_HOURS={raw_quiet!r} must look like 21:00-09:00 (or off)")
        else:
            h1, m1, h2, m2 = (int(g) for g in match.groups())
            quiet = QuietHours(time(h1, m1), time(h2, m2))
    rules = Rules(
        quiet_hours=quiet,
        marketing_per_day=int(number("PEONY_NOTIFY_MARKETING_PER_DAY", 3, 0, 1000, integer=True)),
        marketing_per_week=int(number("PEONY_NOTIFY_MARKETING_PER_WEEK", 10, 0, 10000, integer=True)),
    )
    raw_wake = (get("PEONY_NOTIFY_DISPATCH_WAKE") or "off").lower()
    if raw_wake not in ("on", "off", "true", "false", "1", "0"):
        problems.append(f"PEONY_NOTIFY_DISPATCH_WAKE={raw_wake!r} must be on or off")
    wake = raw_wake in ("on", "true", "1")
    cap_raw = get("PEONY_NOTIFY_DAILY_SPEND_CAP_MINOR")
    cap = int(number("PEONY_NOTIFY_DAILY_SPEND_CAP_MINOR", 0, 0, 10**12, integer=True)) if cap_raw else None
    tenant_caps: dict[str, int] = {}
    raw_caps = get("PEONY_NOTIFY_TENANT_SPEND_CAPS")
    if raw_caps:
        try:
            parsed = json.loads(raw_caps)
            if not isinstance(parsed, dict) or not all(
                isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in parsed.values()
            ):
                raise ValueError("not an object of non-negative integers")
            tenant_caps = {str(k): int(v) for k, v in parsed.items()}
        except ValueError as exc:
            problems.append(f"PEONY_NOTIFY_TENANT_SPEND_CAPS is not JSON {{tenant: cap_minor}}: {exc}")
    zone = get("PEONY_NOTIFY_SPEND_DAY_ZONE") or "Asia/Shanghai"
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        problems.append(f"PEONY_NOTIFY_SPEND_DAY_ZONE={zone!r} is not an IANA time zone")
    backoff: tuple[float, ...] = (5, 30, 120, 600)
    raw_backoff = get("PEONY_NOTIFY_RETRY_BACKOFF_SECONDS")
    if raw_backoff:
        try:
            backoff = tuple(float(x) for x in raw_backoff.split(","))
            if not backoff or any(b < 0 or b > 86400 for b in backoff):
                raise ValueError
        except ValueError:
            problems.append(
                f"PEONY_NOTIFY_RETRY_BACKOFF_SECONDS={raw_backoff!r} must be seconds separated by commas"
            )
    staff_file = get("PEONY_NOTIFY_STAFF_CONTACTS_FILE")
    if staff_file and not os.path.isfile(staff_file):
        problems.append(f"PEONY_NOTIFY_STAFF_CONTACTS_FILE={staff_file!r} is not a file")
    settings = NotifySettings(
        rules=rules,
        spend_cap_minor=cap,
        tenant_spend_caps=tenant_caps,
        spend_currency=get("PEONY_NOTIFY_SPEND_CURRENCY") or "CNY",
        spend_day_zone=zone,
        retry_backoff_s=backoff,
        dispatch_interval_s=number("PEONY_NOTIFY_DISPATCH_INTERVAL_SECONDS", 0.05, 0.01, 60),
        dispatch_wake=wake,
        dispatch_batch=int(number("PEONY_NOTIFY_DISPATCH_BATCH", 64, 1, 1000, integer=True)),
        dispatch_loops=int(number("PEONY_NOTIFY_DISPATCH_LOOPS", 1, 1, 16, integer=True)),
        send_timeout_s=number("PEONY_NOTIFY_SEND_TIMEOUT_SECONDS", 10.0, 0.1, 120),
        members_deadline_s=number("PEONY_NOTIFY_MEMBERS_DEADLINE_SECONDS", 2.0, 0.1, 60),
        contact_cache_s=number("PEONY_NOTIFY_CONTACT_CACHE_SECONDS", 0.0, 0, 60),
        contact_cache_entries=int(
            number("PEONY_NOTIFY_CONTACT_CACHE_ENTRIES", 10_000, 0, 1_000_000, integer=True)
        ),
        staff_contacts_file=staff_file,
    )
    if problems:
        raise ConfigError(problems)
    return settings
