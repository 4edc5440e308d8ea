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

# Dependencies first, exactly as locked (requirements/runtime.txt: every version pinned, every file's hash checked, so
# the image gets what CI tested and a tampered download fails the build). This layer is rebuilt only when the lock
# changes, not on every code edit.
COPY requirements/runtime.txt /tmp/requirements.txt
RUN pip install --require-hashes --no-deps -r /tmp/requirements.txt \
    && rm /tmp/requirements.txt

# The project itself (console script `cadenza`, packages in site-packages; no source tree kept). --no-deps: its
# dependencies are the locked ones above, never resolved again here.
COPY --from=build /wheels /tmp/wheels
RUN pip install --no-deps /tmp/wheels/*.whl && rm -rf /tmp/wheels

USER cadenza
WORKDIR /app
ENV CADENZA_STATE_DIR=/app/.cadenza

CMD ["cadenza", "--help"]
