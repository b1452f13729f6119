# The cortex-events images: the operator (the default target) and the Cortex emulator.
#
#   docker build -t cortex-events-operator:0.1.0 .
#   docker build --target fake-cortex -t cortex-events-fake-cortex:0.1.0 .
#
# The build stage builds the project's wheel from the operator's package alone and installs it
# into a virtualenv with exactly the dependencies pinned in requirements/image.txt (--no-deps:
# nothing else is resolved, so a rebuild gets the same versions; scripts/lock_image.py writes
# the pins, and the demo-only jsonschema is not among them). The operator stage copies only that
# virtualenv onto the same slim base, so no build tools, pip caches, sources or simulators reach
# it. Every stage uses the same pinned base: the virtualenv's python links to the base image's
# interpreter at the same path.
#
# The fake-cortex target adds cortex_events_sim, the stand-ins (the kind e2e suite runs the
# emulator, `cortex-events fake-cortex`, from it); the operator's image never holds them.

ARG PYTHON_IMAGE=python:3.11.14-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
COPY pyproject.toml README.md LICENSE ./
COPY requirements/ requirements/
COPY crds/ crds/
COPY operator/cortex_events/ operator/cortex_events/
RUN python -m pip wheel --no-cache-dir --no-deps --wheel-dir /wheels . \
 && python -m venv /opt/venv \
 && /opt/venv/bin/pip install --no-cache-dir --no-deps -r requirements/image.txt /wheels/*.whl \
 && /opt/venv/bin/python -m compileall -q /opt/venv/lib

# The same virtualenv with the wheel built again from both packages.
FROM build AS build-fake-cortex
COPY operator/cortex_events_sim/ operator/cortex_events_sim/
RUN python -m pip wheel --no-cache-dir --no-deps --wheel-dir /wheels-fake-cortex . \
 && /opt/venv/bin/pip install --no-cache-dir --no-deps --force-reinstall /wheels-fake-cortex/*.whl \
 && /opt/venv/bin/python -m compileall -q /opt/venv/lib

# What both images run on. Nothing is written at run time: bytecode was compiled in the build
# stage, output is unbuffered so every log line reaches the container log at once.
FROM ${PYTHON_IMAGE} AS runtime
LABEL org.opencontainers.image.licenses="Apache-2.0"
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
# A numeric non-root user (the "nonroot" id of distroless images), so Kubernetes can verify
# runAsNonRoot without a passwd entry; the Helm chart runs the Pod with the same id.
USER 65532:65532
ENTRYPOINT ["cortex-events"]

FROM runtime AS fake-cortex
LABEL org.opencontainers.image.title="cortex-events-fake-cortex" \
      org.opencontainers.image.description="The Cortex custom-events emulator, for local clusters and tests"
COPY --from=build-fake-cortex /opt/venv /opt/venv
EXPOSE 8081
CMD ["fake-cortex", "--host", "0.0.0.0", "--port", "8081"]

# The default target, last: the operator.
FROM runtime AS operator
LABEL org.opencontainers.image.title="cortex-events-operator" \
      org.opencontainers.image.description="Records Kubernetes workload lifecycle changes as Cortex custom events"
COPY --from=build /opt/venv /opt/venv
# :8080/healthz (liveness) and :9090/metrics (Prometheus).
EXPOSE 8080 9090
CMD ["run"]
