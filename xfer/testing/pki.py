"""A throwaway PKI for tests, the integration bed and ``xfer demo``.

``create_pki(folder)`` writes a root CA, an intermediate CA, server certificates
for 127.0.0.1/localhost (and one for a wrong host name), and client identities in
every shape xfer must handle: modern and legacy PKCS#12, leaf-only (missing the
intermediate), expired, expiring soon, from an untrusted CA, without the
clientAuth EKU, and a corrupt file.  PEM copies exist for curl, lftp and servers.

Run ``python -m xfer.testing.pki FOLDER`` to make one by hand.
Everything here is for tests: keys are unencrypted PEM beside the bundles.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

__all__ = ["DEFAULT_PASSWORD", "TestPKI", "create_pki", "main"]

#: Password of every PKCS#12 bundle the test PKI writes (also in ``password.txt``).
DEFAULT_PASSWORD = "xfer-test-password"

_KEY_SIZE = 2048
_DAY = dt.timedelta(days=1)


@dataclass(frozen=True)
class _Issued:
    key: rsa.RSAPrivateKey
    cert: x509.Certificate


@dataclass(frozen=True)
class TestPKI:
    """Paths of everything :func:`create_pki` wrote.  All PEM unless the name says p12."""

    __test__ = False  # not a pytest test class

    folder: Path
    password: str
    password_file: Path
    root_ca: Path  # trust anchor for server and client certificates
    intermediate_ca: Path
    ca_bundle: Path  # root + intermediate
    server_cert: Path  # leaf + intermediate, for 127.0.0.1 and localhost
    server_key: Path
    server_p12: Path
    wrong_host_cert: Path  # valid chain, but for wrong.invalid only
    wrong_host_key: Path
    client_p12: Path  # leaf + intermediate, modern PBES2/AES-256
    client_legacy_p12: Path  # 3DES/SHA-1 (the "legacy" format OpenSSL 3 tools reject)
    client_rc2_p12: Path | None  # RC2-40, made by `openssl pkcs12 -legacy` if available
    client_leaf_only_p12: Path  # lacks the intermediate: servers answer unknown CA
    client_expired_p12: Path
    client_expiring_p12: Path  # valid for 10 more days
    client_untrusted_p12: Path  # issued by a CA no server trusts
    client_no_eku_p12: Path  # serverAuth only, no clientAuth
    client_no_password_p12: Path  # no password at all
    corrupt_p12: Path
    client_cert: Path  # leaf + intermediate PEM for curl/lftp
    client_key: Path  # unencrypted PEM key for curl/lftp (test only)
    client_expired_cert: Path
    client_expired_key: Path
    client_untrusted_cert: Path
    client_untrusted_key: Path
    untrusted_ca: Path
    partner_p12: Path  # the AS2 partner's (server's) identity
    partner_cert: Path
    partner_key: Path
    client_common_name: str


def _name(cn: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "xfer test PKI"),
            x509.NameAttribute(NameOID.COMMON_NAME, cn),
        ]
    )


def _new_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=_KEY_SIZE)


def _ca(cn: str, issuer: _Issued | None, now: dt.datetime, path_length: int | None) -> _Issued:
    key = _new_key()
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(cn))
        .issuer_name(issuer.cert.subject if issuer else _name(cn))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _DAY)
        .not_valid_after(now + 3650 * _DAY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=path_length), critical=True)
        .add_extension(
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
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    )
    if issuer:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.key.public_key()),
            critical=False,
        )
    cert = builder.sign(issuer.key if issuer else key, hashes.SHA256())
    return _Issued(key, cert)


def _leaf(
    cn: str,
    issuer: _Issued,
    *,
    not_before: dt.datetime,
    not_after: dt.datetime,
    eku: list[x509.ObjectIdentifier],
    hosts: list[str] | None = None,
) -> _Issued:
    key = _new_key()
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(cn))
        .issuer_name(issuer.cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=True,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage(eku), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.key.public_key()),
            critical=False,
        )
    )
    if hosts:
        names: list[x509.GeneralName] = []
        for host in hosts:
            try:
                names.append(x509.IPAddress(ipaddress.ip_address(host)))
            except ValueError:
                names.append(x509.DNSName(host))
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    return _Issued(key, builder.sign(issuer.key, hashes.SHA256()))


def _pem(*certs: x509.Certificate) -> bytes:
    return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certs)


def _key_pem(key: rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _write(path: Path, data: bytes, mode: int = 0o644) -> Path:
    path.write_bytes(data)
    path.chmod(mode)
    return path


def _p12(
    path: Path,
    issued: _Issued,
    chain: list[x509.Certificate],
    password: str | None,
    *,
    legacy: bool = False,
) -> Path:
    encryption: serialization.KeySerializationEncryption
    if password is None:
        encryption = serialization.NoEncryption()
    elif legacy:
        encryption = (
            serialization.PrivateFormat.PKCS12.encryption_builder()
            .kdf_rounds(2048)
            .key_cert_algorithm(pkcs12.PBES.PBESv1SHA1And3KeyTripleDESCBC)
            .hmac_hash(hashes.SHA1())
            .build(password.encode())
        )
    else:
        encryption = serialization.BestAvailableEncryption(password.encode())
    data = pkcs12.serialize_key_and_certificates(
        issued.cert.subject.rfc4514_string().encode(), issued.key, issued.cert, chain, encryption
    )
    return _write(path, data, 0o600)


def _rc2_bundle(folder: Path, cert: Path, key: Path, password_file: Path) -> Path | None:
    """RC2-40 bundle made by OpenSSL's own tool (``-legacy``); None if it cannot.

    ``cert`` holds the leaf and the intermediate; OpenSSL bundles both.
    """
    openssl = shutil.which("openssl")
    if not openssl:
        return None
    out = folder / "client-rc2.p12"
    result = subprocess.run(
        [
            openssl, "pkcs12", "-export", "-legacy",
            "-in", str(cert), "-inkey", str(key),
            "-out", str(out), "-passout", f"file:{password_file}",
        ],
        capture_output=True,
        check=False,
    )
    if result.returncode != 0:
        return None
    out.chmod(0o600)
    return out


def create_pki(folder: str | os.PathLike[str], *, password: str = DEFAULT_PASSWORD) -> TestPKI:
    """Write a complete throwaway PKI into ``folder`` (created if needed) and describe it."""
    root = Path(folder)
    root.mkdir(parents=True, exist_ok=True)
    now = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    year = now + 365 * _DAY
    client_eku = [ExtendedKeyUsageOID.CLIENT_AUTH]
    server_eku = [ExtendedKeyUsageOID.SERVER_AUTH]

    ca = _ca("xfer test root CA", None, now, path_length=1)
    inter = _ca("xfer test intermediate CA", ca, now, path_length=0)
    rogue = _ca("xfer untrusted CA", None, now, path_length=0)

    hosts = ["127.0.0.1", "127.0.0.2", "localhost", "::1"]  # 127.0.0.2: the fault proxy (testing.faults)
    server = _leaf("127.0.0.1", inter, not_before=now - _DAY, not_after=year, eku=server_eku, hosts=hosts)
    wrong = _leaf(
        "wrong.invalid", inter, not_before=now - _DAY, not_after=year, eku=server_eku,
        hosts=["wrong.invalid"],
    )
    client = _leaf("xfer-client", inter, not_before=now - _DAY, not_after=year, eku=client_eku)
    expired = _leaf(
        "xfer-client-expired", inter, not_before=now - 60 * _DAY, not_after=now - 2 * _DAY,
        eku=client_eku,
    )
    expiring = _leaf(
        "xfer-client-expiring", inter, not_before=now - _DAY, not_after=now + 10 * _DAY,
        eku=client_eku,
    )
    untrusted = _leaf("xfer-client-untrusted", rogue, not_before=now - _DAY, not_after=year, eku=client_eku)
    no_eku = _leaf("xfer-client-server-only", inter, not_before=now - _DAY, not_after=year, eku=server_eku)
    partner = _leaf(
        "xfer-as2-partner", inter, not_before=now - _DAY, not_after=year,
        eku=[ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH,
             ExtendedKeyUsageOID.EMAIL_PROTECTION],
        hosts=hosts,
    )

    password_file = _write(root / "password.txt", password.encode(), 0o600)
    w = _write
    client_cert = w(root / "client.pem", _pem(client.cert, inter.cert))
    client_key = w(root / "client.key", _key_pem(client.key), 0o600)
    intermediate_pem = w(root / "intermediate.pem", _pem(inter.cert))
    pki = TestPKI(
        folder=root,
        password=password,
        password_file=password_file,
        root_ca=w(root / "ca.pem", _pem(ca.cert)),
        intermediate_ca=intermediate_pem,
        ca_bundle=w(root / "ca-bundle.pem", _pem(ca.cert, inter.cert)),
        server_cert=w(root / "server.pem", _pem(server.cert, inter.cert)),
        server_key=w(root / "server.key", _key_pem(server.key), 0o600),
        server_p12=_p12(root / "server.p12", server, [inter.cert], password),
        wrong_host_cert=w(root / "wrong-host.pem", _pem(wrong.cert, inter.cert)),
        wrong_host_key=w(root / "wrong-host.key", _key_pem(wrong.key), 0o600),
        client_p12=_p12(root / "client.p12", client, [inter.cert], password),
        client_legacy_p12=_p12(root / "client-legacy.p12", client, [inter.cert], password, legacy=True),
        client_rc2_p12=_rc2_bundle(root, client_cert, client_key, password_file),
        client_leaf_only_p12=_p12(root / "client-leaf-only.p12", client, [], password),
        client_expired_p12=_p12(root / "client-expired.p12", expired, [inter.cert], password),
        client_expiring_p12=_p12(root / "client-expiring.p12", expiring, [inter.cert], password),
        client_untrusted_p12=_p12(root / "client-untrusted.p12", untrusted, [rogue.cert], password),
        client_no_eku_p12=_p12(root / "client-no-eku.p12", no_eku, [inter.cert], password),
        client_no_password_p12=_p12(root / "client-no-password.p12", client, [inter.cert], None),
        corrupt_p12=w(root / "corrupt.p12", _corrupt((root / "client.p12").read_bytes())),
        client_cert=client_cert,
        client_key=client_key,
        client_expired_cert=w(root / "client-expired.pem", _pem(expired.cert, inter.cert)),
        client_expired_key=w(root / "client-expired.key", _key_pem(expired.key), 0o600),
        client_untrusted_cert=w(root / "client-untrusted.pem", _pem(untrusted.cert, rogue.cert)),
        client_untrusted_key=w(root / "client-untrusted.key", _key_pem(untrusted.key), 0o600),
        untrusted_ca=w(root / "untrusted-ca.pem", _pem(rogue.cert)),
        partner_p12=_p12(root / "partner.p12", partner, [inter.cert], password),
        partner_cert=w(root / "partner.pem", _pem(partner.cert)),
        partner_key=w(root / "partner.key", _key_pem(partner.key), 0o600),
        client_common_name="xfer-client",
    )
    return pki


def _corrupt(data: bytes) -> bytes:
    """A bundle cut short in the middle: what a broken download or e-mail leaves."""
    return data[: len(data) // 2]


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m xfer.testing.pki FOLDER", file=sys.stderr)
        return 2
    pki = create_pki(args[0])
    print(f"test PKI written to {pki.folder} (bundle password in {pki.password_file.name})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
