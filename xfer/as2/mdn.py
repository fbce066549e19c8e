"""AS2 receipts (MDN, RFC 3798 as profiled by RFC 4130 §7.4): parse, check, and build.

Sending side: :func:`parse_mdn` reads the HTTP response of a synchronous MDN (signed
``multipart/signed`` around a ``multipart/report``, or an unsigned ``multipart/report``),
verifying the signature with the partner's certificate; :func:`check_mdn` then compares it
with what we sent and raises :class:`~xfer.errors.IntegrityError` when the receipt cannot be
trusted (bad signature, MIC or Message-ID mismatch, unsigned when signed was required).
A negative disposition is *returned* (``status`` ``error``/``failed``), not raised: whether it
is an integrity problem or a refusal is the adapter's call.

Receiving side: :func:`build_mdn` writes a receipt, signed or not (used by
:mod:`xfer.as2.receiver`).
"""

from __future__ import annotations

import base64
import email.utils
import hmac
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from cryptography import x509

from ..errors import ConfigError, IntegrityError, XferError
from ..identity import Identity
from . import _mime, cms
from .message import AS2_VERSION, micalg_name, new_message_id

__all__ = [
    "MDN",
    "MDNCheck",
    "MDNStatus",
    "build_mdn",
    "check_mdn",
    "parse_disposition",
    "parse_mdn",
    "parse_received_mic",
]

MDNStatus = Literal["processed", "warning", "error", "failed"]


@dataclass(frozen=True)
class MDN:
    """What a partner's receipt says, as parsed (not yet compared with what we sent)."""

    original_message_id: str | None
    disposition: str  # the whole Disposition field, e.g. "automatic-action/MDN-sent-automatically; processed"
    status: MDNStatus
    detail: str | None  # e.g. "authentication-failed" for "processed/error: authentication-failed"
    mic: str | None  # Received-Content-MIC value (base64)
    mic_algorithm: str | None  # normalised: sha1, sha256, sha384, sha512 (None if unknown/absent)
    signed: bool
    signature_verified: bool
    message_id: str | None  # the MDN's own Message-ID
    text: str  # the human-readable part
    fields: dict[str, str] = field(default_factory=dict)  # every report field, names lower case
    raw: bytes = field(default=b"", repr=False)
    signature_digest: str | None = None  # the digest of a verified signature (sha1, sha256, ...)


@dataclass(frozen=True)
class MDNCheck:
    """The verdict on a receipt: ``status`` and whether the MIC matched (None: no MIC returned)."""

    status: MDNStatus
    detail: str | None
    mic_matched: bool | None
    signed: bool
    mdn: MDN


def parse_disposition(value: str) -> tuple[MDNStatus, str | None]:
    """``"...; processed/error: authentication-failed"`` → (``"error"``, ``"authentication-failed"``).

    Case-insensitive; RFC 5322 comments (``processed (no errors)``) and an empty last field
    (``processed;``) are ignored; a disposition xfer does not recognise counts as ``failed``, one
    whose comment never closes is :class:`IntegrityError` (what it says cannot be known).
    """
    bare = _without_comments(value)
    if bare is None:
        # An unclosed "(" hid the rest, "/error: ..." with it (review, session 26, L1).  Unreadable,
        # not a refusal: the partner may well have processed the message (review of the fix, M4).
        raise IntegrityError(f"the receipt's Disposition cannot be read (a comment is never closed): {value.strip()}")
    fields = [part.strip() for part in bare.split(";")]
    fields = [part for part in fields if part]
    action = ";".join(fields[1:]) if len(fields) > 1 else "".join(fields)
    kind, _, modifier = action.partition("/")
    kind = kind.strip().lower()
    if not modifier:
        return ("processed", None) if kind == "processed" else ("failed", kind or None)
    level, _, detail = modifier.partition(":")
    level = level.strip().lower()
    text = detail.strip() or None
    if kind == "processed" and level == "warning":
        return "warning", text
    if kind == "processed" and level == "error":
        return "error", text
    return "failed", text or modifier.strip()


