"""The reconciler: a scheduled workflow that checks the audit's invariants over recent orders, repairs what is safe and
idempotent, and raises the rest. `plan` decides (no I/O), `schedule` creates its Temporal Schedule, `command` is the
`cadenza reconcile` glue. The workflow and its activities are in workflows/reconcile.py and activities/reconcile.py."""
