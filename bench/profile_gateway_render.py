"""CPU per render of one GetMember reply as the gateway renders it (``gateway/render.py`` +
``gateway.transcode.response_json``): an in-process micro-benchmark for comparing two versions
of the renderer (bench/README.md, "Floors under the gateway's CPU per request").

    PYTHONPATH=<tree>:<tree>/gen .venv/bin/python bench/profile_gateway_render.py member.json [label]

``member.json`` is a rendered GetMember reply (``bench_gateway_floor.py --keep`` leaves one in its
temp dir). Prints the min and median over 7 rounds of 20,000 renders, in µs of process CPU time.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path

from google.protobuf import json_format
from peony.members.v1 import members_service_pb2 as pb

from gateway.render import message_to_dict
from gateway.transcode import response_json

ROUNDS, RENDERS = 7, 20_000


def main(argv: list[str]) -> int:
    if not argv:
        print(__doc__, file=sys.stderr)
        return 2
    reply = pb.GetMemberResponse()
    json_format.ParseDict(json.loads(Path(argv[0]).read_text(encoding="utf-8")), reply)
    label = argv[1] if len(argv) > 1 else "render"
    for _ in range(2_000):  # warm-up: the per-type plans are built on first use
        response_json(message_to_dict(reply))
    per_render_us = []
    for _ in range(ROUNDS):
        started = time.process_time()
        for _ in range(RENDERS):
            response_json(message_to_dict(reply))
        per_render_us.append((time.process_time() - started) / RENDERS * 1e6)
    size = len(response_json(message_to_dict(reply)))
    print(
        f"{label}: min {min(per_render_us):.1f} us, median {statistics.median(per_render_us):.1f} us "
        f"per render ({size} bytes)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
