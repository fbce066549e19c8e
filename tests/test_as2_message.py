"""xfer.as2.message: headers, MIME structure, MIC rules, limits — layers opened by openssl, not by xfer."""

from __future__ import annotations

import base64
import hashlib
import subprocess
import tracemalloc
import zlib
from pathlib import Path

import pytest
from asn1crypto import cms as asn1_cms

from xfer.as2 import _mime, message
from xfer.as2.message import MAX_AS2_PAYLOAD, build_message, build_message_from_bytes
from xfer.errors import ConfigError, LocalFileNotFound, UsageError
from xfer.identity import Identity
from xfer.testing.pki import TestPKI

# Bytes that a careless MIME layer would rewrite: bare LF, bare CR, CRLF, NUL, 0xFF, no final newline.
PAYLOAD = b"ISA*00*          *00*          *ZZ*ACME~\nGS*IN\r\nST\r*\x00\xff" * 40 + b"IEA*1"


@pytest.fixture(scope="module")
def partner(pki: TestPKI) -> Identity:
    return Identity.load(pki.partner_p12, pki.password)


def openssl(*args: str | Path, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(["openssl", *map(str, args)], input=stdin, capture_output=True, check=False)


def build(identity: Identity, partner: Identity, **options: object) -> message.AS2Message:
    defaults: dict[str, object] = {
        "filename": "invoice.edi", "as2_from": "ACME", "as2_to": "PARTNER",
        "signer": identity, "partner_certificate": partner.certificate,
    }
    defaults.update(options)
    return build_message_from_bytes(PAYLOAD, **defaults)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        (b"ISA*00*", "application/EDI-X12"),
        (b"\xef\xbb\xbf ISA*00", "application/EDI-X12"),
        (b"UNA:+.? 'UNB+UNOC", "application/EDIFACT"),
        (b"UNB+UNOA:1", "application/EDIFACT"),
        (b'<?xml version="1.0"?><a/>', "application/xml"),
        (b"<Invoice>", "application/xml"),
        (b"%PDF-1.7", "application/octet-stream"),
        (b"", "application/octet-stream"),
    ],
)
def test_content_type_guess(head: bytes, expected: str) -> None:
    assert message.guess_content_type(head) == expected


@pytest.mark.parametrize(("name", "sent"), [("ACME", "ACME"), ("ACME Corp", '"ACME Corp"'), ("a@b.c", '"a@b.c"')])
def test_as2_names_quoted_when_needed(name: str, sent: str) -> None:
    assert message.validate_as2_name(name, what="AS2-From") == sent


@pytest.mark.parametrize("name", ["", "x" * 129, "caf\u00e9", 'say "hi"', "back\\slash", " edge", "tab\there"])
def test_invalid_as2_names_refused(name: str) -> None:
    with pytest.raises(ConfigError, match="not a valid AS2 name"):
        message.validate_as2_name(name, what="AS2-To")


def test_headers_of_signed_encrypted_message(identity: Identity, partner: Identity) -> None:
    msg = build(identity, partner, as2_from="ACME Corp", compress=True)
    h = msg.headers
    assert h["AS2-Version"] == "1.1"  # compression announced (RFC 5402)
    assert h["AS2-From"] == '"ACME Corp"'
    assert h["AS2-To"] == "PARTNER"
    assert h["Message-ID"] == msg.message_id
    assert msg.message_id.startswith("<") and msg.message_id.endswith(">") and "@" in msg.message_id
    assert h["MIME-Version"] == "1.0"
    assert h["Subject"] and h["Date"].endswith("GMT")
    assert h["Content-Type"] == 'application/pkcs7-mime; smime-type=enveloped-data; name="smime.p7m"'
    assert h["Disposition-Notification-To"] == "ACME Corp"
    assert h["Disposition-Notification-Options"] == (
        "signed-receipt-protocol=optional, pkcs7-signature; signed-receipt-micalg=optional, sha-256"
    )
    assert build(identity, partner).headers["AS2-Version"] == "1.2"
    assert build(identity, partner).message_id != msg.message_id


