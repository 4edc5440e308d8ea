"""The operations both doors (the CLI in starters/, the Order API in api/) use; no terminal, no web framework."""