def _without_comments(value: str) -> str | None:
    """``value`` without its RFC 5322 comments: parentheses, nested, with quoted-pairs inside;
    None if a comment is never closed."""
    out: list[str] = []
    depth = 0
    escaped = False
    for char in value:
        if depth and escaped:
            escaped = False
        elif depth and char == "\\":
            escaped = True
        elif char == "(":
            depth += 1
        elif depth and char == ")":
            depth -= 1
        elif not depth:
            out.append(char)
    return None if depth else "".join(out)


def parse_received_mic(value: str) -> tuple[str, str | None]:
    """``"b64==, sha-256"`` → (``"b64=="``, ``"sha256"``); the algorithm is None when unknown."""
    mic, _, algorithm = value.rpartition(",")
    if not mic:  # no comma at all: a bare MIC
        return value.strip(), None
    try:
        return mic.strip(), cms.digest_name(algorithm)
    except ConfigError:  # an unknown algorithm makes the MIC uncheckable; check_mdn reports it
        return mic.strip(), None


def _header(headers: Mapping[str, str], name: str) -> str | None:
    wanted = name.lower()
    for key, value in headers.items():
        if key.lower() == wanted:
            return value
    return None


#: Fields that decide what a receipt says: given twice, a receipt could be read either way.
_DECISIVE = ("disposition", "original-message-id", "received-content-mic")


def _report_fields(content: bytes) -> dict[str, str]:
    """RFC 3798 fields ("Name: value", continuation lines folded back, blank lines between groups).

    A decisive field given twice makes the receipt ambiguous: refused, never read by its first.
    """
    fields: dict[str, str] = {}
    last = None
    for raw_line in content.decode("utf-8", "replace").splitlines():
        if not raw_line.strip():
            last = None
            continue
        if raw_line[:1] in (" ", "\t") and last is not None:
            fields[last] += " " + raw_line.strip()
            continue
        name, sep, value = raw_line.partition(":")
        if sep:
            last = name.strip().lower()
            if last in fields and last in _DECISIVE:
                raise IntegrityError(f"the MDN is ambiguous: it has the field {name.strip()} twice")
            fields.setdefault(last, value.strip())
    return fields


def parse_mdn(headers: Mapping[str, str], body: bytes, *, partner_certificate: x509.Certificate | None) -> MDN:
    """Parse a synchronous MDN from the HTTP response ``headers`` and ``body``.

    A signed MDN is verified with ``partner_certificate`` (when given) over the exact bytes of
    its first part; a failed verification raises :class:`IntegrityError`.  Without a
    certificate a signed MDN parses with ``signature_verified=False``.  Raises
    :class:`IntegrityError` when the response is not an MDN at all, and for anything else in
    it that cannot be read: a receipt is the partner's input, never a reason for an internal error.
    """
    try:
        return _parse_mdn(headers, body, partner_certificate=partner_certificate)
    except XferError:
        raise
    except Exception as exc:  # whatever a malformed receipt makes the MIME or CMS layers raise
        raise IntegrityError(
            f"the MDN cannot be read ({type(exc).__name__}: {exc}): it is not an AS2 MDN xfer can check",
            hint="ask the partner to check their MDN; the raw receipt is kept in the receipt record",
        ) from exc


