"""Build an outgoing AS2 message (RFC 4130) from a file: payload → [compress] → [sign] → [encrypt].

The result is an :class:`AS2Message`: the HTTP headers and body to POST, the Message-ID and
the MIC the partner's MDN must return.  Nothing here touches the network.

Byte exactness: every MIME entity is written by :mod:`xfer.as2._mime` with CRLF header lines
and the payload left as is (``Content-Transfer-Encoding: binary``); the bytes that are
signed and digested are exactly the bytes that are sent.

Memory: CMS needs the whole payload in memory.  Each stage frees its input once its output
exists, so the peak stays near 3 × the payload (about 2 × for unencrypted messages);
payloads above :data:`MAX_AS2_PAYLOAD` are refused with a :class:`~xfer.errors.UsageError`
rather than pushing the machine into swap.
"""

from __future__ import annotations

import base64
import datetime as dt
import email.utils
import os
import re
import socket
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from cryptography import x509

from ..errors import ConfigError, LocalError, LocalFileNotFound, UsageError
from ..identity import Identity
from . import _mime, cms

__all__ = [
    "MAX_AS2_PAYLOAD",
    "AS2Message",
    "MdnRequest",
    "build_message",
    "build_message_from_bytes",
    "guess_content_type",
    "micalg_name",
    "new_message_id",
    "validate_as2_name",
]

#: The largest payload xfer sends over AS2 (512 MiB).  CMS signing and encryption work on the
#: whole payload in memory and peak near 3 × its size, so 512 MiB needs ~1.5 GiB free; larger
#: files are refused up front.
MAX_AS2_PAYLOAD = 512 * 1024 * 1024

MdnRequest = Literal["none", "unsigned", "signed"]

#: AS2-Version: 1.1 announces RFC 5402 compression support (what RFC 5402 asks for when a
#: message is compressed); 1.2 is what current products (pyas2, Mendelson) send otherwise.
AS2_VERSION_COMPRESSED = "1.1"
AS2_VERSION = "1.2"

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")  # C0, DEL, C1
_PRINTABLE_NAME = re.compile(r"[\x20-\x7e]{1,128}")
# RFC 5322 §3.6.4 msg-id: "<" dot-atom-text "@" (dot-atom-text / no-fold-literal) ">"; no
# comments, commas or semicolons, which partners' header parsers would split on.
_DOT_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
_MESSAGE_ID = re.compile(rf"<{_DOT_ATOM}@(?:{_DOT_ATOM}|\[[\x21-\x5a\x5e-\x7e]*\])>")
#: What a recorded Message-ID may be: ids recorded before the RFC 5322 check (the generator made
#: ``<...@host.>`` and ``<...@a..b>``) were sent as they are, and a resend must repeat them exactly.
_RECORDED_MESSAGE_ID = re.compile(r"<[\x21-\x3b\x3d\x3f-\x7e]+@[\x21-\x3b\x3d\x3f-\x7e]+>")


def micalg_name(digest: str) -> str:
    """The ``micalg`` spelling sent for a digest.

    RFC 5751 spells ``sha-256``/``sha-384``/``sha-512``; for SHA-1 the RFC 3851 spelling
    ``sha1`` is kept because the partners still on SHA-1 are the ones that predate RFC 5751.
    Receivers accept either (and :mod:`xfer.as2.mdn` accepts all of them).
    """
    name = cms.digest_name(digest)
    return "sha1" if name == "sha1" else "sha-" + name[3:]


def validate_as2_name(value: str, *, what: str) -> str:
    """Check an AS2-From/AS2-To name (RFC 4130 §6.2: 1–128 printable ASCII); return it as sent.

    Names with spaces or specials are quoted; ``"`` and ``\\`` are refused because partners
    disagree on unescaping them.
    """
    if not _PRINTABLE_NAME.fullmatch(value) or '"' in value or "\\" in value or value != value.strip():
        raise ConfigError(
            f"{what} {value!r} is not a valid AS2 name",
            hint="use 1 to 128 printable ASCII characters, no quotes or backslashes, no edge spaces",
        )
    return _mime.atom_or_quoted(value)


