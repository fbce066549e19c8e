"""AS2 send (RFC 4130): build the message, POST it over the shared mTLS session, check the MDN.

AS2 has one verb, ``put_file``; the "remote path" only names the file for the partner
(``xfer put a.edi partner:/INV-4711.edi`` sends ``INV-4711.edi``), the message always goes to
the profile's URL.  :meth:`AS2Adapter.send` is the full-control form (explicit file name,
Message-ID for a resend).

Outcome of one send, and the receipt record it leaves (:mod:`xfer.as2.receipts`):

* the partner answers 2xx with a receipt that verifies, matches our Message-ID and MIC, and says
  ``processed`` → success (``confirmed``); ``processed/warning`` → success with
  ``details["warning"]``; so is an unsigned receipt without a MIC for a signed message (RFC 4130
  §7.4.3 requires the MIC in signed receipts only): it confirms delivery, not the content
  (``verified`` ``"none"``);
* ``processed/error`` / ``failed`` → :class:`~xfer.errors.IntegrityError` (exit 7) when the
  partner reports damaged or unverifiable content (authentication-failed, decryption-failed,
  integrity-check-failed, decompression-failed), else :class:`~xfer.errors.RemoteError` (exit 6):
  a refusal such as unknown-trading-partner (``rejected``);
* a receipt we cannot trust (bad signature, other or no Original-Message-ID, MIC differs) →
  :class:`~xfer.errors.IntegrityError` (``unverified``); so is ``duplicate-document`` (with or
  without a MIC), unless an earlier attempt of this Message-ID to the same partner was
  confirmed (the partner did not process this copy, so only that earlier receipt proves
  delivery);
* a resend (``message_id`` of a recorded message) with other content than the record's is
  refused before anything is sent (:class:`~xfer.errors.UsageError`): a recorded confirmation
  is never overwritten by content the partner would drop as a duplicate;
* transport failure before the whole message was sent, an HTTP 4xx (the request was
  refused) or a 301/302/307/308 (a redirect is never followed: requests would resend the POST
  as a GET without the message) → the translated error of the shared session, its message extended with "not
  delivered; safe to resend with the same Message-ID" (``not-delivered``);
* the whole message was sent, then the answer did not come within the timeout (or the
  connection broke or closed without an answer, which TLS 1.3 cannot tell from a silent refusal
  of our certificate, or it was an HTTP 5xx, or a 303 See Other, which says the request was
  carried out) → the same error, extended with "sent, receipt not
  received: delivery unknown" (``delivery-unknown``): the partner may have processed it.  A
  resend (``put_file``'s retries too) keeps the Message-ID, so a partner that detects duplicates
  drops the copy; a later attempt that is not delivered leaves the record ``delivery-unknown``;
* no MDN asked → success, "sent, not confirmed" (``sent``); unless the partner answered
  anyway with a negative MDN for this message: then as above (``rejected``).

The receipt is written before the POST (``sending``) and updated with the outcome, so even a
crash leaves a record.  On failure :attr:`AS2Adapter.last_receipt` holds it.

Memory: the message is built in memory (CMS needs the whole payload); see
:data:`xfer.as2.message.MAX_AS2_PAYLOAD` (512 MiB, peak about 3x the payload).
"""

from __future__ import annotations

import base64
import dataclasses
import os
import posixpath
import time
from collections.abc import Iterator, Mapping
from typing import Any, ClassVar, NoReturn
from urllib.parse import urljoin, urlsplit

import requests

from ..as2 import message as as2_message
from ..as2.cms import SignatureMismatch
from ..as2.mdn import MDN, check_mdn, parse_mdn
from ..as2.message import AS2Message, MdnRequest, build_message
from ..as2.receipts import Receipt, ReceiptStatus, ReceiptStore
from ..errors import (
    ClientCertificateRejected,
    ClientCertificateRequired,
    ConfigError,
    ConnectError,
    ConnectionDropped,
    ConnectTimeout,
    IntegrityError,
    LocalError,
    RemoteError,
    XferError,
)
from ..http_session import XferSession, create_session, drain_error_body
from ..identity import certificate_weakness, load_certificate
from ..protocols.as2 import AS2Options
from ..retry import current_attempt
from ..tls.translate import alert_received, closed_after_handshake
from ..transfer import sha256_file
from ..types import Verified
from .base import Adapter, Capability, ConnectionSettings, ProgressCallback, TransferResult

__all__ = ["INTEGRITY_DISPOSITIONS", "AS2Adapter", "load_certificate"]

#: Negative disposition modifiers that mean "what arrived was damaged or could not be verified"
#: (exit 7); every other negative disposition is a refusal by the partner (exit 6).
INTEGRITY_DISPOSITIONS = frozenset(
    {"authentication-failed", "decryption-failed", "integrity-check-failed", "decompression-failed"}
)

