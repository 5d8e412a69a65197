# One image for every role: `vsm serve` (API, default), `vsm worker` (Celery), `vsm db upgrade`.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

# Dependencies in their own layer, pinned by the lock file: rebuilt only when it changes.
COPY requirements.lock ./
RUN pip install -r requirements.lock

COPY pyproject.toml README.md alembic.ini ./
COPY migrations ./migrations
COPY schema ./schema
COPY examples ./examples
COPY connectors ./connectors
COPY workers ./workers
COPY service ./service
# Editable install: `vsm` on PATH, and the code (with migrations/ beside it) stays in /app.
RUN pip install --no-deps -e . \
    && useradd --create-home --uid 10001 --shell /usr/sbin/nologin vsm \
    && mkdir -p /app/var \
    && chown vsm:vsm /app/var

USER vsm
# The SQLite database and the generated encryption key of the embedded default live here:
# `docker run -v vsmdata:/app/var ...` keeps them across container restarts.
VOLUME ["/app/var"]
EXPOSE 8000
# The embedded default (SQLite in /app/var, jobs on a thread) unless VSM_DATABASE_URL and
# VSM_BROKER_URL point elsewhere; see docker-compose.yml for the scaled-out setup.
CMD ["vsm", "serve", "--host", "0.0.0.0", "--port", "8000"]