def _parse_mdn(headers: Mapping[str, str], body: bytes, *, partner_certificate: x509.Certificate | None) -> MDN:
    type_header = _header(headers, "Content-Type")
    if not type_header:
        raise IntegrityError("the response has no Content-Type: it is not an AS2 MDN")
    mime_type, params = _mime.content_type(type_header)
    signed = verified = False
    signature_digest = None
    report_type, report_params, report_body = mime_type, params, body
    if mime_type == "multipart/signed":
        signed = True
        signed_part, signature = _signed_parts(body, params)
        if partner_certificate is not None:
            try:
                checked = cms.verify(signature, partner_certificate, content=signed_part)
            except IntegrityError as first_error:
                # Some products sign the part with bare LF line ends, then send CRLF: try that form.
                try:
                    lf_part = signed_part.replace(b"\r\n", b"\n")
                    checked = cms.verify(signature, partner_certificate, content=lf_part)
                except IntegrityError:
                    # Checked and false (a forgery or damage), or not checkable (cms.SignatureMismatch)
                    failed = cms.SignatureMismatch if isinstance(first_error, cms.SignatureMismatch) else IntegrityError
                    raise failed(
                        f"the MDN signature does not verify: {first_error.message}",
                        hint="the receipt may be forged, or the profile's partner certificate is outdated",
                    ) from first_error
            verified = True
            signature_digest = checked.digest_algorithm
        inner_headers, report_body = _mime.split_entity(signed_part)
        report_type, report_params = _mime.content_type(str(inner_headers.get("Content-Type", "")))
    if report_type != "multipart/report":
        raise IntegrityError(f"the response is {report_type}, not an AS2 MDN (multipart/report)")

    text = ""
    fields: dict[str, str] | None = None
    for part in _mime.split_multipart(report_body, report_params.get("boundary", "")):
        part_headers, part_body = _mime.split_entity(part)
        part_type, _ = _mime.content_type(str(part_headers.get("Content-Type", "text/plain")))
        content = _mime.decoded_body(part_headers, part_body)
        if part_type == "message/disposition-notification":
            if fields is not None:
                raise IntegrityError("the MDN is ambiguous: it has two message/disposition-notification parts")
            fields = _report_fields(content)
        elif part_type.startswith("text/") and not text:
            text = content.decode("utf-8", "replace").strip()
    if fields is None or "disposition" not in fields:
        raise IntegrityError("the MDN has no message/disposition-notification part with a Disposition")

    status, detail = parse_disposition(fields["disposition"])
    outcomes: tuple[tuple[str, MDNStatus], ...] = (("failure", "failed"), ("error", "error"))
    for report_field, outcome in outcomes:
        # RFC 3798 §3.2.7-8: a receipt may say "processed" and carry a Failure or Error field
        # beside it; what failed decides (review, session 26, M3: it was success).
        if report_field in fields and status in ("processed", "warning"):
            status, detail = outcome, f"{report_field}: {fields[report_field].strip()}"
    mic = mic_algorithm = None
    if "received-content-mic" in fields:
        mic, mic_algorithm = parse_received_mic(fields["received-content-mic"])
    original = fields.get("original-message-id")
    return MDN(
        original_message_id=original.strip() if original else None,
        disposition=fields["disposition"],
        status=status,
        detail=detail,
        mic=mic,
        mic_algorithm=mic_algorithm,
        signed=signed,
        signature_verified=verified,
        message_id=_header(headers, "Message-ID"),
        text=text,
        fields=fields,
        raw=body,
        signature_digest=signature_digest,
    )


def _signed_parts(body: bytes, params: Mapping[str, str]) -> tuple[bytes, bytes]:
    """The signed part (exact bytes) and the decoded signature of a multipart/signed body."""
    parts = _mime.split_multipart(body, params.get("boundary", ""))
    if len(parts) != 2:
        raise IntegrityError(f"the signed MDN has {len(parts)} parts, expected 2")
    signed_part, signature_part = parts
    sig_headers, sig_body = _mime.split_entity(signature_part)
    return signed_part, _mime.decoded_body(sig_headers, sig_body)


def _mic_bytes(mic: str) -> bytes:
    """The digest a base64 MIC spells, whitespace and missing padding forgiven."""
    compact = "".join(mic.split())
    try:
        return base64.b64decode(compact + "=" * (-len(compact) % 4), validate=True)
    except ValueError as exc:  # binascii.Error
        raise IntegrityError(f"the MDN's MIC {mic!r} is not base64: it cannot be compared with ours") from exc


def _bare_id(message_id: str) -> str:
    return message_id.strip().removeprefix("<").removesuffix(">").strip()


