# The cortex-events operator image.
#
#   docker build -t cortex-events-operator:0.1.0 .
#
# Stage 1 builds the project's wheel and installs it into a virtualenv with exactly the
# dependencies pinned in requirements/image.txt (--no-deps: nothing else is resolved, so a
# rebuild gets the same versions; scripts/lock_image.py writes the pins, and the demo-only
# jsonschema is not among them); stage 2 copies only that virtualenv onto the same slim base, so
# no build tools, pip caches or sources reach the final image. Both stages use the same pinned
# base: the virtualenv's python links to the base image's interpreter at the same path.

ARG PYTHON_IMAGE=python:3.11.14-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
COPY pyproject.toml README.md LICENSE ./
COPY requirements/ requirements/
COPY crds/ crds/
# operator/ holds two packages and the wheel installs both: cortex_events, the operator, and
# cortex_events_sim, the stand-ins and the demo. The image carries the second only because the
# kind e2e suite (tests/e2e/test_kind.py) runs the Cortex emulator, `cortex-events fake-cortex`,
# from this same image; `cortex-events run` never imports it.
COPY operator/ operator/
RUN python -m pip wheel --no-cache-dir --no-deps --wheel-dir /wheels . \
 && python -m venv /opt/venv \
 && /opt/venv/bin/pip install --no-cache-dir --no-deps -r requirements/image.txt /wheels/*.whl \
 && /opt/venv/bin/python -m compileall -q /opt/venv/lib

FROM ${PYTHON_IMAGE}
LABEL org.opencontainers.image.title="cortex-events-operator" \
      org.opencontainers.image.description="Records Kubernetes workload lifecycle changes as Cortex custom events" \
      org.opencontainers.image.licenses="Apache-2.0"
# Nothing is written at run time: bytecode was compiled in the build stage, output is unbuffered
# so every log line reaches the container log at once.
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
COPY --from=build /opt/venv /opt/venv
# A numeric non-root user (the "nonroot" id of distroless images), so Kubernetes can verify
# runAsNonRoot without a passwd entry; the Helm chart runs the Pod with the same id.
USER 65532:65532
# :8080/healthz (liveness) and :9090/metrics (Prometheus).
EXPOSE 8080 9090
ENTRYPOINT ["cortex-events"]
CMD ["run"]