def test_mdn_request_headers(identity: Identity, partner: Identity) -> None:
    assert "Disposition-Notification-To" not in build(identity, partner, mdn="none").headers
    unsigned = build(identity, partner, mdn="unsigned").headers
    assert "Disposition-Notification-To" in unsigned and "Disposition-Notification-Options" not in unsigned
    asynchronous = build(identity, partner, receipt_delivery_option="https://acme.example/as2/mdn").headers
    assert asynchronous["Receipt-Delivery-Option"] == "https://acme.example/as2/mdn"
    sha1 = build(identity, partner, sign="sha1").headers
    assert sha1["Disposition-Notification-Options"].endswith("signed-receipt-micalg=optional, sha1")


@pytest.mark.parametrize("digest", ["sha1", "sha256", "sha384", "sha512"])
def test_signed_message_structure_and_mic(
    pki: TestPKI, identity: Identity, partner: Identity, tmp_path: Path, digest: str
) -> None:
    msg = build(identity, partner, sign=digest, encrypt=None)
    mime_type, params = _mime.content_type(msg.headers["Content-Type"])
    assert mime_type == "multipart/signed"
    assert params["protocol"] == "application/pkcs7-signature"
    assert params["micalg"] == message.micalg_name(digest)
    # Split by hand, not with xfer's parser: the delimiter lines are fixed by RFC 2046.
    delimiter = b"--" + params["boundary"].encode()
    assert msg.body.startswith(delimiter + b"\r\n")
    assert msg.body.endswith(b"\r\n" + delimiter + b"--\r\n")
    signed_part, signature_part = msg.body[len(delimiter) + 2 :].split(b"\r\n" + delimiter + b"\r\n")
    signature_part = signature_part.removesuffix(b"\r\n" + delimiter + b"--\r\n")
    expected_entity = (
        b"Content-Type: application/EDI-X12\r\n"
        b"Content-Transfer-Encoding: binary\r\n"
        b'Content-Disposition: attachment; filename="invoice.edi"\r\n'
        b"\r\n" + PAYLOAD
    )
    assert signed_part == expected_entity  # payload bytes untouched, headers CRLF
    # MIC: digest of the signed entity, headers included (RFC 4130 §7.3.1).
    assert msg.mic == base64.b64encode(hashlib.new(digest, expected_entity).digest()).decode()
    assert msg.mic_algorithm == digest
    # openssl verifies the detached signature over exactly those bytes.
    sig_head, sig_b64 = signature_part.split(b"\r\n\r\n", 1)
    assert b"Content-Type: application/pkcs7-signature" in sig_head
    (tmp_path / "sig.der").write_bytes(base64.b64decode(sig_b64))
    (tmp_path / "signed").write_bytes(signed_part)
    result = openssl(
        "cms", "-verify", "-binary", "-inform", "DER", "-in", tmp_path / "sig.der", "-content", tmp_path / "signed",
        "-CAfile", pki.ca_bundle, "-purpose", "any", "-out", "/dev/null",
    )
    assert result.returncode == 0, result.stderr.decode()


@pytest.mark.parametrize("cipher", ["3des", "aes128-cbc", "aes192-cbc", "aes256-cbc"])
def test_compressed_signed_encrypted_opened_by_openssl(
    pki: TestPKI, identity: Identity, partner: Identity, tmp_path: Path, cipher: str
) -> None:
    msg = build(
        identity, partner, encrypt=cipher, compress=True, filename="order 1.xml", content_type="application/xml"
    )
    (tmp_path / "body").write_bytes(msg.body)
    decrypted = openssl(
        "cms", "-decrypt", "-binary", "-inform", "DER", "-in", tmp_path / "body",
        "-recip", pki.partner_cert, "-inkey", pki.partner_key,
    )
    assert decrypted.returncode == 0, decrypted.stderr.decode()
    # The encrypted entity is the multipart/signed entity, with its Content-Type header.
    head, body = decrypted.stdout.split(b"\r\n\r\n", 1)
    mime_type, params = _mime.content_type(head.decode().removeprefix("Content-Type: "))
    assert mime_type == "multipart/signed"
    delimiter = b"--" + params["boundary"].encode()
    signed_part = body[len(delimiter) + 2 :].split(b"\r\n" + delimiter)[0]
    assert msg.mic == base64.b64encode(hashlib.sha256(signed_part).digest()).decode()
    compressed_head, der = signed_part.split(b"\r\n\r\n", 1)
    assert b"smime-type=compressed-data" in compressed_head
    inner = zlib.decompress(asn1_cms.ContentInfo.load(der)["content"]["encap_content_info"]["content"].native)
    assert inner == (
        b"Content-Type: application/xml\r\nContent-Transfer-Encoding: binary\r\n"
        b'Content-Disposition: attachment; filename="order 1.xml"\r\n\r\n' + PAYLOAD
    )


