"""The receiving side of AS2, as a pure function: for test receivers and ``xfer demo``.

:func:`receive` takes the HTTP request headers and body of an incoming AS2 message and
returns the HTTP response (an MDN when one was asked for), the payload and its file name.
It undoes the sender's layers in whatever order they arrive (decrypt, verify, decompress),
computes the MIC as RFC 4130 §7.3.1 says, and turns every failure into the RFC's error
disposition instead of an exception: ``decryption-failed``, ``authentication-failed`` (signed
by someone else), ``integrity-check-failed`` (signature or content damaged),
``decompression-failed``, ``insufficient-message-security`` (unsigned/unencrypted when
required), ``unknown-trading-partner`` and, for a repeated Message-ID, the warning
``duplicate-document``.

It holds the message in memory (several copies while parsing): fine for tests and demos,
not a production receiver for huge files.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Mapping, MutableSet
from dataclasses import dataclass, field
from email.message import Message

from cryptography import x509

from ..errors import ConfigError, IntegrityError
from ..identity import Identity
from . import _mime, cms
from .mdn import build_mdn

__all__ = ["Received", "parse_notification_options", "receive"]

# A real message has at most encrypt → sign → compress → payload; more layers are an attack.
_MAX_LAYERS = 6


@dataclass(frozen=True)
class Received:
    """What :func:`receive` did: the HTTP response to send and what was delivered."""

    status_code: int
    response_headers: dict[str, str]
    response_body: bytes = field(repr=False)
    payload: bytes | None = field(repr=False)  # None unless the message was processed (and not a duplicate)
    filename: str | None
    disposition: str  # e.g. "processed", "processed/error: decryption-failed"
    message_id: str | None
    mic: str | None
    mic_algorithm: str | None
    signed: bool = False
    encrypted: bool = False
    compressed: bool = False
    content_type: str | None = None


class _Failure(Exception):
    """Internal: a processing failure that becomes an error disposition; never escapes receive()."""

    def __init__(self, modifier: str, reason: str) -> None:
        super().__init__(reason)
        self.modifier = modifier
        self.reason = reason


def _header(headers: Mapping[str, str], name: str) -> str | None:
    wanted = name.lower()
    return next((value for key, value in headers.items() if key.lower() == wanted), None)


def _unquote(value: str | None) -> str | None:
    if value is None:
        return None
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1].replace('\\"', '"').replace("\\\\", "\\")
    return value


def parse_notification_options(value: str | None) -> dict[str, list[str]]:
    """``Disposition-Notification-Options`` → ``{"signed-receipt-micalg": ["sha-256", "sha1"], ...}``.

    The importance (``required``/``optional``) is dropped from each list.
    """
    options: dict[str, list[str]] = {}
    for item in (value or "").split(";"):
        name, sep, rest = item.partition("=")
        if not sep:
            continue
        values = [v.strip() for v in rest.split(",") if v.strip()]
        if values and values[0].lower() in ("required", "optional"):
            values = values[1:]
        options[name.strip().lower()] = values
    return options


def _first_supported(names: list[str]) -> str | None:
    for name in names:
        try:
            return cms.digest_name(name)
        except ConfigError:
            continue
    return None


def _safe_filename(headers: Message) -> str | None:
    name = headers.get_filename()
    if not name:
        return None
    # Never let a sender choose a path: keep the last component only.
    name = os.path.basename(name.replace("\\", "/"))
    return name if name not in ("", ".", "..") else None


def receive(
    headers: Mapping[str, str],
    body: bytes,
    *,
    our_identity: Identity,
    partner_cert: x509.Certificate | None,
    our_as2_id: str | None = None,
    partner_as2_id: str | None = None,
    require_signature: bool = False,
    require_encryption: bool = False,
    seen_message_ids: MutableSet[str] | None = None,
) -> Received:
    """Process one incoming AS2 message; never raises for a bad message.

    ``our_identity`` decrypts and signs the MDN; ``partner_cert`` verifies the sender's
    signature.  ``our_as2_id``/``partner_as2_id``, when given, must match AS2-To/AS2-From.
    ``seen_message_ids`` enables duplicate detection (processed Message-IDs are added).
    The response is HTTP 200 with the MDN when one was requested (error dispositions
    included, as RFC 4130 wants), else 200 with an empty body, or 400 when processing failed.
    """
    message_id = _header(headers, "Message-ID")
    sender = _unquote(_header(headers, "AS2-From")) or ""
    recipient = _unquote(_header(headers, "AS2-To")) or ""
    options = parse_notification_options(_header(headers, "Disposition-Notification-Options"))
    wants_mdn = _header(headers, "Disposition-Notification-To") is not None
    wants_signed_mdn = wants_mdn and any(
        v.lower() == "pkcs7-signature" for v in options.get("signed-receipt-protocol", [])
    )
    requested_micalg = _first_supported(options.get("signed-receipt-micalg", []))

    state = _State()
    disposition = "processed"
    payload: bytes | None = None
    filename: str | None = None
    try:
        if our_as2_id is not None and recipient != our_as2_id:
            raise _Failure("unknown-trading-partner", f"AS2-To {recipient!r} is not us ({our_as2_id!r})")
        if partner_as2_id is not None and sender != partner_as2_id:
            raise _Failure("unknown-trading-partner", f"AS2-From {sender!r} is not a known partner")
        if not message_id:
            raise _Failure("unexpected-processing-error", "the message has no Message-ID")
        payload, filename = _unwrap(
            headers,
            body,
            state=state,
            identity=our_identity,
            partner_cert=partner_cert,
            requested_micalg=requested_micalg,
        )
        if require_encryption and not state.encrypted:
            raise _Failure("insufficient-message-security", "the message must be encrypted")
        if require_signature and not state.signed:
            raise _Failure("insufficient-message-security", "the message must be signed")
        if seen_message_ids is not None:
            if message_id in seen_message_ids:
                disposition = "processed/warning: duplicate-document"
                payload = None  # already delivered once; RFC 4130 §9: do not process again
            else:
                seen_message_ids.add(message_id)
    except (_Failure, IntegrityError) as failure:  # IntegrityError: malformed MIME the steps did not name
        modifier = failure.modifier if isinstance(failure, _Failure) else "unexpected-processing-error"
        disposition = f"processed/error: {modifier}"
        payload = filename = None
        state.mic = None

    response_headers: dict[str, str] = {}
    response_body = b""
    if wants_mdn and message_id:
        response_headers, response_body = build_mdn(
            original_message_id=message_id,
            our_as2_id=recipient or (our_as2_id or "unknown"),
            partner_as2_id=sender or "unknown",
            disposition=disposition,
            mic=state.mic,
            mic_algorithm=state.mic_algorithm,
            signer=our_identity if wants_signed_mdn else None,
            signing_digest=requested_micalg or "sha256",
        )
    status = 400 if disposition.startswith("processed/error") and not response_body else 200
    return Received(
        status_code=status,
        response_headers=response_headers,
        response_body=response_body,
        payload=payload,
        filename=filename,
        disposition=disposition,
        message_id=message_id,
        mic=state.mic,
        mic_algorithm=state.mic_algorithm,
        signed=state.signed,
        encrypted=state.encrypted,
        compressed=state.compressed,
        content_type=state.content_type,
    )


@dataclass
class _State:
    signed: bool = False
    encrypted: bool = False
    compressed: bool = False
    mic: str | None = None
    mic_algorithm: str | None = None
    content_type: str | None = None


def _digest_b64(algorithm: str, data: bytes) -> str:
    hasher = cms.new_hash(algorithm)
    hasher.update(data)
    return base64.b64encode(hasher.finalize()).decode("ascii")


def _unwrap(
    http_headers: Mapping[str, str],
    body: bytes,
    *,
    state: _State,
    identity: Identity,
    partner_cert: x509.Certificate | None,
    requested_micalg: str | None,
) -> tuple[bytes, str | None]:
    # The outermost entity's headers are the HTTP headers.
    entity_headers = _mime.parse_headers(
        "".join(f"{k}: {v}\r\n" for k, v in http_headers.items()).encode("latin-1", "replace")
    )
    content = body
    decrypted_entity: bytes | None = None
    for _ in range(_MAX_LAYERS):
        mime_type, params = _mime.content_type(str(entity_headers.get("Content-Type", "text/plain")))
        if mime_type in ("application/pkcs7-mime", "application/x-pkcs7-mime"):
            smime_type = params.get("smime-type", "enveloped-data").lower()
            data = _mime.decoded_body(entity_headers, content)
            if smime_type == "enveloped-data":
                if state.encrypted:
                    raise _Failure("unexpected-processing-error", "the message is encrypted twice")
                try:
                    decrypted_entity = cms.decrypt(data, identity.key, identity.certificate).content
                except (IntegrityError, ConfigError) as exc:
                    raise _Failure("decryption-failed", str(exc)) from exc
                state.encrypted = True
                entity_headers, content = _mime.split_entity(decrypted_entity)
                continue
            if smime_type == "compressed-data":
                try:
                    inner = cms.decompress(data)
                except IntegrityError as exc:
                    raise _Failure("decompression-failed", str(exc)) from exc
                state.compressed = True
                entity_headers, content = _mime.split_entity(inner)
                continue
            raise _Failure("unexpected-processing-error", f"unsupported smime-type {smime_type}")
        if mime_type == "multipart/signed":
            if state.signed:
                raise _Failure("unexpected-processing-error", "the message is signed twice")
            try:
                parts = _mime.split_multipart(content, params.get("boundary", ""))
            except IntegrityError as exc:
                raise _Failure("integrity-check-failed", str(exc)) from exc
            if len(parts) != 2:
                raise _Failure("integrity-check-failed", f"multipart/signed with {len(parts)} parts")
            signed_part, signature_part = parts
            signature_headers, signature_body = _mime.split_entity(signature_part)
            signature = _mime.decoded_body(signature_headers, signature_body)
            if partner_cert is None:
                raise _Failure("authentication-failed", "no certificate is configured for this partner")
            try:
                if not cms.signed_by(signature, partner_cert):
                    raise _Failure("authentication-failed", "signed by a certificate other than the partner's")
                verified = cms.verify(signature, partner_cert, content=signed_part)
            except IntegrityError as exc:
                raise _Failure("integrity-check-failed", str(exc)) from exc
            state.signed = True
            # RFC 4130 §7.3.1: signed → the MIC covers the signed entity, headers included,
            # with the signature's own digest algorithm.
            state.mic_algorithm = verified.digest_algorithm
            state.mic = _digest_b64(verified.digest_algorithm, signed_part)
            entity_headers, content = _mime.split_entity(signed_part)
            continue
        break
    else:
        raise _Failure("unexpected-processing-error", "too many nested MIME layers")

    if not state.signed:
        # Unsigned: encrypted → the decrypted entity with headers; else the content alone.
        state.mic_algorithm = requested_micalg or "sha256"
        state.mic = _digest_b64(state.mic_algorithm, decrypted_entity if decrypted_entity is not None else body)
    state.content_type = str(entity_headers.get("Content-Type", "application/octet-stream"))
    return _mime.decoded_body(entity_headers, content), _safe_filename(entity_headers)
