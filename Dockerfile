# One image for every Cadenza process: the worker (`cadenza worker`), the three simulated services
# (`python -m services erp|payment|inventory ...`) and the one-off CLI (`cadenza order place FILE`).
# docker-compose.yml picks the process with `command:`; the default just prints the CLI help.
#
#   docker build -t cadenza:dev .
#
# Runtime dependencies only: the `test` extra (pytest, the Java test server, ...) is not installed.

# ---- build: turn the source tree into a wheel ---------------------------------------------------
FROM python:3.11-slim AS build

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /src
# The whole (.dockerignore-filtered) context: setuptools' package discovery needs the package folders
# next to pyproject.toml, and copying everything means a new package is never silently left out.
COPY . .
RUN pip wheel --no-deps --wheel-dir /wheels .

# ---- runtime ------------------------------------------------------------------------------------
FROM python:3.11-slim

ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# Non-root user. /data is where the services keep their SQLite files; creating it here, owned by
# that user, makes the named volumes compose mounts there writable (Docker copies the ownership of
# the image's folder into an empty named volume). /app is the working folder (CLI, relative paths).
RUN groupadd --system --gid 10001 cadenza \
    && useradd --system --uid 10001 --gid cadenza --home-dir /home/cadenza --create-home \
       --shell /usr/sbin/nologin cadenza \
    && mkdir -p /data /app \
    && chown cadenza:cadenza /data /app

# Dependencies first, read from pyproject.toml alone: this layer is rebuilt only when pyproject.toml
# changes, not on every code edit. (The wheel install below still resolves dependencies itself, so a
# stale or partial list here can only cost time, never correctness.)
COPY pyproject.toml /tmp/pyproject.toml
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('/tmp/pyproject.toml', 'rb'))['project']['dependencies']))" \
        > /tmp/requirements.txt \
    && pip install -r /tmp/requirements.txt \
    && rm /tmp/requirements.txt /tmp/pyproject.toml

# The project itself (console script `cadenza`, packages in site-packages; no source tree kept).
COPY --from=build /wheels /tmp/wheels
RUN pip install /tmp/wheels/*.whl && rm -rf /tmp/wheels

USER cadenza
WORKDIR /app
ENV CADENZA_STATE_DIR=/app/.cadenza

CMD ["cadenza", "--help"]
