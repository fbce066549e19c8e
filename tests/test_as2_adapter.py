"""The AS2 adapter against the in-process AS2 receiver (xfer.testing.as2_server) over mTLS.

Covers the outcomes of issue 7: confirmed (signed / unsigned MDN), sent-not-confirmed, untrusted
receipts (MIC, signer), receiver error dispositions mapped to exit 7 or 6, not delivered + resend
with the same Message-ID, duplicates, TLS rejection, and the receipt record of every send.
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import datetime
import json
import os
import socket
import ssl
import threading
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Literal

import pytest
from asn1crypto import algos as asn1_algos
from asn1crypto import cms as asn1_cms
from cryptography import x509

import xfer.client
from tests.test_as2_cms import HOLLOW_SIGNED_DATA
from tests.test_as2_mdn import replace_signature
from xfer.adapters.as2 import AS2Adapter
from xfer.adapters.base import Capability, ConnectionSettings, TransferResult
from xfer.as2.mdn import build_mdn
from xfer.as2.receipts import Receipt, ReceiptStore
from xfer.as2.receiver import Received, receive
from xfer.errors import (
    ClientCertificateRejected,
    ConfigError,
    ConnectionDropped,
    ExitCode,
    IntegrityError,
    LocalError,
    RemoteError,
    ServerError,
    TLSError,
    UnsupportedOperation,
    UsageError,
    XferError,
)
from xfer.identity import Identity
from xfer.profiles import Profile
from xfer.protocols.as2 import AS2Options
from xfer.retry import RetryPolicy
from xfer.testing._serving import server_context
from xfer.testing.as2_server import AS2Server
from xfer.testing.hostile_https import Reply, ScriptedHTTPSServer
from xfer.testing.pki import TestPKI
from xfer.tls import create_ssl_context

PAYLOAD = b"ISA*00*          *00*          *ZZ*XFERCLIENT     *ZZ*XFERPARTNER    ~\r\n" + bytes(range(256)) * 8


@pytest.fixture(autouse=True)
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XFER_DATA_DIR", str(tmp_path / "data"))
    return tmp_path / "data"


@pytest.fixture
def invoice(tmp_path: Path) -> Path:
    path = tmp_path / "invoice.edi"
    path.write_bytes(PAYLOAD)
    return path


@pytest.fixture
def server(pki: TestPKI, tmp_path: Path) -> Iterator[AS2Server]:
    with AS2Server(pki, root=tmp_path / "inbox") as srv:
        yield srv


Connect = Callable[..., AS2Adapter]


@pytest.fixture
def connect(pki: TestPKI, monkeypatch: pytest.MonkeyPatch) -> Connect:
    """Factory: an AS2 adapter for ``server`` with [as2] options overridden by keywords."""
    monkeypatch.setenv("XFER_T_PW", pki.password)

    def make(srv: AS2Server, *, identity: Path | None = pki.client_p12, **as2: Any) -> AS2Adapter:
        table: dict[str, Any] = {
            "as2_from": "XFERCLIENT",
            "as2_to": srv.as2_id,
            "partner_cert": str(pki.partner_cert),
            "sign": "sha256",
            "encrypt": "aes256-cbc",
            "compress": True,
            "mdn": "signed-sync",
        }
        table.update(as2)
        data: dict[str, Any] = {"url": srv.url, "protocol": "as2", "ca": str(pki.root_ca), "as2": table}
        if identity is not None:
            data.update(identity=str(identity), identity_password="env:XFER_T_PW")
        adapter = xfer.client.connect(Profile.from_mapping("partner", data))
        assert isinstance(adapter, AS2Adapter)
        return adapter

    return make


def stored(data_dir: Path) -> list[dict[str, Any]]:
    return [json.loads(p.read_text()) for p in sorted((data_dir / "as2" / "receipts").glob("*.json"))]


# -- success ----------------------------------------------------------------------------------


def test_signed_encrypted_compressed_with_signed_mdn(
    server: AS2Server, connect: Connect, invoice: Path, data_dir: Path
) -> None:
    with connect(server) as remote:
        result = remote.put_file(invoice, "/")
    assert (server.root / "invoice.edi").read_bytes() == PAYLOAD
    got = server.received[-1]
    assert (got.signed, got.encrypted, got.compressed, got.disposition) == (True, True, True, "processed")
    details = result.details
    assert details["status"] == "confirmed" and details["mic_matched"] is True
    assert details["message_id"] == got.message_id and details["mic"] == got.mic
    assert details["disposition"].endswith("; processed") and details["warning"] is None
    assert details["message_id"] in details["note"] and "processed" in details["note"]
    assert result.size == len(PAYLOAD) and result.remote == "/invoice.edi"
    [record] = stored(data_dir)
    assert record["status"] == "confirmed" and record["mdn_signed"] is True
    assert record["message_id"] == got.message_id and record["file"] == str(invoice)
    assert record["size"] == len(PAYLOAD) and record["mic_algorithm"] == "sha256"
    assert b"disposition-notification" in base64.b64decode(record["mdn_raw"])
    assert [h["status"] for h in record["history"]] == ["sending", "confirmed"]


@pytest.mark.parametrize(
    ("sign", "encrypt", "compress"),
    [
        ("none", "none", False),
        ("sha1", "3des", False),
        ("sha384", "aes128-cbc", True),
        ("sha512", "aes192-cbc", False),
        ("none", "aes256-cbc", True),
    ],
)
def test_option_rows(
    server: AS2Server, connect: Connect, invoice: Path, sign: str, encrypt: str, compress: bool
) -> None:
    mdn = "signed-sync" if sign != "none" else "unsigned-sync"
    with connect(server, sign=sign, encrypt=encrypt, compress=compress, mdn=mdn) as remote:
        result = remote.put_file(invoice, "/")
    assert result.details["status"] == "confirmed"
    got = server.received[-1]
    assert (got.signed, got.encrypted, got.compressed) == (sign != "none", encrypt != "none", compress)
    assert (server.root / "invoice.edi").read_bytes() == PAYLOAD


def test_unsigned_mdn(server: AS2Server, connect: Connect, invoice: Path, data_dir: Path) -> None:
    with connect(server, mdn="unsigned-sync") as remote:
        result = remote.put_file(invoice, "/")
    assert result.details["status"] == "confirmed" and result.details["mic_matched"] is True
    assert stored(data_dir)[0]["mdn_signed"] is False


def test_no_mdn_is_sent_not_confirmed(server: AS2Server, connect: Connect, invoice: Path, data_dir: Path) -> None:
    with connect(server, mdn="none") as remote:
        result = remote.put_file(invoice, "/")
    assert result.details["status"] == "sent" and "sent, not confirmed" in result.details["note"]
    assert result.details["disposition"] is None
    assert (server.root / "invoice.edi").read_bytes() == PAYLOAD
    [record] = stored(data_dir)
    assert record["status"] == "sent" and record["mdn_raw"] is None


def _answering(disposition: str, *, signer: Identity | None = None, original: str | None = None) -> Any:
    """An mdn_hook: a receipt with ``disposition`` whatever the message asked for."""
    def hook(received: Received, headers: Mapping[str, str]) -> tuple[dict[str, str], bytes]:
        return build_mdn(original_message_id=original or received.message_id or "", our_as2_id="XFERPARTNER",
                         partner_as2_id="XFERCLIENT", disposition=disposition, signer=signer)

    return hook


@pytest.mark.parametrize(
    ("disposition", "error", "code"),
    [("processed/error: decryption-failed", IntegrityError, ExitCode.INTEGRITY),
     ("failed/failure: unknown-trading-partner", RemoteError, ExitCode.REMOTE)],
    ids=["integrity", "refusal"],
)
def test_no_mdn_asked_but_a_negative_one_answered_fails(
    pki: TestPKI, tmp_path: Path, connect: Connect, invoice: Path, data_dir: Path,
    disposition: str, error: type[XferError], code: ExitCode,
) -> None:
    # The reviewer's case: "sent, not confirmed" (exit 0) though the partner's answer said no.
    partner = Identity.load(pki.partner_p12, pki.password)
    with AS2Server(pki, root=tmp_path / "in", mdn_hook=_answering(disposition, signer=partner)) as srv:
        with connect(srv, mdn="none") as remote, pytest.raises(error) as caught:
            remote.put_file(invoice, "/")
    assert caught.value.exit_code == code and "rejected" in caught.value.message
    [record] = stored(data_dir)
    assert record["status"] == "rejected" and record["disposition"].endswith(disposition) and record["mdn_raw"]


@pytest.mark.parametrize("original", [None, "<other@host>"], ids=["positive", "another-message"])
def test_no_mdn_asked_and_another_answer_is_still_sent(
    pki: TestPKI, tmp_path: Path, connect: Connect, invoice: Path, data_dir: Path, original: str | None
) -> None:
    disposition = "processed" if original is None else "processed/error: decryption-failed"
    with AS2Server(pki, root=tmp_path / "in", mdn_hook=_answering(disposition, original=original)) as srv:
        with connect(srv, mdn="none") as remote:
            result = remote.put_file(invoice, "/")
    assert result.details["status"] == "sent" and stored(data_dir)[0]["status"] == "sent"


@pytest.mark.parametrize(
    ("disposition", "code"),
    [("processed (no errors)", ExitCode.OK), ("processed;", ExitCode.OK),
     ("processed/Error: authentication-failed (bad signature)", ExitCode.INTEGRITY)],
    ids=["comment", "trailing-semicolon", "modifier-comment"],
)
def test_disposition_with_comments(
    pki: TestPKI, tmp_path: Path, connect: Connect, invoice: Path, disposition: str, code: ExitCode
) -> None:
    # The reviewer's cases: all three were "rejected" (exit 6).
    partner = Identity.load(pki.partner_p12, pki.password)

    def hook(received: Received, headers: Mapping[str, str]) -> tuple[dict[str, str], bytes]:
        return build_mdn(original_message_id=received.message_id or "", our_as2_id="XFERPARTNER",
                         partner_as2_id="XFERCLIENT", disposition=disposition, mic=received.mic,
                         mic_algorithm=received.mic_algorithm, signer=partner)

    with AS2Server(pki, root=tmp_path / "in", mdn_hook=hook) as srv, connect(srv) as remote:
        if code == ExitCode.OK:
            assert remote.put_file(invoice, "/").details["status"] == "confirmed"
            return
        with pytest.raises(IntegrityError) as caught:
            remote.put_file(invoice, "/")
    assert caught.value.exit_code == code and "authentication-failed" in caught.value.message
    assert caught.value.hint is not None and "certificate" in caught.value.hint


def test_unsigned_mdn_without_mic_for_a_signed_message(
    pki: TestPKI, tmp_path: Path, connect: Connect, invoice: Path, data_dir: Path
) -> None:
    # The reviewer's case (OpenAS2 computes a MIC only when signed-receipt-micalg was asked):
    # exit 7 for every signed message with mdn = "unsigned-sync".
    with AS2Server(pki, root=tmp_path / "in", mdn_hook=_answering("processed")) as srv:
        with connect(srv, mdn="unsigned-sync") as remote:
            result = remote.put_file(invoice, "/")
    assert result.verified == "none" and result.details["mic_matched"] is None
    assert "does not prove the content" in result.details["warning"]
    [record] = stored(data_dir)
    assert record["status"] == "confirmed" and "does not prove the content" in record["warning"]


def test_signed_mdn_without_mic_for_a_signed_message(pki: TestPKI, tmp_path: Path, connect: Connect,
                                                      invoice: Path) -> None:
    partner = Identity.load(pki.partner_p12, pki.password)  # RFC 4130 §7.4.3: required in a signed receipt
    with AS2Server(pki, root=tmp_path / "in", mdn_hook=_answering("processed", signer=partner)) as srv:
        with connect(srv) as remote, pytest.raises(IntegrityError, match="no Received-Content-MIC"):
            remote.put_file(invoice, "/")


def test_signed_mdn_without_mic_for_an_unsigned_message_proves_delivery_only(
    pki: TestPKI, tmp_path: Path, connect: Connect, invoice: Path, data_dir: Path
) -> None:
    # Review (session 26), H2: confirmed with no warning, as if the content were proven.  pyas2lib
    # answers so (it computes a MIC for signed messages only): delivery, with a warning.
    partner = Identity.load(pki.partner_p12, pki.password)
    with AS2Server(pki, root=tmp_path / "in", mdn_hook=_answering("processed", signer=partner)) as srv:
        with connect(srv, sign="none") as remote:
            result = remote.put_file(invoice, "/")
    assert result.details["status"] == "confirmed" and result.verified == "none"
    assert "signed receipt has no Received-Content-MIC" in result.details["warning"]
    assert "does not prove the content" in stored(data_dir)[0]["warning"]


@pytest.mark.parametrize("sign", ["sha256", "none"])
def test_an_unsigned_mdn_with_the_right_mic_is_no_checksum_proof(
    pki: TestPKI, tmp_path: Path, connect: Connect, invoice: Path, sign: str
) -> None:
    # Review (session 26), H3: verified "sha256" (and --checksum passed) on an unsigned receipt,
    # which anyone on the way can write: of a message sent unsigned, its MIC is the content's hash.
    with AS2Server(pki, root=tmp_path / "in", mdn_hook=_forged(None)) as srv:
        with connect(srv, mdn="unsigned-sync", sign=sign) as remote:
            result = remote.put_file(invoice, "/")
            assert result.details["mic_matched"] is True and result.verified == "none"
            remote.settings = dataclasses.replace(remote.settings, checksum=True)
            with pytest.raises(IntegrityError, match="does not prove the content"):
                remote.put_file(invoice, "/")

def test_remote_path_names_the_file(server: AS2Server, connect: Connect, invoice: Path) -> None:
    with connect(server) as remote:
        [result] = xfer.client.put(remote, [invoice], "/INV-4711.x12")
    assert (server.root / "INV-4711.x12").read_bytes() == PAYLOAD
    assert result.remote == "/INV-4711.x12"


def test_progress_callback_reaches_total(server: AS2Server, connect: Connect, invoice: Path) -> None:
    seen: list[tuple[int, int | None]] = []
    with connect(server) as remote:
        remote.put_file(invoice, "/", callback=lambda done, total: seen.append((done, total)))
    assert seen[-1] == (len(PAYLOAD), len(PAYLOAD))


def test_only_put_is_supported(server: AS2Server, connect: Connect) -> None:
    with connect(server) as remote:
        assert remote.capabilities == frozenset({Capability.PUT})
        with pytest.raises(UnsupportedOperation, match=r"^an AS2 profile does not support ls$"):  # no "as2://"
            remote.ls("/")
        # The command's name, as for ls, not the method's "get_file" (review A, defect 12).
        with pytest.raises(UnsupportedOperation, match=r"^an AS2 profile does not support get$"):
            remote.get_file("/a", "b")


# -- receipts that cannot be trusted ---------------------------------------------------------


def _forged(signer: Identity | None, *, mic: str | None = None, message_id: str | None = None) -> Any:
    def hook(received: Received, headers: Mapping[str, str]) -> tuple[dict[str, str], bytes]:
        return build_mdn(
            original_message_id=message_id or received.message_id or "",
            our_as2_id="XFERPARTNER",
            partner_as2_id="XFERCLIENT",
            disposition=received.disposition,
            mic=mic if mic is not None else received.mic,
            mic_algorithm=received.mic_algorithm,
            signer=signer,
        )

    return hook


def test_mdn_with_wrong_mic(pki: TestPKI, tmp_path: Path, connect: Connect, invoice: Path, data_dir: Path) -> None:
    partner = Identity.load(pki.partner_p12, pki.password)
    wrong = base64.b64encode(b"\x00" * 32).decode()
    with AS2Server(pki, root=tmp_path / "in", mdn_hook=_forged(partner, mic=wrong)) as srv:
        with connect(srv) as remote, pytest.raises(IntegrityError) as caught:
            remote.put_file(invoice, "/")
    assert "MIC" in caught.value.message and "differs" in caught.value.message
    assert caught.value.exit_code == ExitCode.INTEGRITY
    [record] = stored(data_dir)
    assert record["status"] == "unverified" and record["disposition"].endswith("processed")
    assert record["message_id"] in caught.value.message


def test_mdn_signed_by_wrong_certificate(
    pki: TestPKI, tmp_path: Path, connect: Connect, invoice: Path, data_dir: Path
) -> None:
    impostor = Identity.load(pki.client_untrusted_p12, pki.password)
    with AS2Server(pki, root=tmp_path / "in", mdn_hook=_forged(impostor)) as srv:
        with connect(srv) as remote, pytest.raises(IntegrityError, match="MDN signature does not verify"):
            remote.put_file(invoice, "/")
    assert stored(data_dir)[0]["status"] == "unverified"


def test_unsigned_mdn_asked_but_signed_with_another_certificate(
    pki: TestPKI, tmp_path: Path, connect: Connect, invoice: Path, data_dir: Path
) -> None:
    # The reviewer's case: a partner with separate signing and encryption certificates signs
    # the receipt we asked unsigned; "may be forged" (exit 7) though no signature was asked.
    other = Identity.load(pki.server_p12, pki.password)  # the partner's signing certificate
    with AS2Server(pki, root=tmp_path / "in", mdn_hook=_forged(other)) as srv:
        with connect(srv, mdn="unsigned-sync") as remote:
            result = remote.put_file(invoice, "/")
        assert result.details["status"] == "confirmed" and result.details["mic_matched"] is True
        assert stored(data_dir)[0]["mdn_signed"] is False  # a signature that did not verify is none
        wrong = base64.b64encode(b"\x00" * 32).decode()  # its MIC still counts
        srv.app.mdn_hook = _forged(other, mic=wrong)
        with connect(srv, mdn="unsigned-sync") as remote, pytest.raises(IntegrityError, match="differs"):
            remote.put_file(invoice, "/")


def test_unsigned_mdn_asked_but_signed_by_a_known_certificate_that_fails(
    pki: TestPKI, tmp_path: Path, connect: Connect, invoice: Path, data_dir: Path
) -> None:
    # The reviewer's case B: a receipt signed with the partner's own key whose signed bytes were
    # altered passed as "unsigned" (exit 0, verified sha256, mdn_signed True stored).
    partner = Identity.load(pki.partner_p12, pki.password)
    sign = _forged(partner)

    def altered(received: Received, headers: Mapping[str, str]) -> tuple[dict[str, str], bytes]:
        out, body = sign(received, headers)
        assert b"has been received and processed" in body
        return out, body.replace(b"has been received and processed", b"has been received and Processed", 1)

    with AS2Server(pki, root=tmp_path / "in", mdn_hook=altered) as srv:
        with connect(srv, mdn="unsigned-sync") as remote, pytest.raises(IntegrityError) as caught:
            remote.put_file(invoice, "/")
    assert "MDN signature does not verify" in caught.value.message and caught.value.hint
    [record] = stored(data_dir)
    assert record["status"] == "unverified" and record["mdn_signed"] is not True


def _md5_signature(signature: bytes) -> bytes:
    """``signature`` (a CMS SignedData) with its signer's digest algorithm relabelled MD5."""
    info = asn1_cms.ContentInfo.load(signature)
    signer = info["content"]["signer_infos"][0]
    signer["digest_algorithm"] = asn1_algos.DigestAlgorithm({"algorithm": "md5"})
    info["content"]["digest_algorithms"] = [asn1_algos.DigestAlgorithm({"algorithm": "md5"})]
    return bytes(asn1_cms.ContentInfo.load(info.dump(force=True)).dump())


