"""Session-wide fixtures: real PostgreSQL and NATS JetStream (see tests/support/stack.py).

Service-specific fixtures live in the conftest.py of each test subfolder.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.stack import Infra, start_infra


@pytest.fixture(scope="session")
def infra() -> Iterator[Infra]:
    """PostgreSQL + NATS for the whole session: ``server_url``, ``nats_url``, ``new_database(prefix)``.

    Started lazily (only when a test asks for it), once, and stopped at the end of the session.
    """
    with start_infra() as value:
        yield value
