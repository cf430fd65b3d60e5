"""A self-signed key and certificate for the instrument's own Wi-Fi (`ohmpi web selfsigned`).

In the field there is no certificate authority: the gateway serves HTTPS with a pair made
here, and each phone or laptop accepts it once (compare the SHA-256 fingerprint printed
here with the one the browser shows). The certificate names the machine's host names and
addresses (plus any `--host` given) so browsers match it; it is valid for 10 years. The
key is an ECDSA P-256 key, written 0600.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import socket
from pathlib import Path

from bus.files import atomic_write, private_dir

from .hosts import machine_names

VALID_DAYS = 3650


def make_pair(out_dir: str | os.PathLike, hosts: list[str] | None = None) -> dict:
    """Write `DIR/web.key` (0600) and `DIR/web.crt`; return their paths, names and fingerprint."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    names = sorted(set(hosts or []) | machine_names())
    dns, ips = [], []
    for name in names:
        try:
            ips.append(ipaddress.ip_address(name))
        except ValueError:
            if name:
                dns.append(name)
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, (hosts or [socket.gethostname()])[0][:64]),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "OhmPi instrument"),
        ]
    )
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=VALID_DAYS))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName(d) for d in dns] + [x509.IPAddress(i) for i in ips]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(key, hashes.SHA256())
    )
    out = private_dir(out_dir)
    key_path, cert_path = Path(out) / "web.key", Path(out) / "web.crt"
    atomic_write(
        key_path,
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()),
        mode=0o600,
    )
    atomic_write(cert_path, cert.public_bytes(serialization.Encoding.PEM), mode=0o644)
    fingerprint = cert.fingerprint(hashes.SHA256()).hex(":").upper()
    return {
        "keyfile": str(key_path),
        "certfile": str(cert_path),
        "names": names,
        "sha256": fingerprint,
        "expires": cert.not_valid_after_utc.isoformat(),
    }
