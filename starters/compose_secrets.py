"""`cadenza compose-secrets`: what docker-compose.yml needs that must never be committed — the Temporal database
password, the Order API's page-token secret, the decision key (whoever holds it can approve orders) and the development
certificates for mutual TLS — written once into deploy/secrets/generated/ (git-ignored).

Modes: the folder is 0700, so no other local user can enter it. The files Compose mounts into containers (the password,
the certificates' keys) are 0644 *inside* it, because Compose bind-mounts a secret file with its host owner and mode and
each container runs as its own user (Postgres, Temporal, the Web UI, Cadenza's uid 10001): a 0600 file would be
unreadable to all but one of them. The CA's key is never mounted and stays 0600.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer

from cadenza.codec import KeyRing
from cadenza.private_files import private_dir, write_file
from starters.certs import CertificatesExist, certificate_files, create_certificates
from starters.console import EXIT_BAD_INPUT, console, fail

DEFAULT_OUT = Path("deploy/secrets/generated")
DB_PASSWORD_FILE = "temporal-db-password"
# The Order API's page-token signing key: one for every replica, so a page token from one is good at another.
PAGE_TOKEN_SECRET_FILE = "api-page-token-secret"
# The key that signs and checks review decisions and retries (docs/security.md, "Decisions"): a key line.
DECISION_KEYS_FILE = "decision-keys"
# What each generated secret holds, made only when it is missing.
GENERATED_SECRETS: dict[str, Callable[[], str]] = {
    DB_PASSWORD_FILE: lambda: secrets.token_urlsafe(32),
    PAGE_TOKEN_SECRET_FILE: lambda: secrets.token_urlsafe(32),
    DECISION_KEYS_FILE: lambda: KeyRing.generate_line("compose-decisions") + "\n",
}
TLS_FOLDER = "tls"
# Inside the compose network the frontend is `temporal`; tools on the host reach it on loopback.
COMPOSE_HOSTS = ("temporal", "localhost", "127.0.0.1")
# Every process that talks to the frontend: Cadenza's three clients, the Web UI and the namespace job (admin tools).
COMPOSE_COMPONENTS = ("worker", "api", "cli", "temporal-ui", "temporal-admin")
MOUNTED_MODE = 0o644


def compose_secret_files(out: Path = DEFAULT_OUT) -> list[Path]:
    """Every file this command writes (docker-compose.yml's `secrets:` point at all but the CA's key)."""
    return [*(out / name for name in GENERATED_SECRETS), *certificate_files(out / TLS_FOLDER, COMPOSE_COMPONENTS)]


def create_compose_secrets(out: Path = DEFAULT_OUT, progress: Callable[[str], None] = lambda _: None) -> list[Path]:
    """Write whatever is missing; keep what exists (a new password or CA would lock the running stack out)."""
    private_dir(out)
    written = []
    for name, made in GENERATED_SECRETS.items():
        path = out / name
        if path.exists():
            progress(f"keeping {path}")
        else:
            progress(f"{name} -> {path}")
            written.append(write_file(path, made().encode(), MOUNTED_MODE))
    tls = out / TLS_FOLDER
    if all(path.exists() for path in certificate_files(tls, COMPOSE_COMPONENTS)):
        progress(f"keeping the certificates in {tls}")
    else:
        written += create_certificates(
            tls, hosts=COMPOSE_HOSTS, components=COMPOSE_COMPONENTS, key_mode=MOUNTED_MODE, progress=progress
        )
    return written


def compose_secrets(
    out: Annotated[Path, typer.Option("--out", help="Folder docker-compose.yml reads them from")] = DEFAULT_OUT,
) -> None:
    """Create the Temporal database password and the mutual-TLS certificates docker-compose.yml needs (once; kept on
    later runs). Then: docker compose up -d --build."""
    try:
        written = create_compose_secrets(out, progress=lambda step: console.print(f"==> {step}"))
    except CertificatesExist as err:
        fail(f"{err} (a run was interrupted: delete {out / TLS_FOLDER} and run this again)", EXIT_BAD_INPUT)
    console.print(
        f"{len(written)} file(s) written under {out} (folder 0700). Next: docker compose up -d --build. "
        "A database created with an older password keeps it: `docker compose down -v` starts over."
    )
