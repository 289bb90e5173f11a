"""``fedkd certs``: development TLS certificates and SuperNode authentication keys.

Writes, with the ``cryptography`` library:

- ``ca.crt``/``ca.key``: a self-signed development certificate authority;
- ``server.crt``/``server.key``: the SuperLink's certificate for ``--host`` (an IP
  address or a DNS name in the subject alternative names), signed by the CA;
- ``supernode-<i>``/``supernode-<i>.pub`` for ``i`` in ``1..--supernodes``: the
  SuperNode authentication key pairs Flower 1.41 reads. The private key is an
  OpenSSH-format EC key on NIST P-384 (``flower-supernode
  --auth-supernode-private-key``), the public key an OpenSSH line
  (``flwr supernode register``), as ``ssh-keygen -t ecdsa -b 384`` would write them.

For development and tests: a production federation gets its server certificate
from the site's own CA.
"""

from __future__ import annotations

import argparse
import datetime
import ipaddress
import os
import tempfile
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from fedkd.io import write_atomic

VALID_DAYS = 365
CURVE = ec.SECP384R1


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The command's flags."""
    parser.add_argument("--host", default="127.0.0.1", help="the SuperLink's IP address or DNS name")
    parser.add_argument("--out", required=True, type=Path, help="folder for the certificates and keys")
    parser.add_argument("--supernodes", type=int, default=0, help="SuperNode authentication key pairs to make")


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _subject_alternative_name(host: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(host))
    except ValueError:
        return x509.DNSName(host)


def make_ca(now: datetime.datetime) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    """A self-signed CA key and certificate."""
    key = ec.generate_private_key(CURVE())
    certificate = (
        x509.CertificateBuilder()
        .subject_name(_name("fedkd development CA"))
        .issuer_name(_name("fedkd development CA"))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=VALID_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                     content_commitment=False, key_encipherment=False, data_encipherment=False,
                                     key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
        .sign(key, hashes.SHA256())
    )
    return key, certificate


def make_server_certificate(
    host: str, ca_key: ec.EllipticCurvePrivateKey, ca: x509.Certificate, now: datetime.datetime
) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    """A server key and a certificate for ``host`` signed by the CA."""
    key = ec.generate_private_key(CURVE())
    certificate = (
        x509.CertificateBuilder()
        .subject_name(_name(host))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=VALID_DAYS))
        .add_extension(x509.SubjectAlternativeName([_subject_alternative_name(host)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    return key, certificate


def supernode_key_pair() -> tuple[bytes, bytes]:
    """An OpenSSH private key and public key line for SuperNode authentication (EC P-384)."""
    key = ec.generate_private_key(CURVE())
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH,
                                serialization.NoEncryption())
    public = key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    return private, public + b"\n"


def write_certificates(out: Path, *, host: str, supernodes: int) -> list[Path]:
    """Write the CA, the server certificate for ``host`` and ``supernodes`` key pairs; return the paths."""
    if supernodes < 0:
        raise ValueError(f"--supernodes={supernodes} must be >= 0")
    if not host:
        raise ValueError("--host must not be empty")
    now = datetime.datetime.now(datetime.UTC)
    ca_key, ca = make_ca(now)
    server_key, server = make_server_certificate(host, ca_key, ca, now)
    files = {
        "ca.crt": ca.public_bytes(serialization.Encoding.PEM),
        "ca.key": _key_pem(ca_key),
        "server.crt": server.public_bytes(serialization.Encoding.PEM),
        "server.key": _key_pem(server_key),
    }
    for index in range(1, supernodes + 1):
        private, public = supernode_key_pair()
        files[f"supernode-{index}"] = private
        files[f"supernode-{index}.pub"] = public
    written = []
    for name, data in files.items():
        path = out / name
        if name.endswith((".crt", ".pub")):
            write_atomic(path, data)
        else:
            _write_secret(path, data)
        written.append(path)
    return written


def _write_secret(path: Path, data: bytes) -> None:
    """Write a private key readable by its owner only (``0o600`` from creation), in one rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(name, path)
    except BaseException:
        Path(name).unlink(missing_ok=True)
        raise


def run(args: argparse.Namespace) -> int:
    """Write the files and list them."""
    try:
        written = write_certificates(args.out, host=args.host, supernodes=args.supernodes)
    except (ValueError, OSError) as error:
        print(f"fedkd certs: {error}")
        return 2
    for path in written:
        print(path)
    return 0