@pytest.mark.parametrize("signature", ["md5", "empty"])
def test_unsigned_mdn_asked_with_a_known_signature_that_cannot_be_checked(
    pki: TestPKI, tmp_path: Path, connect: Connect, invoice: Path, data_dir: Path, signature: str
) -> None:
    # Third review, M-B: under unsigned-sync without partner_mdn_cert, a receipt signed by
    # partner_cert with MD5 (a digest xfer does not verify), or with an empty signature part,
    # failed exit 7 "signature does not verify ... may be forged": neither was checked, and no
    # signature was asked; it counts as unsigned (its MIC still checked), never mdn_signed.
    sign = _forged(Identity.load(pki.partner_p12, pki.password))

    def uncheckable(received: Received, headers: Mapping[str, str]) -> tuple[dict[str, str], bytes]:
        out, body = sign(received, headers)
        marker = b'filename="smime.p7s"\r\n\r\n'
        start = body.index(marker) + len(marker)
        original = base64.b64decode(body[start : body.index(b"\r\n--", start)])
        return out, replace_signature(body, _md5_signature(original) if signature == "md5" else b"")

    with AS2Server(pki, root=tmp_path / "in", mdn_hook=uncheckable) as srv:
        with connect(srv, mdn="unsigned-sync") as remote:
            result = remote.put_file(invoice, "/")
        assert result.details["status"] == "confirmed" and result.details["mic_matched"] is True
        assert stored(data_dir)[0]["mdn_signed"] is False
        with connect(srv, mdn="signed-sync") as remote, pytest.raises(IntegrityError):  # asked: it is no proof
            remote.put_file(invoice, "/")


