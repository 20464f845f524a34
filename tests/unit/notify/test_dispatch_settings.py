"""The dispatcher's loop settings: defaults, and bad values refused at start with the variable named."""

from __future__ import annotations

import pytest

from kit.config import ConfigError, load_config
from services.notify.settings import notify_settings


def _settings(**env: str):
    config = load_config("notify", {"PEONY_DATABASE_URL": "postgresql://peony@127.0.0.1:5432/", **env})
    return notify_settings(config, environ=env)


def test_defaults_two_woken_loops_and_a_half_second_poll():
    settings = _settings()
    assert settings.dispatch_loops == 2
    assert settings.dispatch_wake is True
    assert settings.dispatch_interval_s == 0.5


def test_wake_can_be_turned_off_and_loops_set():
    settings = _settings(PEONY_NOTIFY_DISPATCH_WAKE="off", PEONY_NOTIFY_DISPATCH_LOOPS="3")
    assert settings.dispatch_wake is False
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