def new_message_id(domain: str | None = None) -> str:
    """A globally unique ``<...@host>`` Message-ID (time + 128 random bits)."""
    host = domain or socket.gethostname() or "xfer"
    host = re.sub(r"\.{2,}", ".", re.sub(r"[^A-Za-z0-9.-]", "-", host)).strip(".") or "xfer"  # a dot-atom
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%d%H%M%S")
    return f"<xfer-{stamp}-{uuid.uuid4().hex}@{host}>"


def _check_message_id(message_id: str, *, recorded: bool = False) -> str:
    """``message_id`` in angle brackets; a typed one must be an RFC 5322 msg-id, a ``recorded``
    one (from our receipt store, sent before) only one token of printable ASCII."""
    candidate = message_id.strip()
    if not candidate.startswith("<"):
        candidate = f"<{candidate}>"
    if not (_RECORDED_MESSAGE_ID if recorded else _MESSAGE_ID).fullmatch(candidate):
        raise UsageError(
            f"{message_id!r} is not a valid Message-ID",
            hint="a Message-ID looks like <unique-part@host> (RFC 5322: letters, digits, dots and "
            "!#$%&'*+/=?^_`{|}~-, no spaces, commas, semicolons or parentheses)",
        )
    return candidate


def guess_content_type(head: bytes) -> str:
    """Content-Type from the first bytes of a payload: X12, EDIFACT, XML, else octet-stream."""
    text = head.lstrip(b"\xef\xbb\xbf").lstrip()  # a UTF-8 BOM and leading whitespace are common
    if text.startswith(b"ISA"):
        return "application/EDI-X12"
    if text.startswith((b"UNA", b"UNB")):
        return "application/EDIFACT"
    if text.startswith(b"<?xml") or (text.startswith(b"<") and text[1:2].isalpha()):
        return "application/xml"
    return "application/octet-stream"


@dataclass(frozen=True)
class AS2Message:
    """An AS2 message ready to POST, and what its MDN must confirm.

    ``headers`` and ``body`` go on the wire unchanged.  ``mic`` (base64) and
    ``mic_algorithm`` (xfer's digest name, e.g. ``sha256``) are what the partner's
    ``Received-Content-MIC`` must match; keep them with ``message_id`` in the receipt.
    """

    message_id: str  # with angle brackets, as in the header and the MDN's Original-Message-ID
    headers: dict[str, str]
    body: bytes = field(repr=False)
    mic: str
    mic_algorithm: str
    filename: str
    payload_size: int
    content_type: str  # the payload's own Content-Type
    signed: bool
    encrypted: bool
    compressed: bool
    mdn: MdnRequest


def build_message(
    path: str | os.PathLike[str],
    *,
    as2_from: str,
    as2_to: str,
    signer: Identity | None = None,
    partner_certificate: x509.Certificate | None = None,
    sign: str | None = "sha256",
    encrypt: str | None = "aes256-cbc",
    compress: bool = False,
    mdn: MdnRequest = "signed",
    mdn_micalg: str | None = None,
    mdn_to: str | None = None,
    receipt_delivery_option: str | None = None,
    subject: str | None = None,
    content_type: str | None = None,
    filename: str | None = None,
    message_id: str | None = None,
    domain: str | None = None,
    extra_headers: Mapping[str, str] | None = None,
    recorded_message_id: bool = False,
) -> AS2Message:
    """Read ``path`` and build the AS2 message for it; see :func:`build_message_from_bytes`.

    ``recorded_message_id``: ``message_id`` comes from xfer's receipt store (a resend), and is
    repeated as it was recorded, also in a form older versions generated.

    Raises :class:`~xfer.errors.LocalFileNotFound`/:class:`~xfer.errors.LocalError` when the
    file cannot be read and :class:`~xfer.errors.UsageError` when it is larger than
    :data:`MAX_AS2_PAYLOAD`.
    """
    file = Path(path)

    def load() -> bytes:
        # Read inside _build so that no frame but its own holds the payload: each stage can
        # then free its input, which is what keeps the peak near 3x the file size.
        try:
            size = file.stat().st_size
            if size > MAX_AS2_PAYLOAD:
                raise _too_large(file.name, size)
            return file.read_bytes()
        except FileNotFoundError as exc:
            raise LocalFileNotFound(f"{file} does not exist") from exc
        except IsADirectoryError as exc:
            raise LocalError(f"{file} is a folder; AS2 sends one file per message") from exc
        except OSError as exc:
            raise LocalError(f"cannot read {file}: {exc.strerror or exc}") from exc

    return _build(
        load,
        filename=filename or file.name,
        as2_from=as2_from,
        as2_to=as2_to,
        signer=signer,
        partner_certificate=partner_certificate,
        sign=sign,
        encrypt=encrypt,
        compress=compress,
        mdn=mdn,
        mdn_micalg=mdn_micalg,
        mdn_to=mdn_to,
        receipt_delivery_option=receipt_delivery_option,
        subject=subject,
        content_type=content_type,
        message_id=message_id,
        domain=domain,
        extra_headers=extra_headers,
        recorded_message_id=recorded_message_id,
    )