def test_unsigned_mdn_asked_with_partner_mdn_cert_and_another_signer(
    pki: TestPKI, tmp_path: Path, connect: Connect, invoice: Path, data_dir: Path
) -> None:
    # The reviewer's case A: partner_mdn_cert names the certificate that signs the partner's
    # receipts; a receipt signed by another one passed as "unsigned" (exit 0).
    stranger = Identity.load(pki.server_p12, pki.password)
    with AS2Server(pki, root=tmp_path / "in", mdn_hook=_forged(stranger)) as srv:
        with connect(srv, mdn="unsigned-sync", partner_mdn_cert=str(pki.partner_cert)) as remote, \
                pytest.raises(IntegrityError, match="MDN signature does not verify"):
            remote.put_file(invoice, "/")
    assert stored(data_dir)[0]["status"] == "unverified"


def test_partner_mdn_cert_verifies_signed_receipts(
    pki: TestPKI, tmp_path: Path, connect: Connect, invoice: Path, data_dir: Path
) -> None:
    other = Identity.load(pki.server_p12, pki.password)
    with AS2Server(pki, root=tmp_path / "in", mdn_hook=_forged(other)) as srv:
        with connect(srv, partner_mdn_cert=str(pki.server_cert)) as remote:
            result = remote.put_file(invoice, "/")
        assert result.details["status"] == "confirmed" and result.verified == "sha256"
        assert stored(data_dir)[0]["mdn_signed"] is True
        srv.app.mdn_hook = _forged(Identity.load(pki.partner_p12, pki.password))  # no longer the MDN signer
        with connect(srv, partner_mdn_cert=str(pki.server_cert)) as remote:
            with pytest.raises(IntegrityError, match="MDN signature does not verify"):
                remote.put_file(invoice, "/")

def test_unsigned_mdn_when_signed_required(pki: TestPKI, tmp_path: Path, connect: Connect, invoice: Path) -> None:
    with AS2Server(pki, root=tmp_path / "in", mdn_hook=_forged(None)) as srv:
        with connect(srv) as remote, pytest.raises(IntegrityError, match="unsigned"):
            remote.put_file(invoice, "/")


def test_mdn_for_another_message(pki: TestPKI, tmp_path: Path, connect: Connect, invoice: Path) -> None:
    partner = Identity.load(pki.partner_p12, pki.password)
    with AS2Server(pki, root=tmp_path / "in", mdn_hook=_forged(partner, message_id="<other@host>")) as srv:
        with connect(srv) as remote, pytest.raises(IntegrityError, match="other@host"):
            remote.put_file(invoice, "/")


# -- the receiver says no ------------------------------------------------------------------


def _rejected(connect: Connect, srv: AS2Server, invoice: Path, **as2: Any) -> XferError:
    with connect(srv, **as2) as remote, pytest.raises(XferError) as caught:
        remote.put_file(invoice, "/")
    return caught.value


def test_receiver_has_another_certificate_for_us(
    pki: TestPKI, tmp_path: Path, connect: Connect, invoice: Path, data_dir: Path
) -> None:
    with AS2Server(pki, root=tmp_path / "in", partner_cert=pki.client_untrusted_cert) as srv:
        error = _rejected(connect, srv, invoice)
    assert isinstance(error, IntegrityError) and error.exit_code == ExitCode.INTEGRITY
    assert "authentication-failed" in error.message and "rejected" in error.message
    assert error.hint and "certificate" in error.hint
    [record] = stored(data_dir)
    assert record["status"] == "rejected" and record["detail"] == "authentication-failed"
    assert not any(srv.root.iterdir())


def test_partner_cannot_decrypt(pki: TestPKI, tmp_path: Path, connect: Connect, invoice: Path) -> None:
    with AS2Server(pki, root=tmp_path / "in") as srv:
        # Encrypted to the wrong certificate; the unsigned MDN still reports why.
        error = _rejected(connect, srv, invoice, partner_cert=str(pki.client_cert), mdn="unsigned-sync")
    assert isinstance(error, IntegrityError) and "decryption-failed" in error.message


def test_unknown_trading_partner_is_a_refusal(
    server: AS2Server, connect: Connect, invoice: Path, data_dir: Path
) -> None:
    error = _rejected(connect, server, invoice, as2_to="NOBODY")
    assert type(error) is RemoteError and error.exit_code == ExitCode.REMOTE
    assert "unknown-trading-partner" in error.message
    assert error.hint and "as2_to" in error.hint
    assert stored(data_dir)[0]["status"] == "rejected"


def test_unsigned_when_partner_requires_signing(pki: TestPKI, tmp_path: Path, connect: Connect, invoice: Path) -> None:
    with AS2Server(pki, root=tmp_path / "in", require_signature=True) as srv:
        error = _rejected(connect, srv, invoice, sign="none")
    assert type(error) is RemoteError and "insufficient-message-security" in error.message


def test_duplicate_message_id_is_a_warning(server: AS2Server, connect: Connect, invoice: Path, data_dir: Path) -> None:
    with connect(server) as remote:
        first = remote.put_file(invoice, "/")
        (server.root / "invoice.edi").unlink()
        again = remote.send(invoice, message_id=first.details["message_id"])
    assert again.details["status"] == "confirmed"
    assert again.details["warning"] and "duplicate-document" in again.details["warning"]
    assert "duplicate-document" in again.details["note"]
    assert not (server.root / "invoice.edi").exists()  # RFC 4130 §9: not delivered twice
    [record] = stored(data_dir)
    assert record["attempts"] == 2 and record["warning"]


# -- not delivered, and the resend -------------------------------------------------------------


@pytest.mark.parametrize("status", [500, 503])
def test_http_5xx_after_sending_is_delivery_unknown_and_resend_works(
    server: AS2Server, connect: Connect, invoice: Path, data_dir: Path, status: int
) -> None:
    # The partner read the whole message before failing: it may have stored or processed it
    # (a crash while writing the MDN), so "not delivered" would be a guess.
    server.fail_next(status)
    with connect(server) as remote:
        remote.retry_policy = RetryPolicy(retries=0)  # the manual resend (retries: test_retry_as2.py)
        with pytest.raises(ServerError) as caught:
            remote.put_file(invoice, "/")
        failed = remote.last_receipt
        assert failed is not None
        message_id = failed.message_id
        text = caught.value.message
        assert str(status) in text and "not delivered" not in text
        assert f"AS2 message {message_id} was sent, receipt not received: delivery unknown" in text
        assert caught.value.hint and f"xfer as2 resend '{message_id}'" in caught.value.hint
        assert "timeout" not in caught.value.hint
        assert caught.value.exit_code == ExitCode.REMOTE
        assert stored(data_dir)[0]["status"] == "delivery-unknown"
        result = remote.send(invoice, message_id=message_id)
    assert result.details["message_id"] == message_id and result.details["status"] == "confirmed"
    assert [r.message_id for r in server.received] == [message_id]
    assert (server.root / "invoice.edi").read_bytes() == PAYLOAD
    [record] = stored(data_dir)
    assert record["attempts"] == 2
    assert [h["status"] for h in record["history"]] == ["sending", "delivery-unknown", "sending", "confirmed"]


