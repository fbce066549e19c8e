"""Review TLS-ID, finding M1: an RSA-PSS identity (``openssl genpkey -algorithm RSA-PSS``) connects.

The full reader re-serialised its key as plain rsaEncryption PKCS#8; OpenSSL then found no
certificate for it (``NO_CERTIFICATE_ASSIGNED``, "export the identity again").
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from xfer.adapters.base import ConnectionSettings
from xfer.adapters.https import HTTPSAdapter
from xfer.identity import Identity
from xfer.testing.https_server import HTTPSServer
from xfer.testing.pki import TestPKI
from xfer.tls import create_ssl_context


def _pss_identity(tmp_path: Path) -> tuple[Path, Path]:
    """(an RSA-PSS .p12 with password ``pw``, its self-signed certificate) made by OpenSSL's tools."""
    key, cert, p12 = tmp_path / "pss.key", tmp_path / "pss.pem", tmp_path / "pss.p12"
    for command in (
        ["genpkey", "-algorithm", "RSA-PSS", "-pkeyopt", "rsa_keygen_bits:2048", "-out", str(key)],
        ["req", "-x509", "-new", "-key", str(key), "-subj", "/CN=pss-client", "-days", "30", "-out", str(cert)],
        ["pkcs12", "-export", "-inkey", str(key), "-in", str(cert), "-passout", "pass:pw", "-out", str(p12)],
    ):
        subprocess.run(["openssl", *command], check=True, capture_output=True)
    return p12, cert


@pytest.mark.parametrize("tls_max", ["1.2", "1.3"])
def test_an_rsa_pss_identity_is_presented(pki: TestPKI, tmp_path: Path, tls_max: str) -> None:
    p12, cert = _pss_identity(tmp_path)
    identity = Identity.load(p12, "pw")
    (tmp_path / "srv").mkdir()
    (tmp_path / "srv" / "f").write_bytes(b"hello")
    ctx = create_ssl_context(identity, ca=pki.root_ca, maximum_version=tls_max)
    with HTTPSServer(pki, root=tmp_path / "srv", client_ca=cert) as srv:
        settings = ConnectionSettings(scheme="https", host=srv.host, port=srv.port, root="/", ssl_context=ctx,
                                      timeout=5)
        with HTTPSAdapter(settings) as remote:
            remote.get_file("/f", tmp_path / "got")
    assert (tmp_path / "got").read_bytes() == b"hello"
    # The key in memory is labelled id-RSASSA-PSS (1.2.840.113549.1.1.10), as in the file.
    assert bytes.fromhex("06092a864886f70d01010a") in identity.key_der[:40]
