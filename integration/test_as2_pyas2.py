"""AS2 against a real receiver: django-pyas2 (pyas2lib) from the bed, over mTLS (gunicorn, client
certificate required).

The matrix {no sign, SHA-1, SHA-256, SHA-512} x {none, 3DES, AES-128, AES-192, AES-256} x
{compress on, off} runs with a signed synchronous MDN (40 rows), plus unsigned-MDN rows; each
must come back ``processed`` with our MIC (signed messages: pyas2 returns no MIC for unsigned
ones, RFC 4130 makes it optional there) and arrive byte-identical in pyas2's inbox.  Then the
negatives, each asserting what pyas2 really answers and how xfer maps it.

Bed partners (integration/servers/pyas2/bootstrap.py): XFERCLIENT accepts anything,
XFERCLIENT-SIGNED requires signatures, XFERCLIENT-OTHER holds a different certificate for us.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import xfer.client
from integration.bed import Bed, ServerInfo
from xfer.adapters.as2 import AS2Adapter
from xfer.errors import ClientCertificateRequired, ExitCode, IntegrityError, RemoteError, TLSError
from xfer.profiles import Profile

pytestmark = pytest.mark.integration

SIGNS = ["none", "sha1", "sha256", "sha512"]
CIPHERS = ["none", "3des", "aes128-cbc", "aes192-cbc", "aes256-cbc"]
MATRIX = [(s, e, c) for s in SIGNS for e in CIPHERS for c in (False, True)]
UNSIGNED_MDN_ROWS = [("none", "none", False), ("sha1", "3des", True), ("sha256", "aes256-cbc", True),
                     ("sha512", "aes128-cbc", False), ("none", "aes192-cbc", True)]


@pytest.fixture(scope="module")
def pyas2(bed_server: Callable[[str], ServerInfo]) -> ServerInfo:
    return bed_server("pyas2")


@pytest.fixture(autouse=True)
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XFER_DATA_DIR", str(tmp_path / "data"))
    return tmp_path / "data"


Connect = Callable[..., AS2Adapter]


@pytest.fixture
def connect(bed: Bed, pyas2: ServerInfo) -> Connect:
    pki = bed.pki_folder

    def make(*, identity: bool = True, **as2: Any) -> AS2Adapter:
        table: dict[str, Any] = {
            "as2_from": "XFERCLIENT", "as2_to": pyas2.extra["as2_to"], "partner_cert": pyas2.extra["partner_cert"],
            "sign": "sha256", "encrypt": "aes256-cbc", "compress": True, "mdn": "signed-sync",
        }
        table.update(as2)
        data: dict[str, Any] = {"url": pyas2.extra["endpoint"], "protocol": "as2", "ca": str(pki / "ca.pem"),
                                "as2": table}
        if identity:
            data.update(identity=str(pki / "client.p12"), identity_password=f"file:{pki / 'password.txt'}")
        adapter = xfer.client.connect(Profile.from_mapping("pyas2", data))
        assert isinstance(adapter, AS2Adapter)
        return adapter

    return make


def inbox(pyas2: ServerInfo, partner: str = "XFERCLIENT") -> Path:
    return Path(pyas2.extra["inbox"][partner])


def payload(label: str) -> bytes:
    # Binary with bare CR, bare LF and CRLF: any canonicalisation on the way would show.
    return f"ISA*00*{label}~\r\n".encode() + os.urandom(3000) + b"\rline\nline\r\n" * 50


def send_row(connect: Connect, pyas2: ServerInfo, tmp_path: Path, sign: str, encrypt: str, compress: bool,
             mdn: str) -> None:
    name = f"{mdn}-{sign}-{encrypt}-{'z' if compress else 'raw'}-{os.urandom(4).hex()}.edi"
    data = payload(name)
    local = tmp_path / name
    local.write_bytes(data)
    with connect(sign=sign, encrypt=encrypt, compress=compress, mdn=mdn) as remote:
        result = remote.put_file(local, "/")
        receipt = remote.last_receipt
    details = result.details
    assert details["status"] == "confirmed", details
    assert details["disposition"].lower().endswith("; processed"), details["disposition"]
    # pyas2 returns a MIC only for signed messages (then it must match; check_mdn raised otherwise).
    assert details["mic_matched"] is (True if sign != "none" else None)
    assert receipt is not None and receipt.mdn_signed is (mdn == "signed-sync")
    arrived = inbox(pyas2) / name
    assert arrived.read_bytes() == data, f"{name} differs in pyas2's inbox"


@pytest.mark.parametrize(("sign", "encrypt", "compress"), MATRIX,
                         ids=[f"{s}-{e}-{'z' if c else 'raw'}" for s, e, c in MATRIX])
def test_matrix_signed_mdn(
    connect: Connect, pyas2: ServerInfo, tmp_path: Path, sign: str, encrypt: str, compress: bool
) -> None:
    send_row(connect, pyas2, tmp_path, sign, encrypt, compress, "signed-sync")


@pytest.mark.parametrize(("sign", "encrypt", "compress"), UNSIGNED_MDN_ROWS,
                         ids=[f"{s}-{e}-{'z' if c else 'raw'}" for s, e, c in UNSIGNED_MDN_ROWS])
def test_matrix_unsigned_mdn(
    connect: Connect, pyas2: ServerInfo, tmp_path: Path, sign: str, encrypt: str, compress: bool
) -> None:
    send_row(connect, pyas2, tmp_path, sign, encrypt, compress, "unsigned-sync")


def test_no_mdn_sent_not_confirmed(connect: Connect, pyas2: ServerInfo, tmp_path: Path) -> None:
    local = tmp_path / f"nomdn-{os.urandom(4).hex()}.xml"
    local.write_bytes(b"<?xml version='1.0'?><order/>")
    with connect(mdn="none") as remote:
        result = remote.put_file(local, "/")
    assert result.details["status"] == "sent" and "sent, not confirmed" in result.details["note"]
    deadline = time.monotonic() + 5  # pyas2 stores before answering; the loop only guards slow disks
    while not (inbox(pyas2) / local.name).exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert (inbox(pyas2) / local.name).read_bytes() == local.read_bytes()


# -- negatives ------------------------------------------------------------------------------------


def _one(tmp_path: Path, stem: str) -> Path:
    local = tmp_path / f"{stem}-{os.urandom(4).hex()}.edi"
    local.write_bytes(payload(stem))
    return local


def test_receiver_has_other_certificate_for_us(
    connect: Connect, pyas2: ServerInfo, tmp_path: Path, data_dir: Path
) -> None:
    local = _one(tmp_path, "authfail")
    with connect(as2_from="XFERCLIENT-OTHER") as remote, pytest.raises(IntegrityError) as caught:
        remote.put_file(local, "/")
    error = caught.value
    assert error.exit_code == ExitCode.INTEGRITY
    assert "rejected AS2 message" in error.message and "authentication-failed" in error.message
    assert remote.last_receipt is not None and remote.last_receipt.status == "rejected"
    assert not (inbox(pyas2, "XFERCLIENT-OTHER") / local.name).exists()


def test_unknown_as2_to(connect: Connect, tmp_path: Path) -> None:
    with connect(as2_to="NOSUCHPARTNER") as remote, pytest.raises(RemoteError) as caught:
        remote.put_file(_one(tmp_path, "unknown"), "/")
    error = caught.value
    assert type(error) is RemoteError and error.exit_code == ExitCode.REMOTE
    assert "unknown-trading-partner" in error.message
    # pyas2 cannot sign for an organisation it does not have: the refusal comes unsigned.
    assert "(unsigned receipt)" in error.message


def test_unsigned_when_partner_requires_signing(connect: Connect, pyas2: ServerInfo, tmp_path: Path) -> None:
    local = _one(tmp_path, "unsigned")
    with connect(as2_from="XFERCLIENT-SIGNED", sign="none") as remote, pytest.raises(RemoteError) as caught:
        remote.put_file(local, "/")
    assert type(caught.value) is RemoteError and "insufficient-message-security" in caught.value.message
    assert caught.value.hint and "sign" in caught.value.hint
    assert not (inbox(pyas2, "XFERCLIENT-SIGNED") / local.name).exists()
    with connect(as2_from="XFERCLIENT-SIGNED", sign="sha256") as remote:  # and signed it is accepted
        assert remote.put_file(local, "/").details["status"] == "confirmed"
    assert (inbox(pyas2, "XFERCLIENT-SIGNED") / local.name).read_bytes() == local.read_bytes()


def test_duplicate_message_id(connect: Connect, pyas2: ServerInfo, tmp_path: Path) -> None:
    local = _one(tmp_path, "dup")
    with connect() as remote:
        first = remote.put_file(local, "/")
        again = remote.send(local, message_id=first.details["message_id"])
        receipt = remote.last_receipt
    # pyas2 answers processed/Warning: duplicate-document, signed, without a MIC (it stops
    # before decrypting); xfer reports success with the warning, as RFC 4130 §9 intends.
    assert again.details["status"] == "confirmed"
    assert again.details["disposition"].lower().endswith("processed/warning: duplicate-document")
    assert again.details["warning"] and "duplicate-document" in again.details["warning"]
    assert again.details["mic_matched"] is None
    assert receipt is not None and receipt.attempts == 2 and receipt.mdn_signed
    # The payload was stored once, byte-identical; pyas2 keeps no second copy of the content.
    stored = [p for p in inbox(pyas2).iterdir() if p.name.startswith(local.stem)]
    copies = [p for p in stored if p.read_bytes() == local.read_bytes()]
    assert len(copies) == 1, [p.name for p in stored]


def test_mdn_signature_does_not_verify(connect: Connect, bed: Bed, tmp_path: Path) -> None:
    # The profile names the wrong partner certificate (ours): the receipt's signature cannot verify.
    wrong = str(bed.pki_folder / "client.pem")
    with connect(partner_cert=wrong, encrypt="none") as remote, pytest.raises(IntegrityError) as caught:
        remote.put_file(_one(tmp_path, "badmdn"), "/")
    assert "MDN signature does not verify" in caught.value.message
    assert remote.last_receipt is not None and remote.last_receipt.status == "unverified"


def test_no_client_certificate(connect: Connect, pyas2: ServerInfo, tmp_path: Path) -> None:
    local = _one(tmp_path, "nocert")
    with connect(identity=False, sign="none", mdn="unsigned-sync") as remote, pytest.raises(TLSError) as caught:
        remote.put_file(local, "/")
    error = caught.value
    assert isinstance(error, ClientCertificateRequired) and error.exit_code == ExitCode.TLS
    assert "not delivered; safe to resend with the same Message-ID" in error.message
    assert not (inbox(pyas2) / local.name).exists()


def test_cli_put_with_bed_profile(
    bed: Bed, pyas2: ServerInfo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from xfer.cli import main

    monkeypatch.setenv("XFER_PROFILE_PATH", str(bed.profiles_dir))
    monkeypatch.setenv("XFER_CONFIG_DIR", str(tmp_path / "config"))
    local = _one(tmp_path, "cli")
    code = main(["put", str(local), "pyas2:"])
    _, err = capsys.readouterr()
    assert code == 0, err
    assert "MDN processed" in err
    assert (
        hashlib.sha256((inbox(pyas2) / local.name).read_bytes()).digest() == hashlib.sha256(local.read_bytes()).digest()
    )