_HINTS: Mapping[str, str] = {
    "authentication-failed": "the partner could not verify our signature: send them the certificate "
    "of the signing identity (xfer identity show FILE.p12), or check that they have the current one",
    "decryption-failed": "the partner could not decrypt the message: check that [as2] partner_cert is "
    "their current encryption certificate",
    "integrity-check-failed": "the content was damaged on the way or the signature does not match it; "
    "resend, and compare the partner's signing settings",
    "decompression-failed": "the partner could not decompress: try compress = false",
    "unknown-trading-partner": "check [as2] as2_from and as2_to against the partner's configuration",
    "insufficient-message-security": "the partner requires stronger protection: set [as2] sign and/or "
    'encrypt (e.g. sign = "sha256", encrypt = "aes256-cbc")',
}

_MDN_MODES: Mapping[str, MdnRequest] = {"none": "none", "unsigned-sync": "unsigned", "signed-sync": "signed"}
#: A synchronous MDN is a few KiB; anything far larger is not one and is not read into memory.
_MAX_MDN = 4 * 1024 * 1024
#: Reading a receipt's body may take this many timeouts in all.  The timeout bounds each read,
#: so a partner trickling a byte just inside it could hold a job for hours; a few KiB need one
#: or two reads, and four timeouts (2 minutes by default) leave room for a slow link.
_RECEIPT_TIMEOUTS = 4
_DEFAULT_SUBJECT = "AS2 message"  # the option's default; then the builder names the file instead


