"""Certificates for mutual TLS between Cadenza's processes and Temporal: a private certificate authority, one server
certificate for the Temporal frontend, and one client certificate per component (worker, api, cli, ...).

Development and tests only make them here (`cadenza certs create`); production brings its own from a real CA
(cert-manager, Vault, ...) as Secrets with the same roles. One client certificate per component, not one shared, so that
one leaked key can be revoked without re-keying the rest, and the server's logs name who connected.

ECDSA P-256 keys: accepted by Temporal's Go server, the SDK's Rust core and Python's `ssl`, and made in milliseconds.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

DEFAULT_DAYS = 365
ORGANISATION = "Cadenza development"


@dataclass(frozen=True)
class Issued:
    """One certificate and its private key, PEM-encoded."""

    name: str
    cert_pem: bytes
    key_pem: bytes

    @property
    def certificate(self) -> x509.Certificate:
        return x509.load_pem_x509_certificate(self.cert_pem)


@dataclass(frozen=True)
class Authority:
    """The CA: signs the server and client certificates; Temporal trusts clients it signed, clients trust the server."""

    issued: Issued

    @classmethod
    def create(cls, days: int = DEFAULT_DAYS) -> Authority:
        key = ec.generate_private_key(ec.SECP256R1())
        name = _name("Cadenza development CA")
        builder = (
            _builder(name, name, key.public_key(), days)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    key_cert_sign=True,
                    crl_sign=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
        )
        cert = builder.sign(key, hashes.SHA256())
        return cls(Issued("ca", _pem(cert), _key_pem(key)))

    def server(self, hostnames: list[str], days: int = DEFAULT_DAYS) -> Issued:
        """The frontend's certificate, valid for each of `hostnames` (DNS names or IP addresses). It may also act as
        a client: Temporal's own services present it to each other (internode) and to the frontend."""
        if not hostnames:
            raise ValueError("a server certificate needs at least one host name: the address clients connect to")
        names = [_subject_alt_name(host) for host in hostnames]
        return self._issue(
            hostnames[0],
            days,
            x509.SubjectAlternativeName(names),
            [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH],
        )

    def client(self, component: str, days: int = DEFAULT_DAYS) -> Issued:
        """A client certificate whose subject names the component (`CN=<component>`)."""
        return self._issue(component, days, None, [ExtendedKeyUsageOID.CLIENT_AUTH])

    def _issue(
        self,
        common_name: str,
        days: int,
        alt_names: x509.SubjectAlternativeName | None,
        usages: list[x509.ObjectIdentifier],
    ) -> Issued:
        ca_cert = self.issued.certificate
        ca_key = serialization.load_pem_private_key(self.issued.key_pem, password=None)
        key = ec.generate_private_key(ec.SECP256R1())
        builder = (
            _builder(_name(common_name), ca_cert.subject, key.public_key(), days)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage(usages), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_cert.public_key()),  # type: ignore[arg-type]
                critical=False,
            )
        )
        if alt_names is not None:
            builder = builder.add_extension(alt_names, critical=False)
        cert = builder.sign(ca_key, hashes.SHA256())  # type: ignore[arg-type]
        return Issued(common_name, _pem(cert), _key_pem(key))


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, ORGANISATION),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _builder(
    subject: x509.Name, issuer: x509.Name, public_key: ec.EllipticCurvePublicKey, days: int
) -> x509.CertificateBuilder:
    now = dt.datetime.now(dt.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        # A minute of slack: a container whose clock runs a little behind must not see a certificate from the future.
        .not_valid_before(now - dt.timedelta(minutes=1))
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
    )


def _subject_alt_name(host: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(host))
    except ValueError:
        return x509.DNSName(host)


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
