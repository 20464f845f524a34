"""Real PostgreSQL + NATS JetStream for the test session.

``PEONY_DATABASE_URL`` / ``PEONY_NATS_URL`` point the tests at existing servers (CI services,
a running ``peony up``); otherwise an embedded PostgreSQL (``fast=True``) and a nats-server are
started once per pytest session in a temporary directory and removed at the end.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from cli.devstack import (
    DevStack,
    clone_database,
    database_url,
    drop_database,
    ensure_database,
    free_port,
    run_coro_sync,
    start_nats,
)
from kit.config import to_async_url
from kit.migrations import upgrade


@dataclass
class Infra:
    """What integration tests get from the ``infra`` fixture."""

    server_url: str
    """Server-level ``postgresql://`` URL (database ``postgres``); a superuser role."""
    nats_url: str
    """``nats://`` URL of a JetStream-enabled server."""
    _created: list[str] = field(default_factory=list, repr=False)
    _templates: dict[str, str] = field(default_factory=dict, repr=False)

    @staticmethod
    def _new_name(prefix: str) -> str:
        clean = re.sub(r"[^a-z0-9_]", "_", prefix.lower())[:40]
        return f"t_{clean}_{uuid.uuid4().hex[:12]}"

    def new_database(self, prefix: str) -> str:
        """Create a fresh, uniquely named database and return its ``postgresql://`` URL.

        Works from sync and async code (inside a running loop it runs on a helper thread);
        async code may prefer :meth:`anew_database`.
        """
        name = self._new_name(prefix)
        run_coro_sync(lambda: ensure_database(self.server_url, name))
        self._created.append(name)
        return database_url(self.server_url, name)

    async def anew_database(self, prefix: str) -> str:
        name = self._new_name(prefix)
        await ensure_database(self.server_url, name)
        self._created.append(name)
        return database_url(self.server_url, name)

    async def amigrated_database(self, service: str, prefix: str | None = None) -> str:
        """A fresh database already at ``service``'s head migration, as a ``postgresql://`` URL.

        It is a copy (``CREATE DATABASE ... TEMPLATE``) of a template migrated once per session:
        a few tens of milliseconds instead of running every migration again. Tests that check the
        migrations themselves (or stop at a revision) still migrate a blank database."""
        template = self._templates.get(service)
        if template is None:
            template = self._new_name(f"tmpl_{service}")
            await ensure_database(self.server_url, template)
            self._created.append(template)
            await upgrade(service, to_async_url(database_url(self.server_url, template)))
            self._templates[service] = template
        name = self._new_name(prefix or service)
        await clone_database(self.server_url, name, template)
        self._created.append(name)
        return database_url(self.server_url, name)

    def migrated_database(self, service: str, prefix: str | None = None) -> str:
        """:meth:`amigrated_database` for sync code."""
        return run_coro_sync(lambda: self.amigrated_database(service, prefix))

    def drop_created_databases(self) -> None:
        """Best effort: drop every database this object created (used with external servers)."""
        names, self._created = self._created, []
        for name in names:
            try:
                run_coro_sync(lambda n=name: drop_database(self.server_url, n))
            except Exception as exc:  # a test may still hold a connection; not worth failing for
                print(f"infra: could not drop test database {name}: {exc}")


@contextmanager
def start_infra() -> Iterator[Infra]:
    """Start (or attach to) PostgreSQL + NATS for one test session."""
    external_db = bool(os.environ.get("PEONY_DATABASE_URL"))
    base = Path(tempfile.mkdtemp(prefix="peony-infra-"))
    # Tests never take the well-known ports 5432/4222: a developer's `peony up` may want them.
    stack = DevStack(base, fast=True, pg_port=free_port(), nats_port=free_port())
    try:
        stack.start()
        infra = Infra(server_url=stack.database_url, nats_url=stack.nats_url)
        try:
            yield infra
        finally:
            if external_db:
                infra.drop_created_databases()
    finally:
        # The data is deleted next: PostgreSQL need not checkpoint on its way out, and the
        # deletion (a full run leaves GBs in hundreds of thousands of files) goes on in a
        # detached `rm` instead of holding the last test's teardown for seconds.
        stack.stop(discard=True)
        _remove_in_background(base)


def _remove_in_background(path: Path) -> None:
    try:
        subprocess.Popen(
            ["rm", "-rf", "--", str(path)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
    except OSError:
        shutil.rmtree(path, ignore_errors=True)


@contextmanager
def private_nats(store_dir: Path) -> Iterator[str]:
    """A JetStream server of its own (a fresh store in ``store_dir``) for a stack of service
    processes; yields its ``nats://`` URL.

    The session's NATS (``infra.nats_url``) keeps every stream the earlier tests wrote to, with
    messages their short-lived consumers never acknowledged. Service processes name their durables
    per service (``wallet-referral-rewards`` ...), so a stack on that server inherits those
    messages, fails on them (their tenants are unknown to its fresh databases) and backs off until
    they are dead-lettered: ``settle()`` then waited out its backlog deadline (30 s a call).
    """
    nats = start_nats(store_dir)
    try:
        yield nats.url
    finally:
        nats.stop()
