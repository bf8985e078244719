"""Mutual TLS between the BankID client and the test server, with certificates made for the test."""

import datetime
import ipaddress
import threading

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from torget_identity.bankid import BankIdClient, BankIdUnavailable
from torget_identity.bankid_test_server import make_server


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _certificate(subject: str, key, issuer: str, issuer_key, *, ca: bool = False, server: bool = False):
    now = datetime.datetime.now(datetime.timezone.utc)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(_name(issuer))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if server:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False
        ).add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
    elif not ca:
        builder = builder.add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def _write(path, certificate=None, key=None):
    if certificate is not None:
        path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    else:
        path.write_bytes(
            key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
        )
    return str(path)


@pytest.fixture
def pki(tmp_path):
    """Write a CA, a server certificate for 127.0.0.1 and a client certificate, all signed by the CA."""
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = _certificate("Test CA", ca_key, "Test CA", ca_key, ca=True)
    server_key = ec.generate_private_key(ec.SECP256R1())
    client_key = ec.generate_private_key(ec.SECP256R1())
    return {
        "ca": _write(tmp_path / "ca.pem", ca),
        "server_cert": _write(tmp_path / "server.pem", _certificate("127.0.0.1", server_key, "Test CA", ca_key, server=True)),
        "server_key": _write(tmp_path / "server-key.pem", key=server_key),
        "client_cert": _write(tmp_path / "client.pem", _certificate("Torget RP", client_key, "Test CA", ca_key)),
        "client_key": _write(tmp_path / "client-key.pem", key=client_key),
    }


@pytest.fixture
def tls_server(pki):
    server = make_server("127.0.0.1", 0, tls_cert=pki["server_cert"], tls_key=pki["server_key"], client_ca=pki["ca"])
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    yield f"https://127.0.0.1:{server.server_port}/rp/v6.0"
    server.shutdown()
    server.server_close()


def test_client_certificate_accepted(tls_server, pki):
    client = BankIdClient(tls_server, client_cert=pki["client_cert"], client_key=pki["client_key"], ca_bundle=pki["ca"])

    order = client.auth("192.0.2.10")

    assert client.collect(order["orderRef"])["status"] == "pending"


def test_missing_client_certificate_rejected(tls_server, pki):
    client = BankIdClient(tls_server, ca_bundle=pki["ca"], timeout=3)

    with pytest.raises(BankIdUnavailable):
        client.auth("192.0.2.10")


def test_unknown_server_ca_rejected(tls_server, pki):
    client = BankIdClient(tls_server, client_cert=pki["client_cert"], client_key=pki["client_key"], timeout=3)

    with pytest.raises(BankIdUnavailable):
        client.auth("192.0.2.10")
