#!/bin/sh
# One-off schema job for docker-compose.yml (service `temporal-schema`, image temporalio/admin-tools): creates
# Temporal's two databases in Postgres if missing and brings both schemas up to the versions this admin-tools image
# ships. Safe to run on every `docker compose up`: `create` skips an existing database, `setup-schema -v 0.0` leaves a
# versioned schema alone, and `update-schema` applies only the versions not yet applied. The server waits for this
# job to exit 0 (depends_on: service_completed_successfully), so it never starts against a half-migrated database.
set -eu

: "${POSTGRES_SEEDS:?set POSTGRES_SEEDS to the Postgres host}"
: "${POSTGRES_USER:?set POSTGRES_USER}"
# The password comes from a compose secret (SQL_PASSWORD_FILE), never from the compose file.
. /scripts/read-secret.sh
export_secret SQL_PASSWORD SQL_PASSWORD_FILE
DB_PORT="${DB_PORT:-5432}"
SCHEMA_ROOT=/etc/temporal/schema/postgresql/v12

sql_tool() {
  temporal-sql-tool --plugin postgres12 --ep "$POSTGRES_SEEDS" -u "$POSTGRES_USER" -p "$DB_PORT" "$@"
}

for pair in temporal:temporal temporal_visibility:visibility; do
  database="${pair%%:*}"
  schema="${pair##*:}"
  echo "==> $database: create, version table, update to $SCHEMA_ROOT/$schema/versioned"
  sql_tool --db "$database" create
  sql_tool --db "$database" setup-schema -v 0.0
  sql_tool --db "$database" update-schema -d "$SCHEMA_ROOT/$schema/versioned"
done
echo "==> Temporal schema is up to date"