def test_an_interrupted_attempt_counts_as_one_that_may_have_arrived(
    server: AS2Server, connect: Connect, invoice: Path, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Third review, H-A: attempt 1 went out whole and was processed; the user pressed Ctrl-C
    # while xfer waited for the receipt (the record stayed "sending"); a resend then hit a
    # refused connection and said "not delivered; safe to resend", record not-delivered.
    with connect(server) as remote:
        def interrupted(*args: object, **kwargs: object) -> None:
            raise KeyboardInterrupt
        monkeypatch.setattr(remote, "_check_receipt", interrupted)
        with pytest.raises(KeyboardInterrupt):
            remote.put_file(invoice, "/")
        monkeypatch.undo()
        assert remote.last_receipt is not None
        message_id = remote.last_receipt.message_id
        assert [r.message_id for r in server.received] == [message_id]  # the partner has it
        _point_at_a_closed_port(remote)
        remote.retry_policy = RetryPolicy(retries=0)
        with pytest.raises(XferError) as caught:
            remote.send(invoice, message_id=message_id)
    error = caught.value
    assert "not delivered" not in error.message and "safe to resend" not in error.message
    assert "delivery unknown" in error.message and "was interrupted" in error.message
    assert error.hint is not None and f"xfer as2 resend '{message_id}'" in error.hint
    [record] = stored(data_dir)
    assert record["status"] == "delivery-unknown"
    assert [h["status"] for h in record["history"]] == ["sending", "sending", "delivery-unknown"]


@pytest.mark.parametrize("later", ["server-error", "unreachable"])
def test_a_failed_resend_never_erases_an_earlier_confirmation(
    server: AS2Server, connect: Connect, invoice: Path, data_dir: Path, later: str
) -> None:
    # Third review, M-D: `xfer as2 send FILE P --resend ID` of a confirmed message (no --force
    # check there) that failed turned the record delivery-unknown and erased its MDN
    # (mdn_raw, disposition, mic_matched).
    with connect(server) as remote:
        remote.retry_policy = RetryPolicy(retries=0)
        message_id = remote.put_file(invoice, "/").details["message_id"]
        [confirmed] = stored(data_dir)
        assert confirmed["status"] == "confirmed" and confirmed["mdn_raw"]
        if later == "server-error":
            server.fail_next(500)  # after the whole message: delivery unknown on its own
        else:
            _point_at_a_closed_port(remote)
        with pytest.raises(XferError) as caught:
            remote.send(invoice, message_id=message_id)
        assert remote.last_receipt is not None and remote.last_receipt.status == "confirmed"
    error = caught.value
    assert "already confirmed" in error.message and "delivery unknown" not in error.message
    assert "not delivered" not in error.message
    assert error.hint is not None and f"xfer as2 receipt '{message_id}'" in error.hint
    [record] = stored(data_dir)
    assert record["status"] == "confirmed" and record["attempts"] == 2
    for kept in ("mdn_raw", "disposition", "mic_matched", "confirmed", "mdn_signed"):
        assert record[kept] == confirmed[kept]
    assert [h["status"] for h in record["history"]] == ["sending", "confirmed", "sending", "delivery-unknown"]


def test_subject_with_leading_whitespace_is_refused_before_sending(
    server: AS2Server, connect: Connect, invoice: Path, data_dir: Path
) -> None:
    # Third review, L-A: it failed at send time as a network error, "not delivered; safe to resend", retried.
    with connect(server, subject=" Invoice") as remote, pytest.raises(ConfigError) as caught:
        remote.put_file(invoice, "/")
    assert caught.value.exit_code == ExitCode.CONFIG and "not delivered" not in caught.value.message
    assert "must not start with a space or TAB" in caught.value.message and caught.value.hint
    assert server.received == [] and stored(data_dir) == []
    with connect(server, subject="Invoice ") as remote:  # trailing whitespace goes through
        assert remote.put_file(invoice, "/").details["status"] == "confirmed"


def test_concurrent_resends_of_one_message_never_lose_its_confirmation(
    pki: TestPKI, tmp_path: Path, connect: Connect, invoice: Path, data_dir: Path
) -> None:
    # Third review, M-E: two resends of one Message-ID at once (a cron job and a user): A was
    # confirmed, then B's failure was saved from B's stale copy of the record, and the
    # confirmation was gone.  Now the second one is refused before anything is sent.
    slow, inside, release = _held_receipt(pki)  # A's message is with the partner; its receipt waits
    with AS2Server(pki, root=tmp_path / "in", mdn_hook=slow) as srv:
        message_id = _not_delivered(connect, srv, invoice)
        results: list[Any] = []
        with connect(srv) as a, connect(srv) as b:
            thread = threading.Thread(target=lambda: results.append(a.send(invoice, message_id=message_id)))
            thread.start()
            try:
                assert inside.wait(10)
                _point_at_a_closed_port(b)
                with pytest.raises(LocalError) as caught:
                    b.send(invoice, message_id=message_id)
            finally:
                release.set()
                thread.join(10)
    assert "another xfer is sending" in caught.value.message and caught.value.exit_code == ExitCode.ERROR
    assert caught.value.hint is not None and f"xfer as2 receipt '{message_id}'" in caught.value.hint
    assert results and results[0].details["status"] == "confirmed"
    [record] = stored(data_dir)
    assert record["status"] == "confirmed" and record["mdn_raw"]
    assert [h["status"] for h in record["history"]] == ["sending", "not-delivered", "sending", "confirmed"]
    lock = next((data_dir / "as2" / "receipts").glob("*.lock"))
    assert lock.stat().st_mode & 0o777 == 0o600


def test_a_first_send_holds_its_lock_so_a_resend_of_it_is_refused(
    pki: TestPKI, tmp_path: Path, connect: Connect, invoice: Path, data_dir: Path
) -> None:
    # Fourth review, H-1: a first send took no lock; its record said "sending" at once, and
    # `xfer as2 resend` of it ran beside it: two copies processed, then the first send's
    # timeout saved over the resend's confirmation.
    slow, inside, release = _held_receipt(pki)
    results: list[Any] = []
    with AS2Server(pki, root=tmp_path / "in", mdn_hook=slow) as srv, connect(srv) as a, connect(srv) as b:
        thread = threading.Thread(target=lambda: results.append(a.put_file(invoice, "/")))
        thread.start()
        try:
            assert inside.wait(10)
            [sending] = stored(data_dir)
            assert sending["status"] == "sending"
            with pytest.raises(LocalError) as caught:
                b.send(invoice, message_id=sending["message_id"])
        finally:
            release.set()
            thread.join(10)
        assert len(srv.received) == 1
    assert "another xfer is sending" in caught.value.message
    [record] = stored(data_dir)
    assert results and record["status"] == "confirmed" and record["mdn_raw"]
    assert [h["status"] for h in record["history"]] == ["sending", "confirmed"]


def test_a_store_that_cannot_lock_says_so(
    server: AS2Server, connect: Connect, invoice: Path, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Fourth review, L-1: ENOLCK (NFS without lockd) read "another xfer is sending ... right now".
    import errno
    import fcntl

    def no_locks(fd: int, operation: int) -> None:
        raise OSError(errno.ENOLCK, "No locks available")
    monkeypatch.setattr(fcntl, "flock", no_locks)
    with connect(server) as remote, pytest.raises(LocalError) as caught:
        remote.put_file(invoice, "/")
    assert "cannot lock the AS2 receipt" in caught.value.message and "No locks available" in caught.value.message
    assert "another xfer" not in caught.value.message and caught.value.hint
    assert server.received == []


def test_a_confirmation_by_one_partner_is_not_anothers(
    server: AS2Server, connect: Connect, invoice: Path, data_dir: Path
) -> None:
    # Fourth review, L-2: a resend under another profile's AS2-To that failed said "already
    # confirmed by the partner"; that partner never had it.
    with connect(server) as remote:
        remote.retry_policy = RetryPolicy(retries=0)
        message_id = remote.put_file(invoice, "/").details["message_id"]
    with connect(server, as2_to="OTHERPARTNER") as other:
        other.retry_policy = RetryPolicy(retries=0)
        _point_at_a_closed_port(other)
        with pytest.raises(XferError) as caught:
            other.send(invoice, message_id=message_id)
    assert "already confirmed" not in caught.value.message


def test_a_resend_that_must_not_duplicate_asks_again_under_the_lock(
    pki: TestPKI, tmp_path: Path, connect: Connect, invoice: Path, data_dir: Path
) -> None:
    # Fourth review, L-3: `xfer as2 resend` read "not delivered" before the lock; a resend
    # confirmed meanwhile by another process was sent a second time.  Here the record is
    # confirmed by the time this resend holds the lock: it is refused, nothing sent.
    with AS2Server(pki, root=tmp_path / "in") as srv:
        message_id = _not_delivered(connect, srv, invoice)
        with connect(srv) as other:  # the other process's resend, confirmed
            other.send(invoice, message_id=message_id)
        with connect(srv) as late, pytest.raises(UsageError) as caught:
            late.send(invoice, message_id=message_id, unless_delivered=True)
        assert len(srv.received) == 1
    assert "already confirmed" in caught.value.message and "--force" in (caught.value.hint or "")
    [record] = stored(data_dir)
    assert record["status"] == "confirmed"


def _held_receipt(pki: TestPKI) -> tuple[
        Callable[[Received, Mapping[str, str]], tuple[dict[str, str], bytes]], threading.Event, threading.Event]:
    """An MDN hook that signs the partner's receipt only once released: the hook, the event set
    when a message is with the partner, and the one that releases its receipt."""
    sign: Callable[[Received, Mapping[str, str]], tuple[dict[str, str], bytes]] = _forged(
        Identity.load(pki.partner_p12, pki.password))
    inside, release = threading.Event(), threading.Event()

    def slow(received: Received, headers: Mapping[str, str]) -> tuple[dict[str, str], bytes]:
        inside.set()
        assert release.wait(10)
        return sign(received, headers)

    return slow, inside, release


def _not_delivered(connect: Connect, srv: AS2Server, invoice: Path) -> str:
    """The Message-ID of a first send that was not delivered (its record kept for resends)."""
    with connect(srv) as first:
        _point_at_a_closed_port(first)
        first.retry_policy = RetryPolicy(retries=0)
        with pytest.raises(XferError):
            first.put_file(invoice, "/")
        assert first.last_receipt is not None
        return first.last_receipt.message_id


def _point_at_a_closed_port(remote: AS2Adapter) -> None:
    """Point ``remote`` at a closed port of another endpoint: its next message is not delivered."""
    with socket.create_server(("127.0.0.1", 0)) as closed:
        port = closed.getsockname()[1]
    remote.url = f"https://127.0.0.1:{port}/as2"


def _answered_with(server: AS2Server, remote: AS2Adapter, invoice: Path, status: int) -> str:
    """One send (no retry) that the partner answers with HTTP ``status`` (5xx: delivery unknown); its Message-ID."""
    server.fail_next(status)
    remote.retry_policy = RetryPolicy(retries=0)
    with pytest.raises(ServerError):
        remote.put_file(invoice, "/")
    assert remote.last_receipt is not None
    return remote.last_receipt.message_id


@pytest.mark.parametrize("later", ["refused", "unreachable"])
def test_a_later_undelivered_attempt_never_makes_a_possible_delivery_not_delivered(
    server: AS2Server, connect: Connect, invoice: Path, data_dir: Path, later: str
) -> None:
    # The reviewer's case: attempt 1 went out whole and got no receipt (the partner may have
    # processed it); a later attempt failed before delivery, and the record and message said
    # "not delivered; safe to resend" as if nothing had ever arrived.
    with connect(server) as remote:
        message_id = _answered_with(server, remote, invoice, 500)
        if later == "refused":
            server.fail_next(403)
        else:
            _point_at_a_closed_port(remote)
        with pytest.raises(XferError) as caught:
            remote.send(invoice, message_id=message_id)
    error = caught.value
    assert "not delivered" not in error.message and "safe to resend" not in error.message
    assert "delivery unknown" in error.message and "the partner may have it" in error.message
    assert "an earlier one may have (it ended delivery-unknown)" in error.message  # not "did": unknown
    assert error.hint is not None and f"xfer as2 resend '{message_id}'" in error.hint
    [record] = stored(data_dir)
    assert record["status"] == "delivery-unknown"
    assert [h["status"] for h in record["history"]] == ["sending", "delivery-unknown", "sending", "delivery-unknown"]


def test_http_4xx_is_not_delivered(server: AS2Server, connect: Connect, invoice: Path, data_dir: Path) -> None:
    server.fail_next(403)  # a refusal: the request was not acted on
    with connect(server) as remote, pytest.raises(XferError) as caught:
        remote.put_file(invoice, "/")
    assert "not delivered; safe to resend with the same Message-ID" in caught.value.message
    assert stored(data_dir)[0]["status"] == "not-delivered"


def test_connection_refused_is_not_delivered(
    server: AS2Server, connect: Connect, invoice: Path, data_dir: Path
) -> None:
    remote = connect(server)
    server.stop()
    with remote, pytest.raises(XferError, match="not delivered; safe to resend") as caught:
        remote.put_file(invoice, "/")
    assert caught.value.exit_code == ExitCode.CONNECT
    assert stored(data_dir)[0]["status"] == "not-delivered"


def test_no_client_certificate(server: AS2Server, connect: Connect, invoice: Path, data_dir: Path) -> None:
    with connect(server, identity=None, sign="none", mdn="unsigned-sync") as remote:
        with pytest.raises(TLSError) as caught:
            remote.put_file(invoice, "/")
    assert caught.value.exit_code == ExitCode.TLS
    assert "certificate" in caught.value.message and "not delivered" in caught.value.message
    assert server.received == []
    assert stored(data_dir)[0]["status"] == "not-delivered"



def _redirecting(srv: AS2Server, log: list[tuple[str, str]]) -> None:
    """Tomcat's context-root redirect: ``POST /as2`` → ``302 Location: /as2/``; ``GET /as2/`` → an HTML page."""
    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        log.append((environ["REQUEST_METHOD"], environ["PATH_INFO"]))
        environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        if environ["PATH_INFO"] == "/as2":
            start_response("302 Found", [("Location", f"{srv.url}/"), ("Content-Length", "0")])
            return [b""]
        page = b"<html><body>AS2 receiver servlet: use POST</body></html>"
        start_response("200 OK", [("Content-Type", "text/html"), ("Content-Length", str(len(page)))])
        return [page]

    srv._httpd.set_app(app)


@pytest.mark.parametrize("mdn", ["none", "signed-sync"])
def test_redirect_is_not_followed_and_not_delivered(
    server: AS2Server, connect: Connect, invoice: Path, data_dir: Path, mdn: str
) -> None:
    # The reviewer's case: requests turned the POST into a GET without the message, and the
    # page it got passed for the partner's answer ("sent", exit 0, with mdn = "none").
    log: list[tuple[str, str]] = []
    _redirecting(server, log)
    with connect(server, mdn=mdn) as remote, pytest.raises(RemoteError) as caught:
        remote.put_file(invoice, "/")
    assert log == [("POST", "/as2")]  # no GET of the redirect's target
    error = caught.value
    assert error.exit_code == ExitCode.REMOTE
    assert "HTTP 302" in error.message and f"to {server.url}/" in error.message
    assert "redirect" in error.message and "not delivered" in error.message
    assert error.hint is not None and "url" in error.hint and f"{server.url}/" in error.hint
    assert stored(data_dir)[0]["status"] == "not-delivered"


def _processing_then_see_other(server: AS2Server) -> None:
    """The partner processes each POST, then answers 303 See Other (a result page)."""
    app = server.app

    def processing_then_see_other(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        list(app(environ, lambda status, headers, exc_info=None: lambda data: None))  # the partner processes it
        start_response("303 See Other", [("Location", "/as2/result/1"), ("Content-Length", "0")])
        return [b""]

    server._httpd.set_app(processing_then_see_other)


@pytest.mark.parametrize("mdn", ["none", "signed-sync"])
def test_see_other_after_the_post_is_delivery_unknown(
    server: AS2Server, connect: Connect, invoice: Path, data_dir: Path, mdn: str
) -> None:
    # The reviewer's case: a partner that processed the POST and answers 303 See Other (RFC 9110
    # §15.4.4: the request was carried out, the result is elsewhere) was reported "nothing was
    # processed ... not delivered; safe to resend" (exit 6), the result page offered as the endpoint.
    _processing_then_see_other(server)
    with connect(server, mdn=mdn) as remote, pytest.raises(XferError) as caught:
        remote.retry_policy = RetryPolicy(retries=0)
        remote.put_file(invoice, "/")
    assert len(server.received) == 1
    error = caught.value
    assert error.exit_code == ExitCode.CONNECT and error.status == 303
    assert "HTTP 303" in error.message and "delivery unknown" in error.message
    assert "not delivered" not in error.message and "nothing was processed" not in error.message
    assert error.hint is not None and "xfer as2 resend" in error.hint and "result/1" not in error.hint
    assert stored(data_dir)[0]["status"] == "delivery-unknown"


def test_see_other_is_a_final_answer_never_retried(
    server: AS2Server, connect: Connect, invoice: Path, data_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # Third review, M-A: a 303 became a transient "connection dropped" and was retried: with
    # retries = 3 a partner without duplicate detection processed 4 copies, and the retry log
    # said "connection dropped" though the partner had answered.
    _processing_then_see_other(server)
    with connect(server) as remote, pytest.raises(XferError) as caught:
        remote.retry_policy = RetryPolicy(retries=3, wait=0.01)
        remote.put_file(invoice, "/")
    assert len(server.received) == 1  # one copy: the partner answered
    assert "retry" not in caplog.text and "connection dropped" not in caplog.text
    error = caught.value
    assert error.exit_code == ExitCode.CONNECT and error.attempt is None
    assert "HTTP 303" in error.message and "delivery unknown" in error.message
    [record] = stored(data_dir)
    assert record["attempts"] == 1 and record["status"] == "delivery-unknown"


@pytest.mark.parametrize("close", ["close_notify", "fin"])
def test_partner_that_processes_and_closes_without_answering_is_delivery_unknown(
    pki: TestPKI, connect: Connect, invoice: Path, data_dir: Path, close: str
) -> None:
    # The reviewer's case (TLS 1.3): the partner read and processed the whole message, then
    # closed without an HTTP answer; the TLS layer took that for a silent rejection of our
    # certificate, and the send was "not delivered" (exit 4) though the partner had it.
    partner = Identity.load(pki.partner_p12, pki.password)
    client_cert = x509.load_pem_x509_certificate(pki.client_cert.read_bytes())
    listener = socket.create_server(("127.0.0.1", 0))
    processed: list[str] = []

    def serve() -> None:
        raw, _ = listener.accept()
        with server_context(pki, tls_min="1.3").wrap_socket(raw, server_side=True) as tls:
            data = b""
            while b"\r\n\r\n" not in data:
                data += tls.recv(65536)
            head, _, body = data.partition(b"\r\n\r\n")
            headers = dict(line.split(": ", 1) for line in head.decode("latin-1").split("\r\n")[1:])
            while len(body) < int(headers["Content-Length"]):
                body += tls.recv(65536)
            result = receive(headers, body, our_identity=partner, partner_cert=client_cert,
                             our_as2_id="XFERPARTNER", partner_as2_id="XFERCLIENT", seen_message_ids=set())
            processed.append(result.disposition)
            if close == "close_notify":
                with contextlib.suppress(OSError):  # the client may be gone before its close_notify
                    tls.unwrap()
            else:
                tls.shutdown(socket.SHUT_RDWR)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    with listener:
        srv = AS2Server(pki, root=data_dir / "unused")  # only for its URL's shape and AS2 names
        srv.port = listener.getsockname()[1]
        with connect(srv) as remote, pytest.raises(XferError) as caught:
            remote.retry_policy = RetryPolicy(retries=0)  # the one exchange the partner serves
            remote.put_file(invoice, "/")
        thread.join(10)
    assert processed == ["processed"]
    error = caught.value
    assert "delivery unknown" in error.message and "not delivered" not in error.message
    assert "closed the connection without answering" in error.message and "certificate" in error.message
    assert error.exit_code == ExitCode.CONNECT
    assert error.hint is not None and "xfer as2 resend" in error.hint
    assert stored(data_dir)[0]["status"] == "delivery-unknown"

def test_unanswered_close_carries_the_whole_tls_diagnosis_in_the_hint(
    server: AS2Server, connect: Connect, invoice: Path, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The reviewer's note: the TLS layer's hint says "one of the algorithms above" and was
    # appended alone, while the AS2 message lists no algorithm.
    listed = "rsa_pss_rsae_sha256, ecdsa_secp256r1_sha256"
    tls_error = ClientCertificateRejected(
        f"{server.server} asked for a client certificate, but the Ed25519 key of 'client-ed' can make none of the "
        f"signatures it accepts ({listed}), so none was sent",
        hint="use an identity whose key type the server accepts (one of the algorithms above), or ask the partner "
        "to accept Ed25519 signatures",
    )
    tls_error.xfer_closed_after_handshake = True  # type: ignore[attr-defined]

    with connect(server) as remote:
        def post(url: str, *, data: Any, **kwargs: Any) -> Any:
            for _ in data:  # the whole message goes out, then the partner closes without an answer
                pass
            raise tls_error

        monkeypatch.setattr(remote.session, "post", post)
        remote.retry_policy = RetryPolicy(retries=0)
        with pytest.raises(ConnectionDropped) as caught:
            remote.put_file(invoice, "/")
    error = caught.value
    assert "delivery unknown" in error.message and "closed the connection without answering" in error.message
    hint = error.hint
    assert hint is not None and "xfer as2 resend" in hint
    # "above" points at the list, which is in the hint before it
    assert hint.index(listed) < hint.index("one of the algorithms above")
    assert stored(data_dir)[0]["status"] == "delivery-unknown"


# -- the store ---------------------------------------------------------------------------------


def test_receipt_store_round_trip(tmp_path: Path) -> None:
    store = ReceiptStore(tmp_path / "r")
    receipt = Receipt(message_id="<a b/c@host>", status="sending", file="/x", filename="x", size=1,
                      url="https://h/as2", as2_from="A", as2_to="B")
    receipt.move("confirmed", "processed")
    path = store.save(receipt)
    assert path.parent == tmp_path / "r" and "/" not in path.name[:-5] and " " not in path.name
    assert store.load("a b/c@host").status == "confirmed" and store.load("<a b/c@host>").confirmed
    assert (path.stat().st_mode & 0o777) == 0o600 or os.name == "nt"
    other = Receipt(message_id="<a_b_c@host>", status="sent", file="/y", filename="y", size=2,
                    url="https://h/as2", as2_from="A", as2_to="B")
    assert store.save(other) != path
    assert {r.message_id for r in store.list()} == {"<a b/c@host>", "<a_b_c@host>"}


def test_receipt_folders_it_makes_are_private_whatever_the_umask(tmp_path: Path) -> None:
    # Security review, session 26: under umask 000 the data folder and as2/ above the 0700
    # receipts folder were 0777: another user could swap in forged records, which resend reads.
    store = ReceiptStore(tmp_path / "data" / "deep" / "as2" / "receipts")
    receipt = Receipt(message_id="<m@host>", status="sending", file="/x", filename="x", size=1,
                      url="https://h/as2", as2_from="A", as2_to="B")
    before = os.umask(0)
    try:
        store.save(receipt)
        with store.locked("<m@host>"):
            pass
    finally:
        os.umask(before)
    for folder in (tmp_path / "data", tmp_path / "data" / "deep", tmp_path / "data" / "deep" / "as2", store.folder):
        assert folder.stat().st_mode & 0o777 == 0o700, folder


def test_result_to_dict_carries_receipt_facts(server: AS2Server, connect: Connect, invoice: Path) -> None:
    with connect(server) as remote:
        result: TransferResult = remote.put_file(invoice, "/")
    data = result.to_dict()
    assert {"message_id", "mic", "disposition", "warning", "receipt", "note"} <= set(data)
    assert Path(data["receipt"]).is_file()


def _duplicate_hook(signer: Identity | None, *, original: str | None = None, mic: bool = False) -> Any:
    """Answer every message like pyas2 answers a duplicate: processed/Warning, no MIC (by default)."""

    def hook(received: Received, headers: Mapping[str, str]) -> tuple[dict[str, str], bytes]:
        return build_mdn(original_message_id=received.message_id or "" if original is None else original,
                         our_as2_id="XFERPARTNER", partner_as2_id="XFERCLIENT",
                         disposition="processed/Warning: duplicate-document", signer=signer,
                         mic=received.mic if mic else None, mic_algorithm=received.mic_algorithm)

    return hook


def test_duplicate_of_a_confirmed_message_needs_no_mic(
    pki: TestPKI, tmp_path: Path, connect: Connect, invoice: Path
) -> None:
    # pyas2 stops before decrypting a duplicate, so its signed warning MDN carries no MIC: the
    # first attempt's matched MIC is the proof of content.
    partner = Identity.load(pki.partner_p12, pki.password)
    with AS2Server(pki, root=tmp_path / "in") as srv, connect(srv) as remote:
        first = remote.put_file(invoice, "/")
        assert first.details["mic_matched"] is True
        srv.app.mdn_hook = _duplicate_hook(partner)
        result = remote.send(invoice, message_id=first.details["message_id"])
    assert result.details["status"] == "confirmed" and result.details["mic_matched"] is None
    assert "did not process this copy again" in result.details["warning"]


@pytest.mark.parametrize(("sign", "mdn"), [("sha256", "signed-sync"), ("none", "unsigned-sync")])
def test_duplicate_without_mic_on_a_first_send_is_unverified(
    pki: TestPKI, tmp_path: Path, connect: Connect, invoice: Path, data_dir: Path, sign: str, mdn: str
) -> None:
    # A fresh Message-ID the partner claims to have already: our content was not processed,
    # and nothing shows the partner holds it.
    partner = Identity.load(pki.partner_p12, pki.password)
    with AS2Server(pki, root=tmp_path / "in", mdn_hook=_duplicate_hook(partner)) as srv:
        with connect(srv, sign=sign, mdn=mdn) as remote, pytest.raises(IntegrityError) as caught:
            remote.put_file(invoice, "/")
    error = caught.value
    assert error.exit_code == ExitCode.INTEGRITY
    assert "a duplicate of one it already has" in error.message and "delivery is unproven" in error.message
    assert error.hint and "new message" in error.hint
    [record] = stored(data_dir)
    assert record["status"] == "unverified" and record["confirmed"] is None


def test_duplicate_with_empty_original_message_id_is_unverified(
    pki: TestPKI, tmp_path: Path, connect: Connect, invoice: Path, data_dir: Path
) -> None:
    # The reviewer's forgery: signed by the partner, but for no message and without a MIC.
    partner = Identity.load(pki.partner_p12, pki.password)
    with AS2Server(pki, root=tmp_path / "in", mdn_hook=_duplicate_hook(partner, original="")) as srv:
        with connect(srv) as remote, pytest.raises(IntegrityError, match="no Original-Message-ID") as caught:
            remote.put_file(invoice, "/")
    assert caught.value.exit_code == ExitCode.INTEGRITY
    assert stored(data_dir)[0]["status"] == "unverified"


def test_duplicate_without_mic_after_unconfirmed_attempts_is_unverified(
    pki: TestPKI, tmp_path: Path, connect: Connect, invoice: Path, data_dir: Path
) -> None:
    partner = Identity.load(pki.partner_p12, pki.password)
    with AS2Server(pki, root=tmp_path / "in", mdn_hook=_duplicate_hook(partner)) as srv, connect(srv) as remote:
        srv.fail_next(503)
        remote.retry_policy = RetryPolicy(retries=0)
        with pytest.raises(ServerError):
            remote.put_file(invoice, "/")
        assert remote.last_receipt is not None
        with pytest.raises(IntegrityError, match="delivery is unproven"):
            remote.send(invoice, message_id=remote.last_receipt.message_id)
    [record] = stored(data_dir)
    assert record["attempts"] == 2 and record["status"] == "unverified"


def test_resend_with_other_content_is_refused_and_the_record_kept(
    server: AS2Server, connect: Connect, invoice: Path, tmp_path: Path, data_dir: Path
) -> None:
    # The partner drops a repeated Message-ID as a duplicate without processing it: other content
    # under a recorded id would be lost while its receipt looked like a confirmation (the
    # in-process partner even returns the MIC of the dropped copy), and the record of what was
    # really delivered would be overwritten.  Refused before anything is built or sent.
    other = tmp_path / "other.edi"
    other.write_bytes(PAYLOAD + b"corrected")
    with connect(server) as remote:
        message_id = remote.put_file(invoice, "/").details["message_id"]
        [before] = stored(data_dir)
        with pytest.raises(UsageError) as caught:
            remote.send(other, message_id=message_id)
        assert remote.last_receipt is None
    error = caught.value
    assert error.exit_code == ExitCode.USAGE
    assert f"{other} is not the content of message {message_id} (sent from {invoice})" in error.message
    assert "a resend must carry the same content" in error.message
    assert error.hint and "as a new message" in error.hint
    assert [r.message_id for r in server.received] == [message_id]  # nothing sent
    assert stored(data_dir) == [before]  # the confirmed record is untouched


def test_resend_of_a_changed_file_is_refused(
    server: AS2Server, connect: Connect, invoice: Path, data_dir: Path
) -> None:
    with connect(server) as remote:
        message_id = _answered_with(server, remote, invoice, 503)
        invoice.write_bytes(PAYLOAD + b"changed")
        with pytest.raises(UsageError, match=f"{invoice} changed since message {message_id} was built"):
            remote.send(invoice, message_id=message_id)
    assert server.received == []
    [record] = stored(data_dir)
    assert record["attempts"] == 1


def test_confirmation_survives_a_failed_resend(
    pki: TestPKI, tmp_path: Path, connect: Connect, invoice: Path, data_dir: Path
) -> None:
    partner = Identity.load(pki.partner_p12, pki.password)
    with AS2Server(pki, root=tmp_path / "in") as srv, connect(srv) as remote:
        message_id = remote.put_file(invoice, "/").details["message_id"]
        srv.fail_next(502)
        with pytest.raises(ServerError):
            remote.send(invoice, message_id=message_id)
        srv.app.mdn_hook = _duplicate_hook(partner)
        result = remote.send(invoice, message_id=message_id)
    assert result.details["status"] == "confirmed" and result.details["warning"]
    [record] = stored(data_dir)
    assert [h["status"] for h in record["history"]] == [
        "sending", "confirmed", "sending", "delivery-unknown", "sending", "confirmed",
    ]


def test_duplicate_with_matching_mic_on_a_first_send_is_unverified(
    pki: TestPKI, tmp_path: Path, connect: Connect, invoice: Path, data_dir: Path
) -> None:
    # The MIC shows the partner hashed this copy before dropping it as a duplicate; what it holds
    # under this Message-ID no receipt ever told us, so this is no proof of delivery.
    partner = Identity.load(pki.partner_p12, pki.password)
    with AS2Server(pki, root=tmp_path / "in", mdn_hook=_duplicate_hook(partner, mic=True)) as srv:
        with connect(srv) as remote, pytest.raises(IntegrityError, match="delivery is unproven") as caught:
            remote.put_file(invoice, "/")
    assert caught.value.exit_code == ExitCode.INTEGRITY
    [record] = stored(data_dir)
    assert record["status"] == "unverified" and record["confirmed"] is None


def test_answer_that_is_not_an_mdn(
    pki: TestPKI, tmp_path: Path, connect: Connect, invoice: Path, data_dir: Path
) -> None:
    def hook(received: Received, headers: Mapping[str, str]) -> tuple[dict[str, str], bytes]:
        return {"Content-Type": "text/html"}, b"<html>thanks</html>"

    with AS2Server(pki, root=tmp_path / "in", mdn_hook=hook) as srv, connect(srv) as remote:
        with pytest.raises(IntegrityError, match="not an AS2 MDN") as caught:
            remote.put_file(invoice, "/")
    assert caught.value.hint is not None  # every receipt we cannot trust says what to do
    assert stored(data_dir)[0]["status"] == "unverified"


def test_close_delimiter_followed_by_a_bare_lf(
    pki: TestPKI, tmp_path: Path, connect: Connect, invoice: Path, data_dir: Path
) -> None:
    # The reviewer's case: the signed MDN's outer close delimiter ends with LF, not CRLF (as
    # products that write an LF epilogue do): "no closing boundary", exit 7, no hint.
    def hook(received: Received, headers: Mapping[str, str]) -> tuple[dict[str, str], bytes]:
        body = received.response_body
        assert body.endswith(b"--\r\n")
        return dict(received.response_headers), body[:-2] + b"\n"

    with AS2Server(pki, root=tmp_path / "in", mdn_hook=hook) as srv, connect(srv) as remote:
        result = remote.put_file(invoice, "/")
    assert result.details["status"] == "confirmed" and result.verified == "sha256"


def _hollow_signature(received: Received, headers: Mapping[str, str]) -> tuple[dict[str, str], bytes]:
    """The partner's signed MDN with its signature replaced by a SignedData missing its fields."""
    return dict(received.response_headers), replace_signature(received.response_body, HOLLOW_SIGNED_DATA)


def _boundary(make: Callable[[str], str]) -> Any:
    def hook(received: Received, headers: Mapping[str, str]) -> tuple[dict[str, str], bytes]:
        out = dict(received.response_headers)
        out["Content-Type"] = make(out["Content-Type"])
        return out, received.response_body

    return hook


@pytest.mark.parametrize(
    ("hook", "needle"),
    [
        (_hollow_signature, "the signature is not valid CMS/DER data"),
        (_boundary(lambda value: value.replace('boundary="', 'boundary="\u00e9')), "not ASCII"),
        (_boundary(lambda value: value.split("; boundary")[0]), "boundary '' is missing"),
    ],
    ids=["hollow-cms", "non-ascii-boundary", "no-boundary"],
)
def test_malformed_receipt_is_unverified(
    pki: TestPKI, tmp_path: Path, connect: Connect, invoice: Path, data_dir: Path, hook: Any, needle: str
) -> None:
    # The reviewer's cases: a raw ValueError / UnicodeEncodeError ("unexpected internal error",
    # exit 1) left the record at "sending".
    with AS2Server(pki, root=tmp_path / "in", mdn_hook=hook) as srv, connect(srv) as remote:
        with pytest.raises(IntegrityError, match=needle) as caught:
            remote.put_file(invoice, "/")
    assert caught.value.exit_code == ExitCode.INTEGRITY
    [record] = stored(data_dir)
    assert record["status"] == "unverified" and record["mdn_raw"]


# -- library callers who build ConnectionSettings themselves (no profile validation) --------


def _direct(pki: TestPKI, srv: AS2Server, **as2: Any) -> AS2Adapter:
    client = Identity.load(pki.client_p12, pki.password)
    options: dict[str, Any] = {
        "as2_from": "XFERCLIENT", "as2_to": srv.as2_id, "sign": "sha256", "encrypt": "none",
        "mdn": "signed-sync", "signing_identity": client, "profile_url": srv.url, **as2,
    }
    settings = ConnectionSettings(scheme="as2", host=srv.host, port=srv.port, root="/as2",
                                  ssl_context=create_ssl_context(client, ca=pki.root_ca), options=options)
    return AS2Adapter(settings)


def test_direct_settings_take_the_declared_defaults(
    pki: TestPKI, server: AS2Server, invoice: Path, data_dir: Path
) -> None:
    # The reviewer's case: only the partner's facts given, and messages went out unsigned and
    # unencrypted although a profile with the same table signs and encrypts.
    client = Identity.load(pki.client_p12, pki.password)
    options = {"as2_from": "XFERCLIENT", "as2_to": server.as2_id, "partner_cert": str(pki.partner_cert),
               "profile_url": server.url}
    settings = ConnectionSettings(scheme="as2", host=server.host, port=server.port, root="/as2",
                                  ssl_context=create_ssl_context(client, ca=pki.root_ca), identity=client,
                                  options=options)
    parsed = settings.options_as(AS2Options)
    assert (parsed.sign, parsed.encrypt, parsed.mdn) == ("sha256", "aes256-cbc", "signed-sync")
    with AS2Adapter(settings) as remote:  # the TLS identity signs, as in a profile without signing_identity
        result = remote.put_file(invoice, "/")
    got = server.received[-1]
    assert (got.signed, got.encrypted) == (True, True)
    assert result.details["status"] == "confirmed" and result.verified == "sha256"
    [record] = stored(data_dir)
    assert (record["sign"], record["encrypt"], record["mdn_signed"]) == ("sha256", "aes256-cbc", True)


def test_direct_signed_mdn_without_partner_cert_fails_closed(
    pki: TestPKI, server: AS2Server, invoice: Path, data_dir: Path
) -> None:
    # The profile refuses this; a caller who skips it gets a receipt that cannot be verified,
    # never a confirmation.
    with _direct(pki, server) as remote, pytest.raises(IntegrityError, match="not verified") as caught:
        remote.put_file(invoice, "/")
    assert caught.value.exit_code == ExitCode.INTEGRITY
    assert stored(data_dir)[0]["status"] == "unverified"


@pytest.mark.parametrize(
    ("as2", "needle"),
    [
        ({"encrypt": "aes256-cbc", "mdn": "unsigned-sync"}, "partner's certificate is not known"),
        ({"as2_from": None}, "AS2-From"),
        ({"as2_to": ""}, "AS2-To"),
        ({"signing_identity": None, "mdn": "unsigned-sync"}, "no signing identity"),
    ],
)
def test_direct_bad_options_are_refused_before_sending(
    pki: TestPKI, server: AS2Server, invoice: Path, as2: dict[str, Any], needle: str
) -> None:
    with _direct(pki, server, **as2) as remote, pytest.raises(ConfigError, match=needle):
        remote.put_file(invoice, "/")
    assert server.received == [] and server.app.statuses == []


def test_direct_unknown_mdn_mode_is_refused(pki: TestPKI, server: AS2Server) -> None:
    # "signed" is build_message's spelling; taken as a mode it would skip the signature check.
    with pytest.raises(ConfigError, match="mdn = 'signed' is not supported"):
        _direct(pki, server, mdn="signed")


@pytest.mark.parametrize("tls_max", ["1.2", "1.3"])
@pytest.mark.parametrize("garble", ["record", "plaintext"])
def test_an_answer_broken_after_the_whole_message_is_delivery_unknown(
    pki: TestPKI, connect: Connect, invoice: Path, data_dir: Path, tls_max: str, garble: Literal["record", "plaintext"]
) -> None:
    # Review (session 26), H1: a partner that had read the whole message, then a TLS record that
    # failed its MAC (or bytes that are not TLS) in place of the answer, was recorded "not
    # delivered; safe to resend" with the TLS error's "wrong port?" advice.
    with ScriptedHTTPSServer(pki, {"POST *": Reply(garble=garble)}, tls_max=tls_max) as partner:
        with connect(SimpleNamespace(url=f"{partner.url}/as2", as2_id="XFERPARTNER")) as remote:
            remote.retry_policy = RetryPolicy(retries=0)
            with pytest.raises(ConnectionDropped) as caught:
                remote.put_file(invoice, "/")
            receipt = remote.last_receipt
    assert partner.requests == [("POST", "/as2")]  # read whole: the fake reads the body before it garbles
    assert receipt is not None and receipt.status == "delivery-unknown"
    message = caught.value.message
    assert "after the whole message was sent" in message and "delivery unknown" in message
    assert "not delivered" not in message and "safe to resend" not in message


@pytest.mark.parametrize(("field", "status"), [("Failure", "failed"), ("Error", "error")])
def test_processed_beside_a_failure_or_error_field_is_a_rejection(
    pki: TestPKI, tmp_path: Path, connect: Connect, invoice: Path, data_dir: Path, field: str, status: str
) -> None:
    # Review (session 26), M3: "processed" with RFC 3798's "Failure: content could not be stored"
    # beside it was a confirmed delivery, exit 0, even with --checksum.
    partner = Identity.load(pki.partner_p12, pki.password)

    def hook(received: Received, headers: Mapping[str, str]) -> tuple[dict[str, str], bytes]:
        return build_mdn(original_message_id=received.message_id or "", our_as2_id="XFERPARTNER",
                         partner_as2_id="XFERCLIENT", disposition="processed", mic=received.mic,
                         mic_algorithm=received.mic_algorithm, signer=partner,
                         report_fields=[(field, "content could not be stored")])

    with AS2Server(pki, root=tmp_path / "in", mdn_hook=hook) as srv, connect(srv) as remote:
        with pytest.raises(RemoteError) as caught:
            remote.put_file(invoice, "/")
    assert "rejected AS2 message" in caught.value.message
    assert f"processed ({field.lower()}: content could not be stored)" in caught.value.message
    [record] = stored(data_dir)
    assert record["status"] == "rejected" and record["mdn_status"] == status


def test_a_receipt_signed_with_a_1024_bit_key_is_no_proof(
    pki: TestPKI, tmp_path: Path, connect: Connect, invoice: Path, data_dir: Path
) -> None:
    # Review (session 26), M1: a receipt signed by an RSA-1024 partner_mdn_cert was confirmed,
    # verified "sha256", with --checksum and no warning.
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    key = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "weak-mdn")])
    now = datetime.datetime.now(datetime.timezone.utc)
    certificate = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
                   .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
                   .not_valid_after(now + datetime.timedelta(days=300)).sign(key, hashes.SHA256()))
    pem = tmp_path / "weak-mdn.pem"
    pem.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    signer: Any = SimpleNamespace(key=key, certificate=certificate, chain=[])  # build_mdn reads these
    with AS2Server(pki, root=tmp_path / "in", mdn_hook=_forged(signer)) as srv:
        with connect(srv, partner_mdn_cert=str(pem)) as remote, pytest.raises(IntegrityError) as caught:
            remote.put_file(invoice, "/")
    assert "signed with a certificate that has a 1024-bit RSA key" in caught.value.message
    [record] = stored(data_dir)
    assert record["status"] == "unverified" and record["mdn_signed"] is False
    with AS2Server(pki, root=tmp_path / "in2", mdn_hook=_forged(signer)) as srv:
        with connect(srv, partner_mdn_cert=str(pem), mdn="unsigned-sync") as remote:
            result = remote.put_file(invoice, "/")
    assert result.details["status"] == "confirmed" and result.verified == "none"  # unsigned asked: no proof


def test_a_tls_alert_from_the_partner_after_the_message_is_a_refusal(
    server: AS2Server, connect: Connect, invoice: Path, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Review of session 26's fixes, M2: an alert the partner's TLS layer sent (internal_error) after
    # the whole message went out was "delivery unknown" and sent three times.  Its TLS layer
    # refused the connection: no request reached the AS2 server.  (No in-process server can send
    # such an alert at will; the real path is the same class of error: TLS 1.3's certificate_required,
    # test_no_client_certificate.)
    alert = ssl.SSLError(1, "[SSL: TLSV1_ALERT_INTERNAL_ERROR] tlsv1 alert internal error")
    alert.reason = "TLSV1_ALERT_INTERNAL_ERROR"
    refused = TLSError(f"{server.server}: TLS failed: tlsv1_alert_internal_error")
    refused.__cause__ = alert
    posts: list[int] = []

    with connect(server) as remote:
        def post(url: str, *, data: Any, **kwargs: Any) -> Any:
            for _ in data:  # the whole message goes out, then the alert comes
                pass
            posts.append(1)
            raise refused

        monkeypatch.setattr(remote.session, "post", post)
        with pytest.raises(TLSError) as caught:
            remote.put_file(invoice, "/")
    assert posts == [1]  # not a network failure: not sent again
    assert "not delivered" in caught.value.message and "tlsv1_alert_internal_error" in caught.value.message
    assert stored(data_dir)[0]["status"] == "not-delivered"


def test_a_receipt_whose_disposition_cannot_be_read_is_unverified_not_a_rejection(
    pki: TestPKI, tmp_path: Path, connect: Connect, invoice: Path, data_dir: Path
) -> None:
    # Review of session 26's fixes, M4: "rejected" (exit 6), and a later failed resend would then
    # have said "not delivered; safe to resend" although the partner had stored the file.
    partner = Identity.load(pki.partner_p12, pki.password)
    with AS2Server(pki, root=tmp_path / "in", mdn_hook=_answering("processed (no errors", signer=partner)) as srv:
        with connect(srv) as remote, pytest.raises(IntegrityError, match="a comment is never closed"):
            remote.put_file(invoice, "/")
    assert stored(data_dir)[0]["status"] == "unverified"