class AS2Adapter(Adapter):
    """Send files to an AS2 partner; receipts checked and recorded.  ``put_file`` only."""

    capabilities: ClassVar[frozenset[Capability]] = frozenset({Capability.PUT})
    #: Messages name the connection by this: "as2://" is no URL scheme a user could type.
    label: ClassVar[str | None] = "an AS2 profile"

    def __init__(self, settings: ConnectionSettings, *, store: ReceiptStore | None = None) -> None:
        super().__init__(settings)
        # Parsed once into AS2Options (xfer.protocols.as2): from the profile, or from a plain
        # mapping a library caller gave ConnectionSettings.  An unknown mdn mode (say the
        # builder's "signed") would turn off the receipt's signature check: refused here too,
        # for AS2Options built by hand.
        self.options = options = settings.options_as(AS2Options)
        if options.mdn not in _MDN_MODES:
            raise ConfigError(f"[as2] mdn = {options.mdn!r} is not supported",
                              hint="use none, unsigned-sync or signed-sync")
        self.mdn_mode = options.mdn
        self.partner_certificate = options.partner_certificate
        #: Verifies the partner's signed receipts (partners may sign with another key than they decrypt with).
        self.mdn_certificate = options.partner_mdn_certificate or options.partner_certificate
        self.store = store or ReceiptStore()
        self.url = options.url
        # The timeout the user chose is the timeout, also for the receipt: the partner decrypts
        # and verifies before a synchronous MDN, so large messages may need a larger --timeout,
        # and a timeout after sending says "delivery unknown", never "not delivered".
        self.session: XferSession = create_session(settings.ssl_context, server=settings.server,
                                                   timeout=settings.timeout, proxy=settings.proxy)
        #: The receipt of the last send (also when it failed).
        self.last_receipt: Receipt | None = None
        #: The TLS version of the connection the last message went on (its result's ``tls_version``).
        self._tls_version: str | None = None
        #: The record of this send's Message-ID when a receipt had confirmed it (:meth:`_save`).
        self._confirmed_before: Receipt | None = None

    def __enter__(self) -> AS2Adapter:
        return self

    def _close(self) -> None:
        self.session.close()

    def _unsupported_hint(self, capability: Capability) -> str | None:
        return "AS2 only sends (put); the partner's system decides where files go"

    # -- the verb ------------------------------------------------------------------

    def _put_file(
        self, local: str, remote: str, callback: ProgressCallback | None, *, preserve_times: bool = False,
    ) -> TransferResult:
        user = self.user_path(remote)
        # The profile URL *is* the endpoint; a path under it only names the file for the partner.
        name = posixpath.basename(user)
        if not name:  # "partner:" or "partner:/": the local file's name
            user = posixpath.join(user, os.path.basename(local))
        # A retry is a resend of the same message (RFC 4130's reliability model): the same
        # Message-ID, so a partner that did receive the first copy can recognise the duplicate.
        # Also after "delivery unknown" (the partner may have processed the copy): that is the
        # AS2 rule, and the documented policy (README, AS2): a partner that does not detect
        # duplicates needs retries = 0.  Once an attempt may have arrived, the record stays
        # delivery-unknown whatever later attempts meet (_not_delivered).  Only failures without
        # a receipt are retried (a receipt that arrived is never "transient").
        attempt = current_attempt()
        resend = attempt.state.get("as2:message_id") if attempt is not None else None
        try:
            return self.send(local, filename=name or None, callback=callback, remote=user, message_id=resend)
        except Exception:
            receipt = self.last_receipt
            if attempt is not None and receipt is not None and receipt.status in ("delivery-unknown", "not-delivered"):
                attempt.state["as2:message_id"] = receipt.message_id
            raise

    def _idempotent_put(self) -> bool:
        return False  # a POST: an HTTP 500 may mean the partner processed it

    def send(
        self,
        local: str | os.PathLike[str],
        *,
        filename: str | None = None,
        message_id: str | None = None,
        callback: ProgressCallback | None = None,
        remote: str | None = None,
        unless_delivered: bool = False,
    ) -> TransferResult:
        """Send one file as one AS2 message; return the result (``details`` carries the receipt).

        ``message_id`` reuses an id: that is how a message that was not delivered is resent
        (the partner recognises a duplicate if the first attempt did arrive).
        ``unless_delivered``: refuse (:class:`UsageError`, nothing sent) if the record says the
        message was delivered, as read under its lock (``xfer as2 resend`` without ``--force``).
        """
        self._require(Capability.PUT)
        self.last_receipt = None  # a refusal below must not leave an earlier send's receipt
        self._confirmed_before = None
        made = message_id is None
        if message_id is None:
            # A new id, made here so that its record is locked from its first save on: the
            # record says "sending" at once, and a resend of it (xfer as2 resend) must be
            # refused while this send runs, not send a second copy beside it.
            message_id = as2_message.new_message_id()
        with self.store.locked(message_id):  # load, send and save: one process at a time
            if unless_delivered:
                self._refuse_delivered(message_id)
            return self._send(local, filename, message_id, callback, remote, made=made)

    def _refuse_delivered(self, message_id: str) -> None:
        previous = self._previous(message_id)
        if previous is not None:
            previous.require_undelivered()

    def _send(
        self,
        local: str | os.PathLike[str],
        filename: str | None,
        message_id: str | None,
        callback: ProgressCallback | None,
        remote: str | None,
        *,
        made: bool,
    ) -> TransferResult:
        """``made``: ``message_id`` is one :meth:`send` made (checked as ours, as a recorded one is)."""
        path = os.path.abspath(os.fspath(local))
        try:
            sha256 = sha256_file(path)
        except OSError as exc:
            raise LocalError(f"cannot read {path}: {exc.strerror or exc}") from exc
        previous = self._previous(message_id)
        if previous is not None:  # before anything is built or sent
            previous.require_content(sha256, path)
            if previous.status == "confirmed" and previous.as2_to == self.options.as2_to:
                # A resend (--force, send --resend) to the partner that confirmed it never loses
                # that; one to another partner is that partner's first delivery.
                self._confirmed_before = previous
        options = self.options
        subject = options.subject
        message = build_message(
            path,
            as2_from=options.as2_from,
            as2_to=options.as2_to,
            signer=options.signing_identity or self.settings.identity,
            partner_certificate=self.partner_certificate,
            sign=options.sign,
            encrypt=options.encrypt,
            compress=options.compress,
            mdn=_MDN_MODES[self.mdn_mode],
            subject=None if subject in (None, _DEFAULT_SUBJECT) else subject,
            content_type=options.content_type or None,
            filename=filename,
            # A recorded id is repeated exactly as it was sent (older versions made forms the
            # RFC 5322 check now refuses for a typed id: <...@host.>).
            message_id=previous.message_id if previous is not None else message_id,
            recorded_message_id=previous is not None or made,
        )
        url = self.url or self.session.url_for(self.settings.root or "/")
        receipt = self._receipt_for(message, path, url, sha256, previous)
        self.last_receipt = receipt
        receipt.move("sending", "resend" if receipt.attempts > 1 else None)
        self._save(receipt)
        try:
            return self._exchange(message, receipt, local, remote, callback)
        except XferError as exc:
            if self._confirmed_before is None:
                raise
            raise self._already_confirmed(exc, receipt, self._confirmed_before) from exc

    def _exchange(
        self, message: AS2Message, receipt: Receipt, local: str | os.PathLike[str], remote: str | None,
        callback: ProgressCallback | None,
    ) -> TransferResult:
        """Post the message, check the answer, record the outcome."""
        url = receipt.url
        started = time.monotonic()
        if callback is not None:
            callback(0, message.payload_size)
        response_headers, body, status = self._post(message, url, receipt)
        if callback is not None:
            callback(message.payload_size, message.payload_size)
        elapsed = time.monotonic() - started
        receipt.http_status = status

        if message.mdn == "none":
            refusal = self._unasked_refusal(message, response_headers, body)
            if refusal is not None:  # the partner says no though we did not ask: it is still a no
                _keep_answer(receipt, response_headers, body)
                self._record_mdn(receipt, refusal)
                self._rejected(message, receipt, refusal)
            receipt.move("sent", "no MDN requested")
            self._save(receipt)
            return self._result(receipt, os.fspath(local), remote, elapsed,
                                note="sent, not confirmed (no MDN requested)")
        self._check_receipt(message, receipt, response_headers, body)
        note = receipt.disposition.split(";", 1)[-1].strip() if receipt.disposition else "processed"
        return self._result(receipt, os.fspath(local), remote, elapsed, note=f"MDN {note}")

    # -- steps ---------------------------------------------------------------------

    def _save(self, receipt: Receipt) -> None:
        """Store ``receipt``; an earlier confirmation wins over anything this attempt comes to.

        A resend of a confirmed message that fails (or ends no better) must not erase the
        proof: the stored record stays the confirmed one with its MDN, this attempt's steps
        appended to its history (and it is :attr:`last_receipt`).
        """
        earlier = self._confirmed_before
        if earlier is None or receipt.status == "confirmed":
            self.last_receipt = receipt
            self.store.save(receipt)
            return
        kept = dataclasses.replace(earlier, history=list(receipt.history), attempts=receipt.attempts,
                                   updated=receipt.updated)
        self.last_receipt = kept
        self.store.save(kept)

    def _already_confirmed(self, exc: XferError, receipt: Receipt, earlier: Receipt) -> XferError:
        """This resend failed; a receipt had confirmed the message before (the record keeps it)."""
        cause = receipt.error or exc.message
        return exc.copy_with(
            f"{cause}; this resend of AS2 message {receipt.message_id} failed, but the message was already "
            f"confirmed by the partner ({earlier.confirmed or earlier.updated}): the record keeps that confirmation",
            hint=f"nothing needs resending; the confirmation: xfer as2 receipt '{receipt.message_id}'",
        )

    def _previous(self, message_id: str | None) -> Receipt | None:
        """The record of an earlier attempt under ``message_id`` (None: a new message or none kept)."""
        if message_id is None:
            return None
        try:
            return self.store.load(message_id)
        except XferError:
            return None

    def _receipt_for(
        self, message: AS2Message, path: str, url: str, sha256: str, previous: Receipt | None
    ) -> Receipt:
        options = self.options
        receipt = Receipt(
            message_id=message.message_id,
            status="sending",
            file=path,
            filename=message.filename,
            size=message.payload_size,
            url=url,
            as2_from=options.as2_from,
            as2_to=options.as2_to,
            profile=self.settings.profile_name,
            sha256=sha256,
            content_type=message.content_type,
            sign=options.sign if message.signed else None,
            encrypt=options.encrypt if message.encrypted else None,
            compress=message.compressed,
            mdn_mode=self.mdn_mode,
            mic=message.mic,
            mic_algorithm=message.mic_algorithm,
        )
        if previous is not None:  # a resend continues the same record
            receipt.created = previous.created
            receipt.history = list(previous.history)
            receipt.attempts = previous.attempts
            # An earlier confirmation proves the partner holds *this* content under this id (send
            # refused other content above); it carries over, also through failed attempts, to
            # the same partner only.  It is the only proof a duplicate-document receipt can have.
            if previous.as2_to == receipt.as2_to and previous.confirmed is not None:
                receipt.confirmed = previous.confirmed
        receipt.attempts += 1
        return receipt

    def _post(self, message: AS2Message, url: str, receipt: Receipt) -> tuple[dict[str, str], bytes, int]:
        session = self.session
        body = _TrackedBody(message.body)
        status: int | None = None
        try:
            with session.translating():
                # Never follow a redirect: requests would turn the POST into a GET without the
                # message (302/303) and the next hop's answer would pass for the partner's.
                response = session.post(url, data=body, headers=message.headers, stream=True,
                                        allow_redirects=False)
                with response:
                    status = response.status_code
                    self._tls_version = session.tls_version(response)
                    if 300 <= status < 400:
                        raise self._redirected(response, url)
                    session.check(response, path=_urlpath(url))
                    limit = _RECEIPT_TIMEOUTS * self.settings.timeout
                    answer = _read_limited(response, self.settings.server, limit)
                    return dict(response.headers), answer, response.status_code
        except IntegrityError as exc:  # delivered, but the answer is not a receipt we can read
            self._unverified(receipt, exc)
        except ConnectError as exc:
            if exc.status == 303:  # the partner says it carried the request out (_redirected)
                # A definite answer, not a network failure: sending again would only make the
                # partner process another copy (one without duplicate detection would take it).
                attempt = current_attempt()
                if attempt is not None:
                    attempt.stop_retrying()
                raise self._delivery_unknown(exc, receipt, also=exc.hint) from exc
            if not body.sent:
                raise self._not_delivered(exc, receipt) from exc
            # the partner has the whole message and may have processed it
            raise self._delivery_unknown(exc, receipt) from exc
        except XferError as exc:
            if body.sent and status is None and closed_after_handshake(exc):
                # A partner that reads the whole message, processes it and closes without an
                # answer looks, to the TLS layer, like one that silently refused our certificate
                # (TLS 1.3 tells the client only after it sent): which one is unknowable here.
                # The TLS diagnosis goes into the hint whole: its advice may point at what its
                # message lists ("one of the algorithms above"), which ours does not repeat.
                tls = f"the TLS handshake may be why: {exc.message}" + (f"; {exc.hint}" if exc.hint else "")
                raise self._delivery_unknown(self._unanswered(), receipt, also=tls) from exc
            # A 5xx after the whole message went out may come from a partner that stored or even
            # processed it before failing (say while writing the MDN); a 4xx says the request
            # was refused (RFC 9110 §15.5), and a failure before the end was never processed.
            if body.sent and status is not None and status >= 500:
                raise self._delivery_unknown(exc, receipt) from exc
            # A TLS alert from the partner (over our certificate: TLS 1.3 sends it after we sent;
            # or any other) says its TLS layer refused: no request reached the AS2 server.
            refused_us = isinstance(exc, ClientCertificateRequired | ClientCertificateRejected) or (
                status is None and alert_received(exc) is not None)
            if body.sent and not refused_us and (status is None or status < 300):
                # Whatever else broke after the whole message went out (a TLS record that fails
                # its MAC, bytes that are not TLS, a 2xx whose answer breaks off) came after the
                # partner had all of it.  Only a refusal says it was not taken: a 4xx, a
                # redirect, a TLS alert.
                broken = ConnectionDropped(
                    f"{self.settings.server}: the connection failed after the whole message was sent: {exc.message}",
                    server=self.settings.server,
                )
                raise self._delivery_unknown(broken, receipt) from exc
            raise self._not_delivered(exc, receipt) from exc

    def _redirected(self, response: requests.Response, url: str) -> XferError:
        """A 3xx to our POST.  301/302/307/308 say "ask there instead": nothing was processed.
        303 See Other says the request was carried out and the result is elsewhere (RFC 9110
        §15.4.4): the partner may have processed the message, so it is no "not delivered"
        (:class:`ConnectionDropped`, delivery unknown once the whole message went out), and
        its Location is a result page, never offered as the endpoint."""
        drain_error_body(response)  # the connection stays reusable
        location = _header(response.headers, "Location")
        where = f" to {location}" if location else " (no Location)"
        if response.status_code == 303:
            return ConnectionDropped(
                f"{self.settings.server} answered the AS2 POST to {_urlpath(url)} with HTTP 303 "
                f"{response.reason or 'See Other'}{where} instead of a receipt: a 303 says the request was "
                "carried out, so the partner may have processed the message",
                hint="ask the partner to answer AS2 POSTs with an MDN, not a redirect",
                server=self.settings.server,
                status=303,
            )
        return RemoteError(
            f"{self.settings.server} answered the AS2 POST to {_urlpath(url)} with HTTP {response.status_code} "
            f"{response.reason or 'redirect'}{where}: the server answered with a redirect, nothing was processed",
            hint="set the profile's url to the partner's exact AS2 endpoint"
            + (f" (perhaps {urljoin(url, location)})" if location else ""),
        )

    def _unanswered(self) -> ConnectionDropped:
        """The connection closed without an HTTP answer after the whole message went out."""
        return ConnectionDropped(
            f"{self.settings.server} closed the connection without answering after the whole message was "
            "sent: the partner may have processed it, or it refused our client certificate",
            server=self.settings.server,
        )

    def _delivery_unknown(self, exc: XferError, receipt: Receipt, *, also: str | None = None) -> XferError:
        """Record a send whose answer never came; the error to raise says a resend is safe, not required.

        ``also``: advice for the case that the failure was not the network's (appended to the hint).
        """
        receipt.error = exc.message
        receipt.move("delivery-unknown", exc.message)
        self._save(receipt)
        slow = "; a partner that needs longer to answer needs a larger timeout"
        slow = slow if isinstance(exc, ConnectTimeout) else ""
        return exc.copy_with(
            f"{exc.message}; AS2 message {receipt.message_id} was sent, receipt not received: delivery unknown",
            hint=f"ask the partner whether it has {receipt.message_id}; a resend must keep the Message-ID, so that "
            f"a partner that detects duplicates drops the second copy: xfer as2 resend '{receipt.message_id}'{slow}"
            + (f"; if it persists, {also}" if also else ""),
        )

    def _not_delivered(self, exc: XferError, receipt: Receipt) -> XferError:
        """Record the failure; the error to raise says the user's next step is a resend.

        Only while no attempt of this Message-ID may have reached the partner: once one did
        (the record says so), this attempt's failure proves nothing about that one, and the
        message stays delivery unknown (:meth:`_earlier_attempt_may_have_arrived`).
        """
        earlier = _reached_partner(receipt)
        if earlier is not None:
            return self._earlier_attempt_may_have_arrived(exc, receipt, earlier)
        receipt.error = exc.message
        receipt.move("not-delivered", exc.message)
        self._save(receipt)
        resend = f"xfer as2 resend '{receipt.message_id}'"
        return exc.copy_with(
            f"{exc.message}; the AS2 message was not delivered; "
            f"safe to resend with the same Message-ID {receipt.message_id}",
            hint=f"{exc.hint}; then: {resend}" if exc.hint else f"fix the cause, then: {resend}",
        )

    def _earlier_attempt_may_have_arrived(self, exc: XferError, receipt: Receipt, earlier: str) -> XferError:
        """This attempt did not reach the partner, an earlier one of the same message may have."""
        receipt.error = exc.message
        receipt.move("delivery-unknown", f"{exc.message} (not delivered; an earlier attempt {earlier})")
        self._save(receipt)
        resend = f"xfer as2 resend '{receipt.message_id}'"
        return exc.copy_with(
            f"{exc.message}; this attempt of AS2 message {receipt.message_id} did not reach the partner, but an "
            f"earlier one may have (it {earlier}): the partner may have it, delivery unknown",
            hint=(f"{exc.hint}; " if exc.hint else "") + f"ask the partner whether it has {receipt.message_id}; "
            f"a resend must keep the same Message-ID: {resend}",
        )

    def _check_receipt(self, message: AS2Message, receipt: Receipt, headers: Mapping[str, str], body: bytes) -> None:
        _keep_answer(receipt, headers, body)
        if not body:
            self._unverified(
                receipt,
                IntegrityError(
                    f"{self.settings.server} accepted message {message.message_id} (HTTP {receipt.http_status}) "
                    "but returned no MDN although one was requested: delivery is not confirmed",
                    hint=f"ask the partner to check; a resend with the same Message-ID is safe: "
                    f"xfer as2 resend '{message.message_id}'",
                ),
            )
        try:
            mdn = self._parse_receipt(headers, body)
        except IntegrityError as exc:
            self._unverified(receipt, exc)
        negative = mdn.status in ("error", "failed")
        signer = self.mdn_certificate if mdn.signature_verified else None
        weakness = certificate_weakness(signer) if signer is not None else None
        if weakness is not None:
            # A signature by an expired or 1024-bit certificate proves nothing (review, session
            # 26, M1): recorded as unsigned, and where a signed receipt was asked, refused.
            mdn = dataclasses.replace(mdn, signature_verified=False)
            if self.mdn_mode == "signed-sync" and not negative:
                self._record_mdn(receipt, mdn)
                self._unverified(receipt, IntegrityError(
                    f"the partner's receipt for {message.message_id} is signed with a certificate that {weakness}: "
                    "its signature proves nothing; the message was sent",
                    hint="ask the partner for its current certificate (partner_mdn_cert, or partner_cert), and "
                    f"whether it processed {message.message_id}",
                ))
        self._record_mdn(receipt, mdn)
        duplicate = _is_duplicate(mdn)
        try:
            # A negative receipt is reported as such even when unsigned: it can only make a
            # send fail, never fake a success; a positive one must meet every requirement.
            verdict = check_mdn(
                mdn,
                message.message_id,
                message.mic,
                message.mic_algorithm,
                require_signature=self.mdn_mode == "signed-sync" and not negative,
                # A duplicate is not processed again, so receivers (pyas2) return no MIC for it;
                # an earlier confirmed attempt must be the proof of content (checked below).
                # RFC 4130 §7.4.3 makes the MIC required for signed receipts only, and OpenAS2
                # computes one only when signed-receipt-micalg was asked, which asks for a signed
                # receipt: an unsigned one without a MIC confirms delivery, not content (below).
                require_mic=message.signed and not duplicate and self.mdn_mode == "signed-sync",
            )
        except IntegrityError as exc:
            self._unverified(receipt, exc)
        # A MIC in a duplicate receipt only shows the partner hashed this copy before dropping
        # it; what it holds under this id is what an earlier receipt confirmed, or unknown.
        if duplicate and receipt.confirmed is None:
            self._unverified(receipt, self._unproven_duplicate(message))
        receipt.mic_matched = verdict.mic_matched
        if negative:
            self._rejected(message, receipt, mdn)
        warnings = []
        if mdn.status == "warning":
            warnings.append(mdn.disposition.split(";", 1)[-1].strip())
            if duplicate:
                warnings[-1] += ": the partner already had this Message-ID and did not process this copy again"
        if verdict.mic_matched is None and not duplicate:
            # RFC 4130 §7.4.3 wants a MIC in every signed receipt; pyas2lib computes one for
            # signed messages only.  Delivery is confirmed, the content is not (review, H2).
            warnings.append(
                "the partner's signed receipt has no Received-Content-MIC: it confirms delivery, but does not "
                "prove the content (sign the message: partners compute the MIC of signed messages)"
                if mdn.signed and mdn.signature_verified else
                "the partner's unsigned receipt has no Received-Content-MIC: it confirms delivery, "
                "but does not prove the content (ask for mdn = \"signed-sync\" for that proof)")
        receipt.warning = "; ".join(warnings) or None
        receipt.move("confirmed", receipt.disposition)
        self._save(receipt)

    def _parse_receipt(self, headers: Mapping[str, str], body: bytes) -> MDN:
        """The MDN, its signature verified with the partner's MDN-signing certificate.

        Without a signed receipt asked, and without ``partner_mdn_cert`` (which says which
        certificate signs the partner's receipts), a signature by a certificate we do not know
        for the partner is no forgery alarm: partners with separate signing and encryption
        certificates sign anyway, with the one we were not given.  Such a receipt counts as
        unsigned (its MIC is still checked), and so does one whose signature cannot be checked
        (unreadable, or a digest such as MD5 xfer does not verify).  A signature by a
        certificate we know that is checked and does not match is a forgery or damage, and fails.
        """
        try:
            return parse_mdn(headers, body, partner_certificate=self.mdn_certificate)
        except SignatureMismatch:
            raise
        except IntegrityError:
            if self.mdn_mode == "signed-sync" or self.options.partner_mdn_certificate is not None:
                raise
        return parse_mdn(headers, body, partner_certificate=None)  # signed, not verified: recorded unsigned

    def _unasked_refusal(self, message: AS2Message, headers: Mapping[str, str], body: bytes) -> MDN | None:
        """A negative MDN for this message in the answer to a message that asked for none, else None.

        Some partners answer with a receipt whatever was asked.  Only a refusal counts: it can
        make a send fail, never pass, so its signature is not needed (nor checked); anything
        that is no readable receipt for this message is ignored, as the answer always was.
        """
        mime_type = _mime_type(_header(headers, "Content-Type"))
        if not body or mime_type not in ("multipart/report", "multipart/signed"):
            return None
        try:
            mdn = parse_mdn(headers, body, partner_certificate=None)
            check_mdn(mdn, message.message_id, None, None, require_signature=False)
        except IntegrityError:
            return None
        return mdn if mdn.status in ("error", "failed") else None

    def _unproven_duplicate(self, message: AS2Message) -> IntegrityError:
        """A duplicate-document receipt, and no earlier attempt of this content was ever confirmed."""
        return IntegrityError(
            f"{self.settings.server} calls message {message.message_id} a duplicate of one it already has, but "
            "no receipt ever confirmed that message with this content to us: the partner did not process this "
            "copy, so its delivery is unproven",
            hint=f"ask the partner what they received as {message.message_id}; if they have not processed "
            "it, send the file as a new message: xfer as2 send FILE PROFILE",
        )

    def _record_mdn(self, receipt: Receipt, mdn: MDN) -> None:
        receipt.disposition = mdn.disposition
        receipt.mdn_status = mdn.status
        receipt.detail = mdn.detail
        receipt.mdn_signed = mdn.signed and mdn.signature_verified  # never for a signature that did not verify
        receipt.mdn_message_id = mdn.message_id
        receipt.mdn_text = mdn.text or None

    def _unverified(self, receipt: Receipt, exc: IntegrityError) -> NoReturn:
        receipt.error = exc.message
        receipt.move("unverified", exc.message)
        self._save(receipt)
        # Every receipt we cannot trust says what to do next (the parsers' errors name no step).
        hint = exc.hint or (
            f"the message was sent, its receipt proves nothing: ask the partner whether it processed "
            f"{receipt.message_id} (the answer is kept: xfer as2 receipt '{receipt.message_id}')"
        )
        message = exc.message if receipt.message_id in exc.message else f"message {receipt.message_id}: {exc.message}"
        if message == exc.message and hint == exc.hint:
            raise exc
        raise exc.copy_with(message, hint=hint) from exc

    def _rejected(self, message: AS2Message, receipt: Receipt, mdn: MDN) -> NoReturn:
        detail = (mdn.detail or "").strip()
        modifier = detail.lower().split(":")[0].strip()
        said = mdn.disposition.split(";", 1)[-1].strip()
        if detail and detail.lower() not in said.lower():  # a Failure or Error field beside "processed"
            said += f" ({detail})"
        unsigned = " (unsigned receipt)" if self.mdn_mode == "signed-sync" and not mdn.signed else ""
        text = f"{self.settings.server} rejected AS2 message {message.message_id}: {said}{unsigned}"
        error_class: type[XferError] = IntegrityError if modifier in INTEGRITY_DISPOSITIONS else RemoteError
        error = error_class(text, hint=_HINTS.get(modifier))
        receipt.error = text
        status: ReceiptStatus = "rejected"
        receipt.move(status, said)
        self._save(receipt)
        raise error

    def _result(self, receipt: Receipt, path: str, remote: str | None, elapsed: float, *, note: str) -> TransferResult:
        details: dict[str, Any] = {
            "message_id": receipt.message_id,
            "status": receipt.status,
            "mic": receipt.mic,
            "mic_algorithm": receipt.mic_algorithm,
            "mic_matched": receipt.mic_matched,
            "disposition": receipt.disposition,
            "warning": receipt.warning,
            "receipt": str(self.store.path_for(receipt.message_id)),
            "note": f"{receipt.message_id}  {note}",
        }
        verified = _verified(receipt)
        if verified == "none" and self.settings.checksum:
            raise IntegrityError(
                f"{self.settings.server}: the partner's receipt for {receipt.message_id} does not prove the "
                "content (no signed MDN with a matching SHA-2 MIC); the checksum option requires that proof; "
                "the message was sent",
                hint="ask for a signed MDN (mdn = \"signed-sync\" in the profile), or drop --checksum",
            )
        return TransferResult(
            direction="put",
            local=path,
            remote=remote or "/" + receipt.filename,
            size=receipt.size,
            elapsed=elapsed,
            sha256=receipt.sha256,
            details=details,
            tls_version=self._tls_version,
            verified=verified,
        )


