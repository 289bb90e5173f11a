"""``fedkd certs``: a CA, a server certificate for the host, and SuperNode keys in the formats Flower 1.41 reads."""

from __future__ import annotations

import ipaddress
import stat
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import load_pem_private_key, load_ssh_private_key

from cli.main import main


def test_certs_server_certificate_is_signed_by_the_ca_for_the_ip_host(tmp_path: Path) -> None:
    code = main(["certs", "--host", "127.0.0.1", "--out", str(tmp_path), "--supernodes", "2"])

    assert code == 0
    ca = x509.load_pem_x509_certificate((tmp_path / "ca.crt").read_bytes())
    server = x509.load_pem_x509_certificate((tmp_path / "server.crt").read_bytes())
    server.verify_directly_issued_by(ca)  # raises if the CA did not sign it
    names = server.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address("127.0.0.1")]
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    key = load_pem_private_key((tmp_path / "server.key").read_bytes(), password=None)
    assert key.public_key() == server.public_key()
    for name in ("ca.key", "server.key", "supernode-1", "supernode-2"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o600, name


def test_certs_dns_host_goes_in_the_dns_names(tmp_path: Path) -> None:
    assert main(["certs", "--host", "fl.example.org", "--out", str(tmp_path)]) == 0

    server = x509.load_pem_x509_certificate((tmp_path / "server.crt").read_bytes())
    names = server.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == ["fl.example.org"]
    assert not list(tmp_path.glob("supernode-*"))


def test_certs_supernode_keys_load_with_flowers_own_readers(tmp_path: Path) -> None:
    from flwr.cli.supernode.register import try_load_public_key
    from flwr.supercore.primitives.asymmetric import public_key_to_bytes

    assert main(["certs", "--out", str(tmp_path), "--supernodes", "1"]) == 0

    # What flower-supernode --auth-supernode-private-key and flwr supernode register read.
    private = load_ssh_private_key((tmp_path / "supernode-1").read_bytes(), None)
    assert isinstance(private, ec.EllipticCurvePrivateKey) and private.curve.name == "secp384r1"
    assert try_load_public_key(tmp_path / "supernode-1.pub") == public_key_to_bytes(private.public_key())


def test_certs_negative_count_is_refused_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["certs", "--out", str(tmp_path / "out"), "--supernodes", "-1"])

    assert code == 2 and "--supernodes=-1" in capsys.readouterr().out
    assert not (tmp_path / "out").exists()
