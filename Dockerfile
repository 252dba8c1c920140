# syntax=docker/dockerfile:1
# Supportline image: one image for the API (`serve`, the default), the worker
# (`worker`) and migrations (`migrate`). No embedded servers: DATABASE_URL and
# REDIS_URL must point at a real PostgreSQL and Redis.
#
#   docker build -t supportline .
#   docker run --rm -e DATABASE_URL=... -e REDIS_URL=... supportline migrate
#   docker run -p 8000:8000 -e DATABASE_URL=... -e REDIS_URL=... supportline

ARG PYTHON_IMAGE=python:3.11-slim

# ---- build: wheels for the project and every runtime dependency -------------------
FROM ${PYTHON_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
# Dependencies first, so editing the code does not rebuild them: a wheel of every
# requirement from pyproject.toml (the extras `embedded`/`dev` are left out).
COPY pyproject.toml ./
RUN python -c "import tomllib; print('\\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" > /tmp/requirements.txt
RUN pip wheel --wheel-dir /wheels -r /tmp/requirements.txt
COPY README.md ./
COPY app ./app
COPY workers ./workers
RUN pip wheel --no-deps --wheel-dir /wheels .

# ---- runtime -------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS runtime
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    ENV=production \
    LOG_JSON=true \
    HOST=0.0.0.0 \
    PORT=8000 \
    DATA_DIR=/tmp/supportline

RUN groupadd --system --gid 10001 supportline \
    && useradd --system --uid 10001 --gid supportline --no-create-home \
       --home-dir /nonexistent --shell /usr/sbin/nologin supportline

RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    pip install --no-index --find-links=/wheels supportline

# `supportline migrate` reads alembic.ini and alembic/ from the working directory.
WORKDIR /app
COPY alembic.ini ./
COPY alembic ./alembic

USER 10001:10001
EXPOSE 8000

# Liveness of the API process (the worker's check is `arq --check`, see docker-compose.yml).
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
    CMD python -c "import os, sys, urllib.request; r = urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('PORT', '8000'), timeout=3); sys.exit(0 if r.status == 200 else 1)"

ENTRYPOINT ["supportline"]
CMD ["serve"]