def build_message_from_bytes(
    payload: bytes,
    *,
    filename: str,
    as2_from: str,
    as2_to: str,
    signer: Identity | None = None,
    partner_certificate: x509.Certificate | None = None,
    sign: str | None = "sha256",
    encrypt: str | None = "aes256-cbc",
    compress: bool = False,
    mdn: MdnRequest = "signed",
    mdn_micalg: str | None = None,
    mdn_to: str | None = None,
    receipt_delivery_option: str | None = None,
    subject: str | None = None,
    content_type: str | None = None,
    message_id: str | None = None,
    domain: str | None = None,
    extra_headers: Mapping[str, str] | None = None,
) -> AS2Message:
    """Build an AS2 message for ``payload`` in RFC 4130 order: compress, sign, encrypt.

    * ``sign``: digest name (``sha1``, ``sha256``, ``sha384``, ``sha512``, any spelling) or
      None/``"none"``; needs ``signer`` (our identity; RSA or EC key).
    * ``encrypt``: ``aes256-cbc``, ``aes192-cbc``, ``aes128-cbc``, ``3des`` or None/``"none"``;
      needs ``partner_certificate`` (RSA).
    * ``compress``: RFC 5402 CompressedData before signing (what pyas2 and most products do).
    * ``mdn``: ``"none"``, ``"unsigned"`` or ``"signed"`` (synchronous unless
      ``receipt_delivery_option`` gives an async URL).  ``mdn_micalg`` is the MIC algorithm
      asked for in a signed receipt (default: the signing digest, else sha256).
    * ``message_id``: reuse one to resend a message that was not delivered.

    The caller's ``payload`` reference keeps one extra copy alive; :func:`build_message`
    reads the file itself to avoid that.  Raises :class:`~xfer.errors.ConfigError` for bad
    options and :class:`~xfer.errors.UsageError` for a payload above :data:`MAX_AS2_PAYLOAD`.
    """
    if len(payload) > MAX_AS2_PAYLOAD:
        raise _too_large(filename, len(payload))
    return _build(
        lambda: payload,
        filename=filename,
        as2_from=as2_from,
        as2_to=as2_to,
        signer=signer,
        partner_certificate=partner_certificate,
        sign=sign,
        encrypt=encrypt,
        compress=compress,
        mdn=mdn,
        mdn_micalg=mdn_micalg,
        mdn_to=mdn_to,
        receipt_delivery_option=receipt_delivery_option,
        subject=subject,
        content_type=content_type,
        message_id=message_id,
        domain=domain,
        extra_headers=extra_headers,
    )


def _too_large(name: str, size: int) -> UsageError:
    return UsageError(
        f"{name} is {size / 2**20:.1f} MiB; AS2 messages are built in memory and xfer sends at most "
        f"{MAX_AS2_PAYLOAD // 2**20} MiB per message",
        hint="split the file, or send it with a streaming protocol (HTTPS, FTPS, WebDAV)",
    )


def _off(value: str | None) -> bool:
    return value is None or value.strip().lower() in {"", "none", "off", "false", "no"}


