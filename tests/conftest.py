"""Session-wide fixtures: real PostgreSQL and NATS JetStream (see tests/support/stack.py).

Service-specific fixtures live in the conftest.py of each test subfolder.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, settings

from tests.support.stack import Infra, start_infra

# Property tests check behaviour, not speed: hypothesis' 200 ms deadline and too-slow check fail
# them at random on a loaded 2-core machine (CI, or tests running beside a benchmark).
settings.register_profile("peony", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("peony")


@pytest.fixture(scope="session")
def infra() -> Iterator[Infra]:
    """PostgreSQL + NATS for the whole session: ``server_url``, ``nats_url``, ``new_database(prefix)``.

    Started lazily (only when a test asks for it), once, and stopped at the end of the session.
    """
    with start_infra() as value:
        yield value
