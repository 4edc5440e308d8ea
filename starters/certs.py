"""`cadenza certs create`: development certificates for mutual TLS with Temporal (cadenza/tls_certs.py makes them,
this writes them where asked and says what to do with them).

Layout of the folder (docs/deploying.md, "Mutual TLS with Temporal"):
    ca.pem, ca.key                 the CA; ca.key signs, so it stays here and is never mounted anywhere
    server.pem, server.key         the Temporal frontend's certificate (also its internode certificate)
    <component>.pem, .key          one client certificate per component (CN = the component)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Annotated

import typer

from cadenza.errors import InvalidInput
from cadenza.private_files import FILE_MODE, private_dir, write_file
from cadenza.settings import state_dir
from cadenza.tls_certs import DEFAULT_DAYS, Authority, Issued
from starters.console import EXIT_BAD_INPUT, console, fail

# Cadenza's own Temporal clients. The codec server is not one: it never talks to Temporal.
CADENZA_COMPONENTS = ("worker", "api", "cli")
LOCAL_HOSTS = ("localhost", "127.0.0.1")
CA_NAME = "ca"
SERVER_NAME = "server"

certs_app = typer.Typer(help="Certificates for mutual TLS between Cadenza and Temporal.", no_args_is_help=True)


class CertificatesExist(InvalidInput, RuntimeError):
    """The folder already holds certificates; overwriting them would lock out every process that uses the old ones."""


def certificate_files(out: Path, components: Sequence[str]) -> list[Path]:
    """Every file `create_certificates` writes into `out`, in the order it writes them."""
    names = [CA_NAME, SERVER_NAME, *components]
    return [out / f"{name}.{suffix}" for name in names for suffix in ("pem", "key")]


def create_certificates(
    out: Path,
    *,
    hosts: Sequence[str],
    components: Sequence[str],
    days: int = DEFAULT_DAYS,
    key_mode: int = FILE_MODE,
    progress: Callable[[str], None] = lambda _: None,
) -> list[Path]:
    """Write a CA, a server certificate for `hosts` and a client certificate per component into `out` (a folder only
    its owner can enter). Private keys get `key_mode`, the CA's key always 0600. Refuses to overwrite."""
    existing = [path for path in certificate_files(out, components) if path.exists()]
    if existing:
        raise CertificatesExist(
            f"{out} already holds {', '.join(path.name for path in existing)}: every process trusting that CA would "
            "be locked out by new ones. Use another folder, or delete these files first to start over."
        )
    private_dir(out)
    progress(f"CA (valid {days} days)")
    authority = Authority.create(days)
    written = _write(out, CA_NAME, authority.issued, FILE_MODE)
    progress(f"server certificate for {', '.join(hosts)}")
    written += _write(out, SERVER_NAME, authority.server(list(hosts), days), key_mode)
    for component in components:
        progress(f"client certificate for {component}")
        written += _write(out, component, authority.client(component, days), key_mode)
    return written


def _write(out: Path, name: str, issued: Issued, key_mode: int) -> list[Path]:
    return [
        write_file(out / f"{name}.pem", issued.cert_pem, 0o644),  # a certificate is public
        write_file(out / f"{name}.key", issued.key_pem, key_mode),
    ]


@certs_app.command("create")
def create(
    out: Annotated[
        Path | None, typer.Argument(help="Folder to write into, created 0700 (default: tls/ in the state folder)")
    ] = None,
    host: Annotated[
        list[str] | None,
        typer.Option("--host", help="A name or IP the frontend is reached at (repeat); localhost and 127.0.0.1 always"),
    ] = None,
    component: Annotated[
        list[str] | None,
        typer.Option(
            "--component", help=f"A client certificate to make (repeat; default: {', '.join(CADENZA_COMPONENTS)})"
        ),
    ] = None,
    days: Annotated[int, typer.Option("--days", min=1, help="Validity of every certificate")] = DEFAULT_DAYS,
) -> None:
    """Create a development CA, a server certificate for the Temporal frontend and one client certificate per
    component, for mutual TLS. Production: the same roles from your own CA, as Secrets (docs/deploying.md)."""
    out = out or state_dir() / "tls"
    components = list(component or CADENZA_COMPONENTS)
    hosts = list(dict.fromkeys([*(host or []), *LOCAL_HOSTS]))
    try:
        create_certificates(
            out, hosts=hosts, components=components, days=days, progress=lambda step: console.print(f"==> {step}")
        )
    except ValueError as err:  # CertificatesExist is an InvalidInput: the command group reports it
        fail(str(err), EXIT_BAD_INPUT)
    # Plain print: these lines are meant to be copied, and rich would wrap them at the terminal's width.
    print(f"Written to {out} (keys 0600; {CA_NAME}.key signs new certificates: keep it out of every pod).")
    print('Each process connects with (docs/deploying.md, "Mutual TLS with Temporal"):')
    print(f"  TEMPORAL_TLS_SERVER_CA_CERT_PATH={out / CA_NAME}.pem")
    print(
        f"  TEMPORAL_TLS_CLIENT_CERT_PATH={out / components[0]}.pem "
        f"TEMPORAL_TLS_CLIENT_KEY_PATH={out / components[0]}.key"
    )
    print("Kubernetes, one Secret per component:")
    for name in components:
        print(
            f"  kubectl -n cadenza create secret generic cadenza-{name}-temporal-tls "
            f"--from-file=tls.crt={out / name}.pem "
            f"--from-file=tls.key={out / name}.key --from-file=ca.crt={out / CA_NAME}.pem"
        )