def _verified(receipt: Receipt) -> Verified:
    """The MDN's ``Received-Content-MIC`` matched ours: the partner hashed the very content sent.

    AS2 MICs are SHA-2 (sha256 by default; sha384/sha512 are as strong) or legacy SHA-1; only a
    matched SHA-2 MIC in a receipt whose signature verified counts as ``"sha256"``: anyone on the
    way can write an unsigned receipt with the right MIC (of a message sent unsigned, the MIC is
    the content's plain hash).  Without a MIC nothing is known about the content.
    """
    if receipt.mic_matched and receipt.mdn_signed and receipt.mic_algorithm in ("sha256", "sha384", "sha512"):
        return "sha256"
    return "none"


class _TrackedBody:
    """An upload body that knows when all of it was handed to the connection.

    requests sends an iterable with ``__len__`` with a Content-Length; the iterator is
    asked for more only after the previous chunk was written, so reaching its end means
    the whole message went out.  That splits a failure into "not delivered" (before)
    and "delivery unknown" (after: the partner may have processed it).
    """

    _CHUNK = 256 * 1024

    def __init__(self, data: bytes) -> None:
        self._data = data
        self.sent = False

    def __len__(self) -> int:
        return len(self._data)

    def __iter__(self) -> Iterator[bytes]:
        # Each iteration is one sending (should it ever be sent twice): only the last one counts.
        self.sent = False
        for start in range(0, len(self._data), self._CHUNK):
            yield self._data[start : start + self._CHUNK]  # one chunk copied at a time
        self.sent = True