def check_mdn(
    mdn: MDN,
    expected_message_id: str,
    expected_mic: str | None,
    expected_alg: str | None,
    *,
    require_signature: bool,
    require_mic: bool = False,
) -> MDNCheck:
    """Compare a parsed receipt with the message we sent.

    Raises :class:`IntegrityError` when: the MDN names no Original-Message-ID, or another one;
    a signature was required and the MDN is unsigned or was not verified; a positive MDN's
    ``Received-Content-MIC`` differs in value or algorithm from ours; or
    ``require_mic`` is set and the positive MDN carries no MIC.  Pass ``require_mic=True`` for
    signed messages with a signed receipt: RFC 4130 §7.4.3 makes the MIC required in signed
    receipts and optional in unsigned ones, and receivers such as pyas2 omit it for unsigned
    messages, OpenAS2 for unsigned receipts (then ``mic_matched`` is None).  Otherwise returns the
    status (``processed``, ``warning``, ``error``, ``failed``) for the caller to act on.
    """
    # The Original-Message-ID is what ties a receipt to our message: without one, a receipt
    # (even a validly signed one) could be replayed from any earlier exchange.
    original = _bare_id(mdn.original_message_id or "")
    if not original:
        raise IntegrityError(
            f"the MDN names no Original-Message-ID, so it cannot confirm message {expected_message_id}",
            hint="the partner's receipt is incomplete; ask them to check their MDN settings",
        )
    if original != _bare_id(expected_message_id):
        raise IntegrityError(f"the MDN is for message {mdn.original_message_id}, not for {expected_message_id}")
    if require_signature and not mdn.signed:
        raise IntegrityError(
            "a signed MDN was required but the partner sent an unsigned one",
            hint="the receipt cannot prove delivery; check the partner's MDN settings",
        )
    if require_signature and not mdn.signature_verified:
        raise IntegrityError("the MDN signature was not verified: the partner certificate is missing")
    # SHA-1 signatures can be forged (chosen-prefix collisions, 2020): accepted only from a
    # partner we asked for SHA-1 (MD5 never verifies: cms.verify does not know it).
    wanted = cms.digest_name(expected_alg) if expected_alg else "sha256"
    if require_signature and mdn.signature_digest == "sha1" and wanted != "sha1":
        raise IntegrityError(
            f"the MDN is signed with SHA-1, but {wanted} was asked: a SHA-1 signature does not prove the receipt",
            hint="ask the partner to sign receipts with SHA-256 (signed-receipt-micalg), or set sign = \"sha1\"",
        )

    mic_matched: bool | None = None
    if mdn.status in ("processed", "warning") and expected_mic is not None:
        if mdn.mic is None:
            if require_mic:
                kind = "signed" if mdn.signed else "unsigned"
                raise IntegrityError(
                    f"the {kind} MDN has no Received-Content-MIC: delivery of the exact content is unproven"
                )
        else:
            algorithm = cms.digest_name(expected_alg) if expected_alg else None
            if algorithm is not None and mdn.mic_algorithm != algorithm:
                _, comma, named = mdn.fields.get("received-content-mic", "").rpartition(",")
                got = named.strip() if comma and named.strip() else "not named"
                raise IntegrityError(
                    f"the MDN's MIC algorithm is {got}, but the message's MIC was computed with {algorithm}"
                )
            # The digest counts, not its spelling: base64 may be folded or lack its "=" padding.
            if not hmac.compare_digest(_mic_bytes(mdn.mic), _mic_bytes(expected_mic)):
                raise IntegrityError(
                    f"the MDN's MIC {mdn.mic} differs from ours {expected_mic}: "
                    "the partner received different content than we sent",
                    hint="resend the message; if it persists, compare signing/compression settings",
                )
            mic_matched = True
    return MDNCheck(status=mdn.status, detail=mdn.detail, mic_matched=mic_matched, signed=mdn.signed, mdn=mdn)


