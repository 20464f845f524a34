"""The dispatcher's loop settings: defaults, and bad values refused at start with the variable named."""

from __future__ import annotations

import pytest

from kit.config import ConfigError, load_config
from services.notify.settings import notify_settings


def _settings(**env: str):
    config = load_config("notify", {"PEONY_DATABASE_URL": "postgresql://peony@127.0.0.1:5432/", **env})
    return notify_settings(config, environ=env)


def test_defaults_one_polling_loop_every_50_ms():
    settings = _settings()
    assert settings.dispatch_loops == 1
    assert settings.dispatch_wake is False
    assert settings.dispatch_interval_s == 0.05


def test_wake_can_be_turned_on_and_loops_set():
    settings = _settings(PEONY_NOTIFY_DISPATCH_WAKE="on", PEONY_NOTIFY_DISPATCH_LOOPS="3")
    assert settings.dispatch_wake is True
    assert settings.dispatch_loops == 3


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("PEONY_NOTIFY_DISPATCH_WAKE", "sometimes"),
        ("PEONY_NOTIFY_DISPATCH_LOOPS", "0"),
        ("PEONY_NOTIFY_DISPATCH_LOOPS", "17"),
        ("PEONY_NOTIFY_DISPATCH_LOOPS", "two"),
    ],
)
def test_bad_values_are_refused_naming_the_variable(name: str, value: str):
    with pytest.raises(ConfigError, match=name):
        _settings(**{name: value})
