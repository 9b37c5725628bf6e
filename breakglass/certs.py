"""Self-signed serving certificates for the embedded default and for clusters without
cert-manager.

``breakglass serve`` with no ``tls.cert_file`` generates a CA and a serving certificate under
``state_dir/tls`` once and reuses them until they come close to expiry (``ensure``): within
``WARN_DAYS`` it warns at every start, within ``RENEW_DAYS`` (or once expired) it makes a new
pair, since an expired certificate would make the API server fail every webhook call.  The CA
bundle is what a webhook configuration's ``caBundle`` needs, so a renewal must be followed by
a new ``caBundle``.  Keys are written with mode 0600.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

#: warn this many days before the serving certificate expires
WARN_DAYS = 30
#: make a new pair this many days before it expires
RENEW_DAYS = 7


@dataclass(frozen=True)
class CertPaths:
    ca_file: Path
    cert_file: Path
    key_file: Path


@dataclass(frozen=True)
class CertState:
    """What ``ensure`` did: the certificate's expiry, and whether it replaced a pair that was
    there (expiring, expired or unreadable)."""

    expires: dt.datetime
    renewed: bool
    expiring: bool  # within WARN_DAYS of its expiry


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "breakglass"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def pem_key(key: PrivateKeyTypes) -> bytes:
    """A private key as unencrypted PKCS#8 PEM."""
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def issue(
    subject: str,
    key: ec.EllipticCurvePrivateKey,
    issuer: tuple[x509.Certificate, ec.EllipticCurvePrivateKey] | None = None,
    hosts: Sequence[str] = (),
    *,
    days: int = 1,
    now: dt.datetime | None = None,
) -> x509.Certificate:
    """A certificate for ``key``: a CA signed by itself without ``issuer``, else a serving
    certificate signed by it, with ``hosts`` as IP or DNS subject alternative names.  The one
    place breakglass issues certificates (its own serving pair, the demo's control plane)."""
    now = now or dt.datetime.now(dt.UTC)
    name = _name(subject)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer[0].subject if issuer else name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=days))
    )
    if issuer is None:
        builder = builder.add_extension(
            x509.BasicConstraints(ca=True, path_length=0), critical=True
        ).add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
    else:
        names: list[x509.GeneralName] = []
        for host in hosts:
            try:
                names.append(x509.IPAddress(ipaddress.ip_address(host)))
            except ValueError:
                names.append(x509.DNSName(host))
        builder = builder.add_extension(
            x509.BasicConstraints(ca=False, path_length=None), critical=True
        ).add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        if names:
            builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    return builder.sign(issuer[1] if issuer else key, hashes.SHA256())


def _write(path: Path, data: bytes, mode: int) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    tmp.replace(path)


def generate(
    directory: Path,
    hosts: Sequence[str],
    *,
    days: int = 365,
    force: bool = False,
    now: dt.datetime | None = None,
) -> CertPaths:
    """Create (or reuse) ``ca.crt``, ``tls.crt`` and ``tls.key`` in ``directory``, valid for
    ``days`` from ``now``."""
    paths = CertPaths(directory / "ca.crt", directory / "tls.crt", directory / "tls.key")
    if not force and all(p.is_file() for p in (paths.ca_file, paths.cert_file, paths.key_file)):
        return paths
    directory.mkdir(parents=True, exist_ok=True)
    now = now or dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_cert = issue("breakglass webhook CA", ca_key, days=days, now=now)
    key = ec.generate_private_key(ec.SECP256R1())
    subject = hosts[0] if hosts else "breakglass"
    cert = issue(subject, key, (ca_cert, ca_key), hosts, days=days, now=now)
    _write(paths.ca_file, ca_cert.public_bytes(serialization.Encoding.PEM), 0o644)
    _write(paths.key_file, pem_key(key), 0o600)
    _write(paths.cert_file, cert.public_bytes(serialization.Encoding.PEM), 0o644)
    return paths


def ensure(
    directory: Path,
    hosts: Sequence[str],
    *,
    days: int = 365,
    now: dt.datetime | None = None,
) -> tuple[CertPaths, CertState]:
    """The self-signed pair in ``directory``: reused while it has more than ``RENEW_DAYS``
    left (``expiring`` once fewer than ``WARN_DAYS``), made anew otherwise (missing,
    unreadable, expired or about to expire)."""
    now = now or dt.datetime.now(dt.UTC)
    paths = CertPaths(directory / "ca.crt", directory / "tls.crt", directory / "tls.key")
    expires = _expiry(paths)
    if expires is not None and expires - now > dt.timedelta(days=RENEW_DAYS):
        left = expires - now
        return paths, CertState(expires, False, left <= dt.timedelta(days=WARN_DAYS))
    existed = any(p.exists() for p in (paths.ca_file, paths.cert_file, paths.key_file))
    paths = generate(directory, hosts, days=days, force=True, now=now)
    fresh = _expiry(paths)
    assert fresh is not None
    return paths, CertState(fresh, existed, False)


def _expiry(paths: CertPaths) -> dt.datetime | None:
    """When the earlier of the serving certificate and its CA expires; None if either is
    missing or unreadable."""
    try:
        found = [
            x509.load_pem_x509_certificate(p.read_bytes()).not_valid_after_utc
            for p in (paths.cert_file, paths.ca_file)
        ]
    except (OSError, ValueError):
        return None
    if not paths.key_file.is_file():
        return None
    return min(found)
