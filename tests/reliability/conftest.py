"""The running platform for the contract suites, and the summary line they print.

The stack is the e2e one (tests/e2e/conftest.py: every service and the gateway a process of its
own on the session's PostgreSQL + NATS), started once for the package and only when a test asks.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import grpc
import pytest

from tests.e2e.conftest import Stack, running_stack
from tests.reliability.contract import DATABASE_SERVICES, SERVICES, TALLY, Databases


@dataclass
class Platform:
    stack: Stack
    channels: dict[str, grpc.Channel]
    dbs: Databases

    @property
    def gateway_url(self) -> str:
        return self.stack.gateway_url

    def process(self, service: str):
        return getattr(self.stack, service)


@pytest.fixture(scope="package")
def platform(infra, tmp_path_factory) -> Iterator[Platform]:
    with running_stack(infra, tmp_path_factory.mktemp("contract"), with_insights=True) as stack:
        env = stack.env
        channels = {s: grpc.insecure_channel(env[f"PEONY_{s.upper()}_ADDR"]) for s in SERVICES}
        dbs = Databases(
            {s: env[f"PEONY_{s.upper()}_DATABASE_URL"] for s in DATABASE_SERVICES}, env["PEONY_NATS_URL"]
        )
        try:
            yield Platform(stack, channels, dbs)
        finally:
            dbs.close()
            for channel in channels.values():
                channel.close()


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    lines = TALLY.lines()
    if lines:
        terminalreporter.section("contract suites")
        for line in lines:
            terminalreporter.write_line(line)