def test_unsigned_encrypted_mic_covers_decrypted_entity(
    pki: TestPKI, identity: Identity, partner: Identity, tmp_path: Path
) -> None:
    msg = build(identity, partner, sign=None, encrypt="aes128-cbc", mdn="unsigned")
    (tmp_path / "body").write_bytes(msg.body)
    decrypted = openssl(
        "cms", "-decrypt", "-binary", "-inform", "DER", "-in", tmp_path / "body",
        "-recip", pki.partner_cert, "-inkey", pki.partner_key,
    ).stdout
    assert decrypted.endswith(b"\r\n\r\n" + PAYLOAD)
    assert msg.mic == base64.b64encode(hashlib.sha256(decrypted).digest()).decode()
    assert msg.mic_algorithm == "sha256"


def test_plain_message_mic_covers_content_only(identity: Identity, partner: Identity) -> None:
    msg = build(identity, partner, sign="none", encrypt="none", mdn="unsigned")
    assert msg.body == PAYLOAD
    assert msg.headers["Content-Type"] == "application/EDI-X12"
    assert msg.headers["Content-Disposition"] == 'attachment; filename="invoice.edi"'
    assert msg.mic == base64.b64encode(hashlib.sha256(PAYLOAD).digest()).decode()
    assert not (msg.signed or msg.encrypted or msg.compressed)


def test_non_ascii_filename_uses_rfc2231(identity: Identity, partner: Identity) -> None:
    msg = build(identity, partner, sign=None, encrypt=None, filename="r\u00e9sum\u00e9.edi")
    assert msg.headers["Content-Disposition"] == "attachment; filename*=utf-8''r%C3%A9sum%C3%A9.edi"


def test_build_from_file(tmp_path: Path, identity: Identity, partner: Identity) -> None:
    path = tmp_path / "invoice.x12"
    path.write_bytes(PAYLOAD)
    msg = build_message(
        path, as2_from="ACME", as2_to="PARTNER", signer=identity, partner_certificate=partner.certificate
    )
    assert msg.filename == "invoice.x12" and msg.payload_size == len(PAYLOAD)
    assert msg.content_type == "application/EDI-X12"
    with pytest.raises(LocalFileNotFound, match="does not exist"):
        build_message(tmp_path / "missing", as2_from="A", as2_to="B", sign=None, encrypt=None)


def test_payload_limit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert MAX_AS2_PAYLOAD == 512 * 1024 * 1024
    monkeypatch.setattr(message, "MAX_AS2_PAYLOAD", 1024)
    path = tmp_path / "big.bin"
    path.write_bytes(bytes(1025))
    with pytest.raises(UsageError, match="at most 0 MiB per message") as caught:
        build_message(path, as2_from="A", as2_to="B", sign=None, encrypt=None)
    assert caught.value.hint and "streaming protocol" in caught.value.hint
    with pytest.raises(UsageError):
        build_message_from_bytes(bytes(1025), filename="x", as2_from="A", as2_to="B", sign=None, encrypt=None)


def test_option_errors(identity: Identity, partner: Identity) -> None:
    with pytest.raises(ConfigError, match="no signing identity"):
        build(identity, partner, signer=None)
    with pytest.raises(ConfigError, match="partner's certificate"):
        build(identity, partner, partner_certificate=None)
    with pytest.raises(ConfigError, match="unsupported encryption"):
        build(identity, partner, encrypt="rc2")
    with pytest.raises(ConfigError, match="unsupported digest"):
        build(identity, partner, sign="md5")
    with pytest.raises(ConfigError, match="Content-Type"):
        build(identity, partner, content_type="not a type")
    for subject in ("Rechnung f\u00fcr M\u00e4rz", "Invoice\x1b[31m", "Invoice\x7f", "Invoice\r\nBcc: x",
                    "Invoice\rx", "Invoice\nx", "Invoice\x0bx", "Invoice\x00"):
        with pytest.raises(ConfigError, match=r"^header Subject must be one line of printable ASCII"):
            build(identity, partner, subject=subject)


