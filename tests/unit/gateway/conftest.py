from __future__ import annotations

import pytest

from gateway.routing import Router, compile_routes
from tests.unit.gateway import testproto


@pytest.fixture(scope="session")
def proto():
    return testproto.load()


@pytest.fixture(scope="session")
def router(proto) -> Router:
    return compile_routes([(proto.members, "members"), (proto.ping, "notify")])
