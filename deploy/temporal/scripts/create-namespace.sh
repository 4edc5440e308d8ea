#!/bin/sh
# One-off job for docker-compose.yml (service `temporal-namespace`, image temporalio/admin-tools): registers the
# namespace the workers poll, once the server answers. Idempotent: an existing namespace is left as it is. Workers,
# the API and the CLI start only after this exits 0 (depends_on: service_completed_successfully).
set -eu

NAMESPACE="${TEMPORAL_NAMESPACE:-default}"
ADDRESS="${TEMPORAL_ADDRESS:-temporal:7233}"
RETENTION="${TEMPORAL_NAMESPACE_RETENTION:-72h}"
ATTEMPTS=30

# The frontend demands mutual TLS: this job's own client certificate, passed as flags because the `temporal` CLI of
# older admin-tools images does not read the TEMPORAL_TLS_*_PATH variables by itself.
temporal() {
  command temporal "$@" --address "$ADDRESS" \
    --tls-ca-path "${TEMPORAL_TLS_SERVER_CA_CERT_PATH:?set it to the CA that signed the frontend}" \
    --tls-cert-path "${TEMPORAL_TLS_CLIENT_CERT_PATH:?set it to this job's client certificate}" \
    --tls-key-path "${TEMPORAL_TLS_CLIENT_KEY_PATH:?set it to that certificate's key}"
}

attempt=1
until temporal operator cluster health >/dev/null 2>&1; do
  if [ "$attempt" -ge "$ATTEMPTS" ]; then
    echo "Temporal at $ADDRESS is still not serving after $ATTEMPTS tries: see \`docker compose logs temporal\`" >&2
    exit 1
  fi
  attempt=$((attempt + 1))
  sleep 2
done

if temporal operator namespace describe --namespace "$NAMESPACE" >/dev/null 2>&1; then
  echo "==> namespace $NAMESPACE already exists"
else
  temporal operator namespace create --namespace "$NAMESPACE" --retention "$RETENTION"
  echo "==> namespace $NAMESPACE created (retention $RETENTION)"
fi