def test_subject_may_hold_a_tab(identity: Identity, partner: Identity) -> None:
    # The reviewer's case: a TAB (legal in a header's unstructured text) was refused (ConfigError).
    assert build(identity, partner, subject="Invoice\t4711").headers["Subject"] == "Invoice\t4711"


@pytest.mark.parametrize("subject", [" Invoice", "\tInvoice", "  "])
def test_subject_with_leading_whitespace_is_a_configuration_error(
    identity: Identity, partner: Identity, subject: str
) -> None:
    # Third review, L-A: " Invoice" passed the header check, then failed at send time as a
    # network error ("Invalid leading whitespace ... not delivered; safe to resend", retried).
    with pytest.raises(ConfigError, match=r"^header Subject must not start with a space or TAB") as caught:
        build(identity, partner, subject=subject)
    assert caught.value.hint is not None and "[as2] subject" in caught.value.hint
    assert build(identity, partner, subject="Invoice ").headers["Subject"] == "Invoice "  # trailing: fine


@pytest.mark.parametrize("name", ["inv\r\nX-Evil: 1.edi", "inv\x1b[31m.edi", "inv\x7f.edi", "inv\x85.edi"])
def test_file_name_with_control_characters_refused_by_its_name(
    identity: Identity, partner: Identity, name: str
) -> None:
    # The reviewer's cases: CR/LF was refused as "header Subject"; ESC and DEL went into the
    # Subject as they are.
    with pytest.raises(UsageError, match=r"^the file name .* contains control characters") as caught:
        build(identity, partner, filename=name, sign=None, encrypt=None)
    assert repr(name) in caught.value.message and caught.value.hint is not None


def test_message_id_reuse_for_resend(identity: Identity, partner: Identity) -> None:
    assert build(identity, partner, message_id="<abc-1@acme.example>").message_id == "<abc-1@acme.example>"
    assert build(identity, partner, message_id="abc-2@acme.example").headers["Message-ID"] == "<abc-2@acme.example>"
    with pytest.raises(UsageError, match="not a valid Message-ID"):
        build(identity, partner, message_id="<no at sign>")
    assert build(identity, partner, message_id="<a.b+c@[10.0.0.1]>").message_id == "<a.b+c@[10.0.0.1]>"


@pytest.mark.parametrize("message_id", ["<a,b;c@host>", "<a(b)@host>", "<a..b@host>", "<.a@host>", "<a@b@host>",
                                        '<"a"@host>', "<a@host.>"])
def test_message_id_must_be_an_rfc5322_msg_id(identity: Identity, partner: Identity, message_id: str) -> None:
    # The reviewer's case: a --resend id with "(", "," or ";" was sent as it was.
    with pytest.raises(UsageError, match="not a valid Message-ID") as caught:
        build(identity, partner, message_id=message_id)
    assert caught.value.hint is not None and "RFC 5322" in caught.value.hint


@pytest.mark.parametrize("host", ["vm.", "a..b", "..", "we ird_host"])
def test_generated_message_id_is_an_rfc5322_msg_id(host: str, identity: Identity, partner: Identity) -> None:
    generated = message.new_message_id(host)
    assert build(identity, partner, message_id=generated).message_id == generated


def test_peak_memory_under_four_times_payload(identity: Identity, partner: Identity, tmp_path: Path) -> None:
    """The in-memory CMS path (compress + sign + encrypt, incompressible data) stays < 4× payload."""
    size = 16 * 1024 * 1024
    path = tmp_path / "random.bin"
    path.write_bytes(hashlib.shake_256(b"xfer").digest(size))
    tracemalloc.start()
    try:
        msg = build_message(
            path, as2_from="A", as2_to="B", signer=identity, partner_certificate=partner.certificate, compress=True
        )
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(msg.body) > size
    assert peak < 4 * size, f"peak {peak / size:.2f}x payload"
