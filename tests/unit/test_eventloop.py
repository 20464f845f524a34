"""kit.eventloop: PEONY_EVENT_LOOP picks the loop; grpc.aio (the gateway's backend calls) runs on uvloop."""

from __future__ import annotations

import asyncio

import grpc
import pytest

from kit.eventloop import event_loop_name, run


def test_default_and_choices() -> None:
    assert event_loop_name({}) == "uvloop"
    assert event_loop_name({"PEONY_EVENT_LOOP": " AsyncIO "}) == "asyncio"
    assert event_loop_name({"PEONY_EVENT_LOOP": "uvloop"}) == "uvloop"
    assert event_loop_name({}, default="asyncio") == "asyncio"


@pytest.mark.parametrize("value", ["trio", "uv loop", "1"])
def test_unknown_loop_is_refused(value: str) -> None:
    with pytest.raises(ValueError, match="PEONY_EVENT_LOOP"):
        event_loop_name({"PEONY_EVENT_LOOP": value})


@pytest.mark.parametrize("loop_name", ["uvloop", "asyncio"])
def test_grpc_aio_round_trip_on_the_loop(loop_name: str) -> None:
    async def main() -> tuple[str, bytes]:
        server = grpc.aio.server()

        async def echo(request: bytes, _context: object) -> bytes:
            return request[::-1]

        server.add_generic_rpc_handlers(
            (
                grpc.method_handlers_generic_handler(
                    "t.Echo", {"Call": grpc.unary_unary_rpc_method_handler(echo)}
                ),
            )
        )
        port = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        try:
            async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
                call = channel.unary_unary("/t.Echo/Call")
                replies = await asyncio.gather(*(call(b"abc%d" % i, timeout=10) for i in range(20)))
        finally:
            await server.stop(None)
        return type(asyncio.get_running_loop()).__module__, replies[7]

    module, reply = run(main(), loop_name)
    assert reply == b"7cba"
    assert module.startswith("uvloop" if loop_name == "uvloop" else "asyncio")


def test_gateway_refuses_an_unknown_loop_at_start() -> None:
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PEONY_EVENT_LOOP": "trio", "PYTHONPATH": f"{root}{os.pathsep}{root / 'gen'}"}
    done = subprocess.run(
        [sys.executable, "-m", "cli.main", "gateway"],
        env=env,
        cwd=root,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "PEONY_EVENT_LOOP" in done.stderr
