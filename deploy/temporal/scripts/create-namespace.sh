#!/bin/sh
# One-off job for docker-compose.yml (service `temporal-namespace`, image temporalio/admin-tools): registers the
# namespace the workers poll, once the server answers. Idempotent: an existing namespace is left as it is. Workers,
# the API and the CLI start only after this exits 0 (depends_on: service_completed_successfully).
set -eu

NAMESPACE="${TEMPORAL_NAMESPACE:-default}"
ADDRESS="${TEMPORAL_ADDRESS:-temporal:7233}"
RETENTION="${TEMPORAL_NAMESPACE_RETENTION:-72h}"
ATTEMPTS=30

attempt=1
until temporal operator cluster health --address "$ADDRESS" >/dev/null 2>&1; do
  if [ "$attempt" -ge "$ATTEMPTS" ]; then
    echo "Temporal at $ADDRESS is still not serving after $ATTEMPTS tries: see \`docker compose logs temporal\`" >&2
    exit 1
  fi
  attempt=$((attempt + 1))
  sleep 2
done

if temporal operator namespace describe --address "$ADDRESS" --namespace "$NAMESPACE" >/dev/null 2>&1; then
  echo "==> namespace $NAMESPACE already exists"
else
  temporal operator namespace create --address "$ADDRESS" --namespace "$NAMESPACE" --retention "$RETENTION"
  echo "==> namespace $NAMESPACE created (retention $RETENTION)"
fi