#: Outcomes of an attempt after which the partner may have (or has) the message.
_MAY_HAVE_ARRIVED = ("delivery-unknown", "sent", "confirmed", "unverified")  # not "rejected": refused


def _reached_partner(receipt: Receipt) -> str | None:
    """How the latest earlier attempt of ``receipt``'s message that may have reached the partner
    ended ("ended delivery-unknown", "was interrupted ..."), None if none may have.

    The last history entry is the current attempt's own "sending".  An earlier "sending" with
    no outcome after it (the next entry starts another attempt) is an attempt that was cut off
    (Ctrl-C, a killed process) while it may have gone out whole and been processed.
    """
    earlier = receipt.history[:-1] if receipt.history and receipt.history[-1].get("status") == "sending" \
        else receipt.history
    for index in range(len(earlier) - 1, -1, -1):
        status = earlier[index].get("status")
        if status in _MAY_HAVE_ARRIVED:
            return f"ended {status}"
        if status == "sending" and (index + 1 == len(earlier) or earlier[index + 1].get("status") == "sending"):
            return "was interrupted before its outcome was known"
    return None


def _urlpath(url: str) -> str:
    """The path of a URL, for messages."""
    return urlsplit(url).path or "/"


def _is_duplicate(mdn: MDN) -> bool:
    return mdn.status == "warning" and (mdn.detail or "").strip().lower().startswith("duplicate-document")


