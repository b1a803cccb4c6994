# syntax=docker/dockerfile:1
#
# Fowergram production image.
#
#   docker build -t fowergram .
#   docker run -p 8080:8080 --env-file .env fowergram
#
# Stage 1 (builder) resolves and installs every dependency into a virtualenv
# at /opt/venv and installs the project there as a wheel.
# Stage 2 (runtime) copies only that virtualenv and the SQL migrations onto a
# clean python:3.11-slim and runs as an unprivileged user (uid 10001).

ARG PYTHON_IMAGE=python:3.11-slim

# --------------------------------------------------------------------------
# builder
# --------------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS builder

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH

# A compiler only matters when a dependency has no wheel for the target
# platform (e.g. some arm64 builds); it never reaches the runtime image.
RUN apt-get update \
    && apt-get install -y --no-install-recommends build-essential \
    && rm -rf /var/lib/apt/lists/*

RUN python -m venv "$VIRTUAL_ENV" \
    && pip install --upgrade pip setuptools wheel

WORKDIR /src

# Dependencies first, from pyproject.toml alone, so this layer stays cached
# while only application code changes.
COPY pyproject.toml README.md ./
RUN python -c "import tomllib; deps = tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']; open('/tmp/requirements.txt', 'w').write('\n'.join(deps) + '\n')" \
    && pip install -r /tmp/requirements.txt

# Then the project itself: build a wheel and install it (non-editable, so the
# runtime image needs no source tree).
COPY fowergram/ ./fowergram/
RUN pip wheel --no-deps --wheel-dir /dist . \
    && pip install --no-deps /dist/*.whl \
    && test -x "$VIRTUAL_ENV/bin/fowergram" \
    && (cd / && python -c "import fowergram")

# --------------------------------------------------------------------------
# runtime
# --------------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS runtime

LABEL org.opencontainers.image.title="fowergram" \
      org.opencontainers.image.description="A real-time, WebSocket-first social backend" \
      org.opencontainers.image.licenses="MIT"

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH \
    ENVIRONMENT=production \
    PORT=8080 \
    MIGRATIONS_DIR=/app/migrations

RUN groupadd --system --gid 10001 fowergram \
    && useradd --system --uid 10001 --gid 10001 \
        --home-dir /home/fowergram --create-home \
        --shell /usr/sbin/nologin fowergram

WORKDIR /app

COPY --from=builder /opt/venv /opt/venv
COPY migrations/ /app/migrations/

USER 10001:10001

EXPOSE 8080

# No curl/wget in slim images: probe with the standard library. urlopen
# raises on connection errors and on non-2xx answers, so any failure exits 1.
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; r = urllib.request.urlopen('http://127.0.0.1:8080/health', timeout=4); sys.exit(0 if r.status == 200 else 1)"]

CMD ["fowergram", "serve", "--host", "0.0.0.0", "--port", "8080"]
