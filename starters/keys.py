"""`cadenza keys generate`: a new payload-encryption key line for `CADENZA_ENCRYPTION_KEYS` (cadenza/codec.py).

The line alone goes to stdout (so `echo "$(cadenza keys generate --id k2),$CADENZA_ENCRYPTION_KEYS"` rotates), the
advice to stderr. Nothing is stored: where keys live (a secret store, a file) is the deployment's choice.
"""

from __future__ import annotations

from typing import Annotated

import typer

from cadenza.codec import KEYS_ENV, KeyRing, KeyRingError
from starters.console import EXIT_BAD_INPUT, errors, fail

keys_app = typer.Typer(help="Payload encryption keys (CADENZA_ENCRYPTION_KEYS).", no_args_is_help=True)


@keys_app.command("generate")
def generate(
    key_id: Annotated[
        str | None, typer.Option("--id", help="Key id (travels in clear in each payload); default k<UTC timestamp>")
    ] = None,
) -> None:
    """Print a new key line `<id>=<base64 key>`. Put it FIRST in CADENZA_ENCRYPTION_KEYS to make it active; keep the
    old lines after it for as long as histories written under them are read."""
    try:
        line = KeyRing.generate_line(key_id)
    except KeyRingError as err:
        fail(str(err), EXIT_BAD_INPUT)
    print(line)
    errors.print(
        f"New key {line.split('=', 1)[0]!r}. Rotate by putting it first: {KEYS_ENV}=<this line>,<the current keys>, "
        "on every worker, client and codec server; drop an old key only once no history still needs it."
    )