def _build(
    load: Callable[[], bytes],
    *,
    filename: str,
    as2_from: str,
    as2_to: str,
    signer: Identity | None,
    partner_certificate: x509.Certificate | None,
    sign: str | None,
    encrypt: str | None,
    compress: bool,
    mdn: MdnRequest,
    mdn_micalg: str | None,
    mdn_to: str | None,
    receipt_delivery_option: str | None,
    subject: str | None,
    content_type: str | None,
    message_id: str | None,
    domain: str | None,
    extra_headers: Mapping[str, str] | None,
    recorded_message_id: bool = False,
) -> AS2Message:
    # Validate every option before the expensive work starts.
    sender = validate_as2_name(as2_from, what="AS2-From")
    receiver = validate_as2_name(as2_to, what="AS2-To")
    digest = None if _off(sign) else cms.digest_name(sign or "")
    cipher = None if _off(encrypt) else cms.cipher_name(encrypt or "")
    if digest and signer is None:
        raise ConfigError("signing is on but no signing identity was given", hint="set sign = none or an identity")
    if cipher and partner_certificate is None:
        raise ConfigError(
            "encryption is on but the partner's certificate is not known",
            hint="set partner_cert in the [as2] table of the profile, or encrypt = none",
        )
    if mdn not in ("none", "unsigned", "signed"):
        raise ConfigError(f"unknown MDN mode {mdn!r}", hint="use none, unsigned or signed")
    mic_digest = cms.digest_name(mdn_micalg) if mdn_micalg else (digest or "sha256")
    msg_id = _check_message_id(message_id, recorded=recorded_message_id) if message_id else new_message_id(domain)
    if _CONTROL.search(filename):
        # Control characters (line breaks, ESC, DEL) in a name would reach the partner's
        # headers, logs and file system; refused by the file's name, not by a header's.
        raise UsageError(
            f"the file name {filename!r} contains control characters: it cannot be sent as the AS2 file name",
            hint="send it under another name: xfer put FILE PROFILE:/NAME",
        )
    # The type is checked before the payload is read; the header is written as ASCII on one line.
    if content_type and not (
        content_type.isascii()
        and content_type.isprintable()
        and re.fullmatch(r"[A-Za-z0-9!#$&^_.+-]+/[A-Za-z0-9!#$&^_.+-]+(;.*)?", content_type)
    ):
        raise ConfigError(
            f"[as2] content_type = {content_type!r} is not a valid Content-Type",
            hint="write type/subtype, parameters after ';', in ASCII on one line (e.g. application/EDI-X12)",
        )
    payload = load()
    payload_type = content_type or guess_content_type(payload[:512])
    size = len(payload)

    # 1. The payload entity: what the partner stores (its filename travels in Content-Disposition).
    current = _mime.entity(
        [
            ("Content-Type", payload_type),
            ("Content-Transfer-Encoding", "binary"),
            ("Content-Disposition", "attachment; " + _mime.filename_param(filename)),
        ],
        payload,
    )
    del payload  # our reference only; the caller's (if any) stays theirs
    # The body of the *unsigned, unencrypted* message, whose MIC excludes headers (RFC 4130 §7.3.1).
    content_start = current.index(b"\r\n\r\n") + 4

    # 2. Compression (RFC 5402 §3: before signing, so the signature covers what is sent).
    if compress:
        compressed = cms.compress(current)  # the whole entity: the filename travels inside
        del current
        current = _mime.entity(
            [
                ("Content-Type", 'application/pkcs7-mime; smime-type=compressed-data; name="smime.p7z"'),
                ("Content-Transfer-Encoding", "binary"),
                ("Content-Disposition", 'attachment; filename="smime.p7z"'),
            ],
            compressed,
        )
        del compressed
        content_start = current.index(b"\r\n\r\n") + 4

    # 3. Signing: multipart/signed around the entity; the MIC is the digest of that entity.
    if digest:
        assert signer is not None  # checked above; tells mypy
        hasher = cms.new_hash(digest)
        hasher.update(current)
        mic = base64.b64encode(hasher.finalize()).decode("ascii")
        mic_algorithm: str = digest
        current, outer_type = _signed(current, signer, digest)
        content_start = current.index(b"\r\n\r\n") + 4
    else:
        hasher = cms.new_hash(mic_digest)
        # Unsigned: RFC 4130 §7.3.1 — encrypted → the decrypted entity with its headers;
        # neither signed nor encrypted → the content alone (MTAs may rewrite headers).
        hasher.update(memoryview(current) if cipher else memoryview(current)[content_start:])
        mic = base64.b64encode(hasher.finalize()).decode("ascii")
        mic_algorithm = mic_digest
        outer_type = _entity_content_type(current)

    # 4. Encryption of the whole entity, headers included.
    if cipher:
        assert partner_certificate is not None  # checked above
        body = cms.encrypt(current, partner_certificate, cipher=cipher)
        del current
        outer_type = 'application/pkcs7-mime; smime-type=enveloped-data; name="smime.p7m"'
    else:
        # Unencrypted: the outermost entity's headers travel as HTTP headers, its content as the body.
        body = current[content_start:]
        del current

    headers = {
        "AS2-Version": AS2_VERSION_COMPRESSED if compress else AS2_VERSION,
        "AS2-From": sender,
        "AS2-To": receiver,
        "Message-ID": msg_id,
        # The default subject names the file only when that keeps the header ASCII.
        "Subject": subject or ("AS2 message " + (filename if filename.isascii() else "(attachment)")),
        "Date": email.utils.formatdate(usegmt=True),
        "MIME-Version": "1.0",
        "Content-Type": outer_type,
    }
    if cipher is None and not digest and not compress:
        headers["Content-Disposition"] = "attachment; " + _mime.filename_param(filename)
    if mdn != "none":
        headers["Disposition-Notification-To"] = mdn_to or as2_from
        if mdn == "signed":
            headers["Disposition-Notification-Options"] = (
                "signed-receipt-protocol=optional, pkcs7-signature; "
                f"signed-receipt-micalg=optional, {micalg_name(mic_digest)}"
            )
        if receipt_delivery_option:
            headers["Receipt-Delivery-Option"] = receipt_delivery_option
    for name, value in (extra_headers or {}).items():
        if "\r" in value or "\n" in value:
            raise ConfigError(f"header {name} must not contain line breaks")
        headers[name] = value
    # Subject could carry non-ASCII; HTTP headers must be latin-1 and should be ASCII, and a
    # control character (ESC, DEL) would reach the partner's logs and terminals as it is.  TAB
    # is the one control a field value may hold (RFC 5322 unstructured text, RFC 9110 HTAB).
    for name, value in headers.items():
        if not (value.isascii() and value.replace("\t", " ").isprintable()):
            raise ConfigError(f"header {name} must be one line of printable ASCII (TAB allowed): {value!r}")
        if value[:1] in (" ", "\t"):  # HTTP clients refuse it (a folded line, RFC 9112 §5.2) at send time
            raise ConfigError(
                f"header {name} must not start with a space or TAB: {value!r}",
                hint=f"remove the leading whitespace from the {name} value"
                + (" (the profile's [as2] subject)" if name == "Subject" else ""),
            )

    return AS2Message(
        message_id=msg_id,
        headers=headers,
        body=body,
        mic=mic,
        mic_algorithm=mic_algorithm,
        filename=filename,
        payload_size=size,
        content_type=payload_type,
        signed=digest is not None,
        encrypted=cipher is not None,
        compressed=compress,
        mdn=mdn,
    )


