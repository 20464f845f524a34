"""CPU per request of the gateway's production extras, in-process: the access line and the
OpenTelemetry work (server span, client span + propagation, the two duration histograms), each
with a what-if for a kit change (bench/README.md, "Floors under the gateway's CPU per request").

    PYTHONPATH=.:gen .venv/bin/python bench/profile_gateway_extras.py [--log-file PATH]

The access line goes to ``--log-file`` (stdout redirected there, as a container runtime's pipe
or the benchmarks' log files take it). What-ifs (monkeypatched here, kit/ unchanged):
``access line, no flush`` = the same line written without ``flush()`` per line (a buffered
writer flushed on a timer); ``otel, no client span`` = the server span only, the backend call
carrying the server span's context and still recording ``rpc.client.call.duration``. Process CPU
time, min and median of 7 rounds of 20,000.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable

ROUNDS, CALLS = 7, 20_000
ROUTE = "/v1/{name=members/*}"
SERVICE = "peony.members.v1.MembersService"


def per_call_us(fn: Callable[[], None]) -> tuple[float, float]:
    for _ in range(2_000):
        fn()
    rounds = []
    for _ in range(ROUNDS):
        started = time.process_time()
        for _ in range(CALLS):
            fn()
        rounds.append((time.process_time() - started) / CALLS * 1e6)
    return round(min(rounds), 1), round(statistics.median(rounds), 1)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--log-file", default=os.devnull)
    args = p.parse_args(argv)
    report = sys.stderr
    sys.stdout = open(args.log_file, "a", encoding="utf-8")  # noqa: SIM115 - the process's stdout from now on

    import grpc
    from opentelemetry import context as otel_context
    from opentelemetry import propagate, trace
    from opentelemetry.trace import SpanKind

    from kit.logging import configure_logging, hot_logger
    from kit.telemetry import OutboundCalls, configure_telemetry, http_server_metrics, rpc_client_metrics

    configure_logging("gateway", "INFO", "json")
    handle = configure_telemetry("gateway", "bench")  # no OTLP endpoint: as in bench_gateway
    access = hot_logger("peony.gateway")
    tracer = trace.get_tracer("peony.gateway")
    outbound = OutboundCalls("127.0.0.1:50051")
    server_metrics = http_server_metrics()
    client_metrics = rpc_client_metrics()
    path = "/peony.members.v1.MembersService/GetMember"
    trace_id = "0af7651916cd43dd8448eb211c80319c"

    def access_line() -> None:
        access.info(
            "http.access",
            method="GET",
            route="/v1/{name=members/*}",
            status=200,
            duration_ms=1.23,
            trace_id=trace_id,
        )

    def otel(client_span: bool = True) -> None:
        span = tracer.start_span("GET", kind=SpanKind.SERVER, attributes={"http.request.method": "GET"})
        token = otel_context.attach(trace.set_span_in_context(span))
        metadata = [("authorization", "Bearer x"), ("peony-timeout-ms", "10000")]
        if client_span:
            call, metadata = outbound.start(path, metadata)
            outbound.succeeded(call)
        else:
            carrier: dict[str, str] = {}
            propagate.inject(carrier)
            metadata.extend(carrier.items())
            client_metrics.record("127.0.0.1:50051", SERVICE, "GetMember", grpc.StatusCode.OK, 0.001)
        server_metrics.record("GET", ROUTE, 200, 0.001)
        otel_context.detach(token)
        span.end()

    figures = {"access line": per_call_us(access_line), "otel": per_call_us(otel)}
    stream = sys.stdout
    flush = stream.flush
    stream.flush = lambda: None  # type: ignore[method-assign]
    figures["access line, no flush"] = per_call_us(access_line)
    stream.flush = flush  # type: ignore[method-assign]
    figures["otel, no client span"] = per_call_us(lambda: otel(client_span=False))
    for name, (best, median) in figures.items():
        print(f"{name:24s} min {best:6.1f} us  median {median:6.1f} us per request", file=report)
    if handle is not None:
        handle.shutdown()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
