"""Notify's own settings (``PEONY_NOTIFY_*``), read from the service config and validated at start."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from kit.config import ConfigError, ServiceConfig
from services.notify.adapters.sinks import CONSOLE, DeliverySink, make_sink

DEFAULT_SINK = "var/notify/outbox.jsonl"
SINK_VAR = "PEONY_NOTIFY_SINK"


@dataclass(frozen=True)
class NotifySettings:
    sink: str  # "console" or a file path


def notify_settings(config: ServiceConfig, environ: Mapping[str, str] | None = None) -> NotifySettings:
    """``PEONY_NOTIFY_SINK`` from ``config.extra`` (falling back to the process environment)."""
    env = os.environ if environ is None else environ
    sink = config.extra.get(SINK_VAR) or env.get(SINK_VAR) or DEFAULT_SINK
    problems: list[str] = []
    if sink != CONSOLE:
        path = Path(sink)
        if sink.endswith(("/", os.sep)) or path.is_dir():
            problems.append(f"{SINK_VAR}={sink!r} is a directory; give a file path or 'console'")
        elif path.exists() and not path.is_file():
            problems.append(f"{SINK_VAR}={sink!r} is not a regular file")
    if problems:
        raise ConfigError(problems)
    return NotifySettings(sink=sink)


def open_sink(settings: NotifySettings) -> DeliverySink:
    """The configured sink, opened now so an unwritable path fails the start with a clear message."""
    try:
        return make_sink(settings.sink)
    except (OSError, ValueError) as exc:
        raise ConfigError([f"{SINK_VAR}={settings.sink!r} cannot be used: {exc}"]) from exc
