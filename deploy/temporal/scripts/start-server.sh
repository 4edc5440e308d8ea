#!/bin/sh
# Entrypoint of docker-compose.yml's `temporal` service: the server image reads its database password from
# POSTGRES_PWD only, and the password must not sit in the compose file or the container's configuration (where
# `docker inspect` shows it), so it is read here from the compose secret and handed to the image's own entrypoint.
set -eu
. /scripts/read-secret.sh
export_secret POSTGRES_PWD POSTGRES_PWD_FILE
exec /etc/temporal/entrypoint.sh "$@"