def _entity_content_type(data: bytes) -> str:
    headers, _ = _mime.split_entity(data[: data.index(b"\r\n\r\n") + 4])
    return str(headers["Content-Type"])


def _signed(signed_entity: bytes, signer: Identity, digest: str) -> tuple[bytes, str]:
    """Wrap ``signed_entity`` in multipart/signed; return the new entity and its Content-Type."""
    signature = cms.sign(signed_entity, signer.key, signer.certificate, digest=digest, chain=signer.chain)
    encoded = base64.encodebytes(signature).replace(b"\n", b"\r\n")  # 76-column lines, CRLF
    boundary = _mime.new_boundary()
    while ("--" + boundary).encode("ascii") in signed_entity:  # 2^-128, but never sign a broken body
        boundary = _mime.new_boundary()
    delimiter = b"--" + boundary.encode("ascii")
    type_value = (
        f'multipart/signed; protocol="application/pkcs7-signature"; micalg={micalg_name(digest)}; boundary="{boundary}"'
    )
    signature_part = _mime.entity(
        [
            ("Content-Type", 'application/pkcs7-signature; name="smime.p7s"; smime-type=signed-data'),
            ("Content-Transfer-Encoding", "base64"),
            ("Content-Disposition", 'attachment; filename="smime.p7s"'),
        ],
        encoded,
    )
    entity = b"".join(
        [
            _mime.header_block([("Content-Type", type_value)]),
            delimiter, b"\r\n", signed_entity, b"\r\n",
            delimiter, b"\r\n", signature_part, b"\r\n",
            delimiter, b"--\r\n",
        ]
    )
    return entity, type_value
