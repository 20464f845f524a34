"""Which asyncio event loop a process runs on: ``PEONY_EVENT_LOOP=uvloop|asyncio``.

uvloop (libuv) runs the same asyncio code with a cheaper transport layer: on the REST gateway,
where every request is one socket read and one write on the HTTP side, it cut the gateway's own
CPU per request (bench/README.md, bench_gateway). grpc.aio works on it (grpc's Cython layer
polls its own completion queue and hands results to whatever loop is running).

``asyncio`` is the standard library's loop: the fallback when uvloop is not installed or when a
problem is suspected in it.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Coroutine, Mapping
from typing import Any, TypeVar

__all__ = ["EVENT_LOOPS", "event_loop_name", "run"]

T = TypeVar("T")
EVENT_LOOPS = ("uvloop", "asyncio")
VARIABLE = "PEONY_EVENT_LOOP"


def event_loop_name(environ: Mapping[str, str] | None = None, default: str = "uvloop") -> str:
    """The loop ``PEONY_EVENT_LOOP`` asks for (``default`` when unset); ValueError when unknown.

    ``uvloop`` falls back to ``asyncio`` when the package is missing (it is a runtime
    dependency, so only a broken install lacks it), rather than refusing to start.
    """
    env = os.environ if environ is None else environ
    name = (env.get(VARIABLE) or "").strip().lower() or default
    if name not in EVENT_LOOPS:
        raise ValueError(f"{VARIABLE}={env.get(VARIABLE)!r}: expected one of {', '.join(EVENT_LOOPS)}")
    if name == "uvloop":
        try:
            import uvloop  # noqa: F401
        except ImportError:  # pragma: no cover - uvloop is a runtime dependency
            return "asyncio"
    return name


def run(main: Coroutine[Any, Any, T], loop_name: str = "asyncio") -> T:
    """``asyncio.run(main)`` on the loop named ``loop_name`` (see :func:`event_loop_name`)."""
    if loop_name == "uvloop":
        import uvloop

        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            return runner.run(main)
    return asyncio.run(main)
