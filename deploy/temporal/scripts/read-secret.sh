#!/bin/sh
# Sourced by the compose jobs' scripts: `export_secret VAR FILE_VAR` exports VAR with the contents of the file named by
# FILE_VAR (a compose secret under /run/secrets), failing with the next step when it is missing or empty.
export_secret() {
  file="$(eval "printf '%s' \"\${$2:-}\"")"
  if [ -z "$file" ] || [ ! -s "$file" ]; then
    echo "$2 (${file:-unset}) names no readable, non-empty file: run \`make compose-secrets\` (or" \
         "\`cadenza compose-secrets\`) in the repository, then \`docker compose up\` again" >&2
    exit 1
  fi
  value="$(cat "$file")"
  export "$1=$value"
}
