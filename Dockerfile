# gpufleet images: one build target per deployable part (docs/packaging.md, deploy/overlays):
#   docker build --target hook      -t ghcr.io/gpufleet/gpufleet-hook:0.1.0 .       (gpufleet[hook])
#   docker build --target collector -t ghcr.io/gpufleet/gpufleet-collector:0.1.0 .  (gpufleet[collector]: collect, exporter)
#   docker build --target dashboard -t ghcr.io/gpufleet/gpufleet-dashboard:0.1.0 .  (gpufleet[dashboard])
# The builder makes the wheel and, per target, a virtual environment pinned and hash-checked from locks/TARGET.lock
# (`make lock`; tools/image-venv.sh); each final stage copies only that environment onto the same slim Python:
# no compiler, no uv, no pip cache, no source tree. tests/packaging runs the same steps (wheel, lock,
# tools/image-venv.sh, `gpufleet hook serve`) without Docker.

FROM python:3.11-slim-bookworm AS builder
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    UV_NO_CACHE=1 \
    UV_PYTHON_DOWNLOADS=never \
    UV_LINK_MODE=copy \
    UV_COMPILE_BYTECODE=1
RUN pip install --no-cache-dir uv==0.13.9
WORKDIR /src
COPY pyproject.toml README.md hatch_build.py ./
COPY src ./src
# the hatch build hook generates the gRPC stubs with grpcio-tools (pinned in pyproject's build-system)
RUN uv build --wheel --out-dir /dist .
COPY locks ./locks
COPY tools/image-venv.sh ./tools/

# One environment per target, made where it will live (its scripts name /opt/gpufleet/bin/python): the lock's
# pins with every hash checked, then gpufleet[TARGET] from the wheel offline (tools/image-venv.sh says why).
FROM builder AS venv-hook
RUN sh tools/image-venv.sh /opt/gpufleet hook /dist/gpufleet-*.whl

FROM builder AS venv-collector
RUN sh tools/image-venv.sh /opt/gpufleet collector /dist/gpufleet-*.whl

FROM builder AS venv-dashboard
RUN sh tools/image-venv.sh /opt/gpufleet dashboard /dist/gpufleet-*.whl

# The runtime every target shares: the same Python the environments were made with (their bin/python links to
# it), a fixed non-root user (the manifests' runAsUser), JSON logs, HOME on /tmp (an emptyDir in the pods: the
# root filesystem is read-only there).
FROM python:3.11-slim-bookworm AS runtime
RUN groupadd --system --gid 10001 gpufleet \
    && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /tmp --shell /usr/sbin/nologin gpufleet
ENV PATH=/opt/gpufleet/bin:$PATH \
    HOME=/tmp \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    GPUFLEET_LOG_FORMAT=json
WORKDIR /tmp
USER 10001:10001
ENTRYPOINT ["gpufleet"]
CMD ["--help"]

# Kubernetes probes the pods (deploy/overlays: /healthz, /readyz, /_stcore/health); the port and TLS of each
# server come from its config, so the image declares no HEALTHCHECK of its own.
# checkov:skip=CKV_DOCKER_2: Kubernetes ignores HEALTHCHECK; the manifests' probes check each server

FROM runtime AS hook
COPY --from=venv-hook /opt/gpufleet /opt/gpufleet
EXPOSE 8080 9090
CMD ["hook", "serve", "--config", "/etc/gpufleet/hook.yaml"]

FROM runtime AS collector
COPY --from=venv-collector /opt/gpufleet /opt/gpufleet
# collect run serves its own /metrics on 9464; the exporter (args: exporter --port 9400) serves DCGM's names
EXPOSE 9464 9400
CMD ["collect", "run", "--config", "/etc/gpufleet/collector.yaml"]

FROM runtime AS dashboard
COPY --from=venv-dashboard /opt/gpufleet /opt/gpufleet
EXPOSE 8501
CMD ["dashboard", "--host", "0.0.0.0", "--port", "8501", "--runs", "/var/lib/gpufleet/runs"]
