"""`cadenza doctor`: is this machine's configuration able to run orders? Checks, in order, Temporal (the active
envconfig profile, the namespace, Cadenza's search attributes, workers polling the task queue), the encryption keys,
the three services with their tokens, the Order API and the codec server, and whether this build's code replays its
open orders; prints each result with the exact fix.

model: what a check is and what it answers · temporal / keys / endpoints / replay: the checks · run: order, time
limits, progress · render: the table and --json · command: the typer command.
"""
