"""``--ca`` naming the issuing (intermediate) CA: the user chose that certificate as the anchor,
as curl (OpenSSL's partial chain) accepts it.  The test PKI's chain is root -> intermediate ->
leaf, and the servers send leaf + intermediate."""

from __future__ import annotations

from pathlib import Path

import pytest

import xfer
from tests.helpers import one_error, run
from xfer.errors import ServerCertificateUntrusted
from xfer.testing.endpoints import serve
from xfer.testing.pki import TestPKI


@pytest.mark.parametrize("protocol", ["https", "ftpes"])
def test_the_intermediate_ca_alone_is_a_trust_anchor(pki: TestPKI, tmp_path: Path, protocol: str) -> None:
    with serve(protocol, pki, root=tmp_path / "root") as endpoint:
        (endpoint.root / "hello.txt").write_bytes(b"hello")
        with xfer.connect(endpoint.profile, ca=str(pki.intermediate_ca)) as remote:
            assert [entry.name for entry in remote.ls("/")] == ["hello.txt"]


@pytest.mark.parametrize("protocol", ["https", "ftpes"])
def test_an_unrelated_ca_still_fails(pki: TestPKI, tmp_path: Path, protocol: str) -> None:
    with serve(protocol, pki, root=tmp_path / "root") as endpoint:
        with pytest.raises(ServerCertificateUntrusted):
            with xfer.connect(endpoint.profile, ca=str(pki.untrusted_ca), retries=0) as remote:
                remote.ls("/")


def test_cli_get_with_the_intermediate_as_ca(
    pki: TestPKI, tmp_path: Path, config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The reviewer's case: exit 4 'unable to get issuer certificate', with a hint to pass the CA
    that had been passed."""
    with serve("https", pki, root=tmp_path / "root") as endpoint:
        (endpoint.root / "hello.txt").write_bytes(b"hello")
        common = ["--identity", str(pki.client_p12), "--identity-password", f"file:{pki.password_file}"]
        code, _out, err = run(capsys, "get", f"{endpoint.url}hello.txt", str(tmp_path / "got.txt"), *common,
                              "--ca", str(pki.intermediate_ca))
        assert code == 0, err
        assert (tmp_path / "got.txt").read_bytes() == b"hello"
        code, _out, err = run(capsys, "get", f"{endpoint.url}hello.txt", str(tmp_path / "no.txt"), *common,
                              "--ca", str(pki.untrusted_ca), "--retries", "0")
        assert code == 4
        one_error(err, "we do not trust the server's certificate", f"trusted: {pki.untrusted_ca}")
        # It was given with --ca: the hint no longer tells the user to do what they did.
        assert "hint: the CA given with --ca (or ca = in the profile) did not issue" in err
        assert "--ca partner-ca.pem" not in err


def test_doctor_accepts_the_intermediate_as_ca(
    pki: TestPKI, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with serve("https", pki, root=tmp_path / "root") as endpoint:
        code, out, err = run(capsys, "doctor", endpoint.url, "--identity", str(pki.client_p12),
                             "--identity-password", f"file:{pki.password_file}", "--ca", str(pki.intermediate_ca))
        assert code == 0, out + err
        assert f"trusted by {pki.intermediate_ca}: yes" in out