def build_mdn(
    *,
    original_message_id: str,
    our_as2_id: str,
    partner_as2_id: str,
    disposition: str = "processed",
    mic: str | None = None,
    mic_algorithm: str | None = None,
    signer: Identity | None = None,
    signing_digest: str = "sha256",
    text: str | None = None,
    domain: str | None = None,
    report_fields: Sequence[tuple[str, str]] = (),
) -> tuple[dict[str, str], bytes]:
    """Write an MDN; return ``(http_headers, body)``.

    ``disposition`` is the part after ``automatic-action/MDN-sent-automatically;`` (e.g.
    ``processed``, ``processed/warning: duplicate-document``,
    ``processed/error: decryption-failed``).  ``report_fields`` go after the MIC: RFC 3798's
    ``Failure``, ``Error`` or ``Warning`` with their text.  With ``signer`` the report is wrapped
    in ``multipart/signed`` with a detached CMS signature using ``signing_digest``.
    """
    report_lines = [
        ("Reporting-UA", "xfer"),
        ("Original-Recipient", f"rfc822; {our_as2_id}"),
        ("Final-Recipient", f"rfc822; {our_as2_id}"),
        ("Original-Message-ID", original_message_id),
        ("Disposition", f"automatic-action/MDN-sent-automatically; {disposition}"),
    ]
    if mic is not None and mic_algorithm is not None:
        report_lines.append(("Received-Content-MIC", f"{mic}, {micalg_name(mic_algorithm)}"))
    report_lines.extend(report_fields)
    if text is None:
        text = (
            f"The AS2 message {original_message_id} has been received and processed."
            if disposition == "processed"
            else f"The AS2 message {original_message_id} was received; disposition: {disposition}."
        )
    boundary = _mime.new_boundary().encode("ascii")
    delimiter = b"--" + boundary
    text_part = _mime.entity(
        [("Content-Type", "text/plain; charset=us-ascii"), ("Content-Transfer-Encoding", "7bit")],
        text.encode("ascii", "replace") + b"\r\n",
    )
    report_part = _mime.entity(
        [("Content-Type", "message/disposition-notification"), ("Content-Transfer-Encoding", "7bit")],
        _mime.header_block(report_lines),
    )
    report_body = b"".join(
        [
            delimiter,
            b"\r\n",
            text_part,
            b"\r\n",
            delimiter,
            b"\r\n",
            report_part,
            b"\r\n",
            delimiter,
            b"--\r\n",
        ]
    )
    report_type = f'multipart/report; report-type=disposition-notification; boundary="{boundary.decode()}"'

    headers = {
        "AS2-Version": AS2_VERSION,
        "AS2-From": _mime.atom_or_quoted(our_as2_id),
        "AS2-To": _mime.atom_or_quoted(partner_as2_id),
        "Message-ID": new_message_id(domain),
        "Subject": "AS2 Message Disposition Notification",
        "Date": email.utils.formatdate(usegmt=True),
        "MIME-Version": "1.0",
    }
    if signer is None:
        headers["Content-Type"] = report_type
        return headers, report_body

    signed_entity = _mime.entity([("Content-Type", report_type)], report_body)
    signature = cms.sign(signed_entity, signer.key, signer.certificate, digest=signing_digest)
    outer = _mime.new_boundary().encode("ascii")
    outer_delimiter = b"--" + outer
    signature_part = _mime.entity(
        [
            ("Content-Type", 'application/pkcs7-signature; name="smime.p7s"; smime-type=signed-data'),
            ("Content-Transfer-Encoding", "base64"),
            ("Content-Disposition", 'attachment; filename="smime.p7s"'),
        ],
        base64.encodebytes(signature).replace(b"\n", b"\r\n"),
    )
    body = b"".join(
        [
            outer_delimiter, b"\r\n", signed_entity, b"\r\n",
            outer_delimiter, b"\r\n", signature_part, b"\r\n",
            outer_delimiter, b"--\r\n",
        ]
    )
    headers["Content-Type"] = (
        f'multipart/signed; protocol="application/pkcs7-signature"; '
        f'micalg={micalg_name(signing_digest)}; boundary="{outer.decode()}"'
    )
    return headers, body