def _keep_answer(receipt: Receipt, headers: Mapping[str, str], body: bytes) -> None:
    """Keep the partner's answer in the record as received (the receipt's evidence)."""
    receipt.mdn_raw = base64.b64encode(body).decode("ascii") if body else None
    receipt.mdn_content_type = _header(headers, "Content-Type")


def _mime_type(content_type: str | None) -> str:
    """``type/subtype`` of a Content-Type value, lower case ("" without one)."""
    return (content_type or "").split(";", 1)[0].strip().lower()


def _header(headers: Mapping[str, str], name: str) -> str | None:
    wanted = name.lower()
    return next((value for key, value in headers.items() if key.lower() == wanted), None)


def _read_limited(response: requests.Response, server: str, limit: float) -> bytes:
    """The response body, refusing one far larger than any MDN (it would not be one), or one
    that takes longer than ``limit`` seconds in all (:class:`ConnectTimeout`)."""
    chunks: list[bytes] = []
    total = 0
    deadline = time.monotonic() + limit
    while True:
        # read1: what one receive gives, so the deadline is checked between receives (read(n)
        # would wait for all n bytes, however slowly they come).
        chunk = response.raw.read1(64 * 1024, decode_content=True)
        if not chunk:
            break
        if time.monotonic() > deadline:
            raise ConnectTimeout(
                f"{server}: the receipt did not arrive within {limit:g} s "
                f"({_RECEIPT_TIMEOUTS} x the timeout): the partner sends it too slowly",
                server=server,
            )
        total += len(chunk)
        if total > _MAX_MDN:
            raise IntegrityError(
                f"the response is larger than {_MAX_MDN // 2**20} MiB: it is not an AS2 MDN",
            )
        chunks.append(chunk)
    return b"".join(chunks)
