"""Where the decision keys come from (cadenza.decisions signs and checks with them): the same key-line format as the
encryption keys (`cadenza keys generate` prints one), first line signs, every line verifies. First found wins:

- `CADENZA_DECISION_KEYS`: key lines separated by commas, e.g. `d2=…,d1=…`;
- `CADENZA_DECISION_KEYS_FILE`: a file with one key line per line; `#` comments;
- `<state dir>/decision-keys`: the development key the embedded stack (`cadenza up`) creates on its first start.

Workers, the Order API and whoever runs `cadenza order review` / `retry-compensation` need the same keys; without any,
they refuse to start (or to sign), naming the variable. Separate from the encryption keys on purpose: the codec server
holds those, and must not be able to decide anything.

Rotation by key id: add the new line to every worker (after the active one), then put it first at the doors, then
drop the old line once `cadenza.decisions.MAX_AGE` has passed (no proof under it can be accepted any more).
"""

from __future__ import annotations

from collections.abc import Mapping

from cadenza.codec import KeyRing, KeyRingError, KeySetting, missing_keys

DECISION_KEYS = KeySetting(
    keys_env="CADENZA_DECISION_KEYS",
    file_env="CADENZA_DECISION_KEYS_FILE",
    state_file="decision-keys",
    purpose="decision signing",
    keep_note="Whoever can read this file can approve this stack's orders: keep it to yourself.",
)


class DecisionKeysMissing(KeyRingError):
    """This process signs or checks decisions but has no decision keys."""


def decision_keys(environ: Mapping[str, str] | None = None) -> KeyRing:
    """This process's decision keys, or `DecisionKeysMissing` naming the variable to set."""
    ring = KeyRing.from_environment(environ, DECISION_KEYS)
    if ring is None:
        raise DecisionKeysMissing(
            f"No decision keys: {missing_keys(DECISION_KEYS)}. Elsewhere set {DECISION_KEYS.keys_env} (a line from "
            f"`cadenza keys generate`) or {DECISION_KEYS.file_env}: the same keys on every worker, the Order API and "
            "wherever `cadenza order review` or `retry-compensation` runs."
        )
    return ring
