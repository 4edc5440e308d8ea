"""The Order API: Cadenza's HTTP front door (`cadenza api`). Clients place and follow orders over HTTP; only this
service holds a Temporal client."""
