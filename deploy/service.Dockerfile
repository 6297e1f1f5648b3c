# syntax=docker/dockerfile:1
# One image per service (ingestion, training, scoring, monitoring, gateway), each with only its own dependencies.
# Build from the repository root, naming the service, the prefix of its settings and its HTTP port:
#   docker build -f deploy/service.Dockerfile --build-arg SERVICE=scoring --build-arg ENV_PREFIX=SCORING \
#     --build-arg PORT=8103 -t credit-scoring .
# (deploy/docker-compose.yml builds each service the same way; the dashboard has its own frontend/Dockerfile.)

FROM python:3.11.14-slim-bookworm@sha256:65a93d69fa75478d554f4ad27c85c1e69fa184956261b4301ebaf6dbb0a3543d AS build
ARG SERVICE
COPY --from=ghcr.io/astral-sh/uv:0.13.9 /uv /bin/uv
ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PROJECT_ENVIRONMENT=/app/.venv
WORKDIR /src
RUN test -n "$SERVICE" || { echo "build with --build-arg SERVICE=<a folder of services/>" >&2; exit 1; }

# 1. Third-party dependencies only: the lockfile and every workspace member's pyproject.toml (uv needs the whole
#    workspace to read the lockfile). This layer is rebuilt only when a dependency changes.
COPY uv.lock pyproject.toml ./
COPY shared/pyproject.toml shared/
COPY services/ingestion/pyproject.toml services/ingestion/
COPY services/training/pyproject.toml services/training/
COPY services/scoring/pyproject.toml services/scoring/
COPY services/monitoring/pyproject.toml services/monitoring/
COPY services/gateway/pyproject.toml services/gateway/
COPY frontend/pyproject.toml frontend/
COPY deploy/local/pyproject.toml deploy/local/
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --no-install-workspace --package credit-${SERVICE}

# 2. Our code, installed as regular (non-editable) packages into the same environment.
COPY shared/src shared/src
COPY services/${SERVICE}/src services/${SERVICE}/src
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --no-editable --package credit-${SERVICE}

# Runtime: the slim base, a non-root user and only the virtual environment.
FROM python:3.11.14-slim-bookworm@sha256:65a93d69fa75478d554f4ad27c85c1e69fa184956261b4301ebaf6dbb0a3543d AS runtime
ARG SERVICE
ARG ENV_PREFIX
ARG PORT
# LightGBM (loaded with the models) needs OpenMP at run time
RUN apt-get update \
    && apt-get install -y --no-install-recommends libgomp1 \
    && rm -rf /var/lib/apt/lists/*
RUN groupadd --system --gid 10001 credit \
    && useradd --system --uid 10001 --gid credit --create-home --home-dir /home/credit --shell /usr/sbin/nologin credit \
    && mkdir -p /var/lib/credit \
    && chown credit:credit /var/lib/credit
COPY --from=build /app/.venv /app/.venv
ENV PATH="/app/.venv/bin:$PATH" \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    MPLCONFIGDIR=/tmp/matplotlib \
    CREDIT_HOME=/var/lib/credit \
    CREDIT_SERVICE=${SERVICE} \
    CREDIT_SERVICE_PORT=${PORT} \
    ${ENV_PREFIX}_HOST=0.0.0.0 \
    ${ENV_PREFIX}_PORT=${PORT}
WORKDIR /var/lib/credit
USER credit
EXPOSE ${PORT}
# The exec form substitutes no build argument: the check and the command read the service from the environment.
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/health' % os.environ['CREDIT_SERVICE_PORT'], timeout=4)"]
CMD ["/bin/sh", "-c", "exec python -m \"${CREDIT_SERVICE}_service\""]
