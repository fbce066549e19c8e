"""Steps 2, 3 and 5: the TLS handshake, the server's client-certificate request, and whether the
server accepted us (proved by a first application exchange on the same connection).

The connection is made with the profile's own context from the one TLS factory
(:func:`xfer.client.tls_context`); what its handshake showed comes from the same
:class:`~xfer.tls.HandshakeFacts` the error translator reads.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import ftplib
import http.client
import socket
import ssl
from dataclasses import dataclass, field
from typing import Literal

from ..adapters.ftps.replies import reply_code, reply_error
from ..errors import (
    ClientCertificateRejected,
    ClientCertificateRequired,
    ConnectError,
    ConnectionDropped,
    ConnectTimeout,
    HostnameMismatch,
    InsecureSchemeRefused,
    PinMismatch,
    RemoteError,
    ServerCertificateUntrusted,
    ServerError,
    TLSError,
    TLSVersionMismatch,
    XferError,
)
from ..identity import time_left
from ..tls import SYSTEM_TRUST, HandshakeFacts, XferSSLContext, handshake_facts, translate_error
from ..tls.connection import XferConnection
from ..tls.translate import unsent_issuer
from .certs import describe, load_der, system_store_verdict
from .exchange import Exchange, FTPDialogue, http_exchange
from .report import SKIP, Step

__all__ = [
    "CLIENT_CERTIFICATE_ERRORS", "SERVER_VERDICT_ERRORS", "Kind", "Probe", "acceptance_step", "probe", "request_step",
    "tls_step",
]

#: How the first exchange goes: an HTTP request, or FTP (explicit: AUTH TLS first).
Kind = Literal["http", "ftp-explicit", "ftp-implicit"]

#: Failures that are about our certificate: the TLS step itself still passed.
CLIENT_CERTIFICATE_ERRORS = (ClientCertificateRejected, ClientCertificateRequired)
#: Our verdict on the server in its handshake (step 2's failures): its certificate, name, pin, TLS version.
SERVER_VERDICT_ERRORS = (ServerCertificateUntrusted, HostnameMismatch, PinMismatch, TLSVersionMismatch)


@dataclass
class Probe:
    """What one probing connection showed."""

    facts: HandshakeFacts = field(default_factory=HandshakeFacts)
    version: str | None = None
    cipher: str | None = None
    alpn: str | None = None
    resumed: bool = False
    handshake_done: bool = False
    #: The failure (translated), in the handshake or in the first exchange.
    error: XferError | None = None
    exchange: Exchange | None = None
    #: FTP only: the clear-text replies before TLS (explicit: the greeting, with any ``1xx`` before
    #: it, and the answer to AUTH TLS), as received.
    preamble: list[str] = field(default_factory=list)
    #: FTP only: the greeting (the ``220``) and the answer to AUTH TLS (explicit FTPS), None if none came.
    banner: str | None = None
    auth_tls: str | None = None
    #: The failure came in the clear-text dialogue before AUTH TLS (explicit FTPS): no TLS was attempted.
    before_tls: bool = False


def _translated(exc: BaseException, context: ssl.SSLContext, server: str) -> XferError:
    translated = translate_error(exc, context=context, server=server)
    if translated is not None:
        return translated
    if isinstance(exc, EOFError):  # a close the TLS layer did not explain: the connection's, not TLS's
        return ConnectionDropped(f"{server} closed the connection", server=server)
    return TLSError(f"{server}: {exc}")


def probe(
    sock: socket.socket, *, context: XferSSLContext, host: str, port: int, kind: Kind, path: str
) -> Probe:
    """Handshake on ``sock`` (which it closes) and make one application exchange."""
    server = f"{host}:{port}"
    result = Probe()
    with contextlib.closing(sock):
        if kind == "ftp-explicit" and not _start_tls(sock, result, context=context, host=host, server=server):
            return result
        try:
            tls = context.wrap_socket(sock, server_hostname=host)
        except (OSError, ssl.SSLError) as exc:
            result.facts = handshake_facts(exc)
            result.error = _translated(exc, context, server)
            return result
        with contextlib.closing(tls):
            result.handshake_done = True
            assert isinstance(tls, XferConnection)
            result.facts = tls.handshake_facts
            result.version, result.alpn = tls.version(), tls.selected_alpn_protocol()
            result.resumed = bool(tls.session_reused)
            cipher = tls.cipher()
            result.cipher = cipher[0] if cipher else None
            try:
                with context.listening(tls):
                    if kind == "http":
                        result.exchange = http_exchange(tls, host, port, path)
                    else:
                        result.exchange = Exchange()
                        _ftp_exchange(tls, result, kind=kind, context=context, host=host)
            except ftplib.Error as exc:  # the implicit FTPS greeting (FEAT's reply is taken as it comes)
                result.error = _failed_greeting(exc, server=server, context=context, facts=result.facts,
                                                replies=result.exchange.replies if result.exchange else [])
                return result
            except http.client.HTTPException as exc:  # not HTTP, a head too long, endless 1xx answers
                result.error = RemoteError(f"{server} did not answer as an HTTP server: {exc!r}"[:300],
                                           hint="check the URL's port and scheme", server=server)
                return result
            except TimeoutError as exc:
                # DeadlineStream's: the answer was still coming (a trickle), or never came.
                result.error = ConnectTimeout(f"{server} did not complete its answer in time ({exc})",
                                              server=server)
                return result
            except (OSError, ssl.SSLError, EOFError) as exc:
                result.error = _translated(exc, context, server)
                return result
            if kind == "http" and result.exchange is not None:
                error = result.exchange.http_error(server=server, url=f"https://{server}{path}", context=context)
                if isinstance(error, CLIENT_CERTIFICATE_ERRORS):
                    result.error = error
    return result


def _start_tls(sock: socket.socket, result: Probe, *, context: ssl.SSLContext, host: str, server: str) -> bool:
    """Explicit FTPS in clear text: the greeting, then ``AUTH TLS``.  True if TLS may begin.

    A failure of the greeting sets ``result.before_tls``: no TLS was attempted (review R, finding 2).
    """
    dialogue = FTPDialogue(sock, context=context, host=host)
    dialogue.replies = result.preamble  # kept, as they came, when a later one fails
    try:
        result.banner = dialogue.greeting()
    except (ftplib.Error, OSError, EOFError) as exc:
        result.before_tls = True
        result.error = _failed_greeting(exc, server=server, context=context, replies=result.preamble)
        return False
    try:
        auth = result.auth_tls = dialogue.ask("AUTH TLS")
    except (ftplib.Error, OSError, EOFError) as exc:
        result.error = _failed_greeting(exc, server=server, context=context, replies=result.preamble,
                                        answering="AUTH TLS")
        return False
    if not auth.startswith("234"):
        result.error = InsecureSchemeRefused(
            f"{server} refused AUTH TLS ({auth.strip()})",
            hint="the server may only speak implicit FTPS: try ftps:// (port 990)",
        )
        return False
    return True


def _ftp_exchange(tls: ssl.SSLSocket, result: Probe, *, kind: Kind, context: ssl.SSLContext, host: str) -> None:
    """FTP over the new TLS connection: the greeting (implicit FTPS) and ``FEAT``, into ``result.exchange``."""
    assert result.exchange is not None
    dialogue = FTPDialogue(tls, context=context, host=host)
    dialogue.replies = result.exchange.replies  # kept, as they came, when a later one fails
    if kind == "ftp-implicit":
        result.banner = dialogue.greeting()
    result.exchange.feat = dialogue.ask("FEAT")
    with contextlib.suppress(OSError, EOFError, ftplib.Error):
        dialogue.putcmd("QUIT")


def _failed_greeting(
    exc: BaseException, *, server: str, context: ssl.SSLContext, replies: list[str],
    facts: HandshakeFacts | None = None, answering: str | None = None,
) -> XferError:
    """What an FTP greeting (or, with ``answering``, the reply to that command) that failed means.

    ``facts``: the TLS handshake that came before it (implicit FTPS); None in clear text.  A
    4xx/5xx is the server's refusal, quoted, worded as the adapter words it when connecting;
    a ``530`` right after a handshake that asked for our certificate is a verdict on it.  A
    close or a wait that runs out here is the connection's, never TLS's: none was attempted yet
    (review R, finding 2).
    """
    where = (f"in answer to {answering}" if answering else
             f"after {replies[-1].splitlines()[0].strip()!r}" if replies else "before its greeting")
    if isinstance(exc, ftplib.Error):
        reply = str(exc).strip()
        code = reply_code(reply)
        if not code:  # no reply code: what answers on this port is not FTP, or sent a line too long to be
            return ConnectError(
                f"{server} does not answer as an FTP server ({reply[:120]!r})",
                hint="check the port and the scheme: ftpes:// is explicit FTPS (port 21), ftps:// implicit (port 990)",
                server=server,
            )
        if code == "530" and facts is not None and facts.certificate_requested:
            identity = getattr(context, "identity", None)
            if identity is None:
                return ClientCertificateRequired(
                    f"{server} refused us in its greeting ({reply}), right after a TLS handshake in which it "
                    "asked for a client certificate and none was sent",
                    hint="pass --identity FILE.p12 (or identity = in the profile)", server=server,
                )
            return ClientCertificateRejected(
                f"{server} refused us in its greeting ({reply}), right after a TLS handshake in which we sent "
                f"our client certificate {identity.common_name!r}",
                hint="check with the partner that this certificate is registered for your account "
                "and that they trust its issuer", server=server,
            )
        if code[:1] in ("4", "5"):
            return reply_error(reply, server=server, action=f"connecting ({answering or 'its greeting'})")
        return ServerError(
            f"{server} answered {answering or 'as its greeting'} with {reply!r}, where only "
            f"{'234' if answering else '220 (ready)'} may come", server=server,
        )
    if isinstance(exc, EOFError):
        return ConnectionDropped(f"{server} closed the connection {where}", server=server,
                                 hint="the server may be limiting connections or refusing our address; try again "
                                 "later, or ask the partner whether this address may connect")
    translated = translate_error(exc, context=context, server=server)
    if isinstance(translated, ConnectTimeout):
        what = f"its reply to {answering}" if answering else "its greeting"
        return translated.copy_with(f"{server} did not complete {what} in time ({where})")
    return translated or ConnectionDropped(f"the connection to {server} failed {where}: {exc}", server=server)


def tls_step(found: Probe, *, host: str, context: XferSSLContext) -> Step:
    """Step 2: version, cipher, ALPN, the server's chain, trust (ours and the system's), host name, pin."""
    step = Step("tls", "TLS handshake and the server's certificate")
    chain = load_der(found.facts.server_chain)
    failed_here = found.error is not None and not found.handshake_done and not isinstance(
        found.error, CLIENT_CERTIFICATE_ERRORS
    )
    # The server judges our certificate only after we accepted its own (TLS 1.2 and 1.3
    # alike): a rejection of ours means our checks of the server passed.
    passed_checks = found.handshake_done or isinstance(found.error, CLIENT_CERTIFICATE_ERRORS)
    system, system_why = system_store_verdict(chain, host)
    error_name = type(found.error).__name__ if failed_here else None
    step.facts = {
        "version": found.version,
        "cipher": found.cipher,
        "alpn": found.alpn,
        "session_resumed": found.resumed,
        "server_chain": [describe(c) for c in chain],
        "trust_source": context.trust_source,
        "trusted": True if passed_checks else (False if error_name == "ServerCertificateUntrusted" else None),
        "trusted_by_system_store": system,
        "system_store_detail": system_why,
        "host_name": host,
        "host_name_match": True if passed_checks else (False if error_name == "HostnameMismatch" else None),
        "pin": context.pin,
        "pin_match": (found.handshake_done if context.pin else None) if error_name != "PinMismatch" else False,
    }
    if found.version:
        step.lines.append(f"{found.version}, {found.cipher}, ALPN {found.alpn or 'none'}"
                          + (", session resumed" if found.resumed else ""))
    for index, cert in enumerate(step.facts["server_chain"]):
        label = "server certificate" if index == 0 else f"chain [{index}]"
        step.lines.append(f"{label}: {cert['subject']}  issued by {cert['issuer']}")
        step.lines.append(
            f"    valid until {cert['not_after'][:10]} ({time_left(dt.datetime.fromisoformat(cert['not_after']))}), "
            f"{cert['key_type']}{' ' + str(cert['key_size']) if cert['key_size'] else ''}, {cert['sha256']}"
        )
        if index == 0 and cert["sans"]:
            step.lines.append(f"    names: {', '.join(cert['sans'])}")
    step.lines.append(f"trusted by {context.trust_source}: {_yes(step.facts['trusted'])}; "
                      f"by the system store alone: {_yes(system)}")
    step.lines.append(f"host name {host} matches: {_yes(step.facts['host_name_match'])}; "
                      f"pin: {context.pin + ' ' + _yes(step.facts['pin_match']) if context.pin else 'not set'}")
    if step.facts["trusted"] and system is False and context.trust_source != SYSTEM_TRUST:
        step.verdicts.append("only the configured CA makes this server trusted: a browser would refuse it")
    if step.facts["trusted"] is False and system:
        step.verdicts.append("the system store trusts this server but the configured CA file does not: "
                             "drop --ca (ca =) or add the server's CA to it")
    unsent = unsent_issuer(found.facts)
    if step.facts["trusted"] is False and unsent is not None:
        # Only when trust failed: with the right CA in --ca, a leaf sent alone is no fault (a
        # single-tier CA's, or an intermediate --ca holds), and a host-name mismatch is unrelated.
        step.verdicts.append(f"the server sent its certificate alone: its issuer {unsent}, which we do not trust, "
                             "is the partner's root CA (add it to --ca) or an intermediate CA the server should "
                             "send with it")
    if failed_here and found.error is not None:
        step.fail(found.error)
    return step


def _yes(value: bool | None) -> str:
    return "unknown" if value is None else ("yes" if value else "NO")


def request_step(found: Probe) -> Step:
    """Step 3: did the server ask for a client certificate, when, naming which CAs and algorithms."""
    facts = found.facts
    step = Step("client_certificate_request", "The server's client-certificate request")
    step.facts = {
        "requested": facts.certificate_requested,
        "after_handshake": facts.requested_after_handshake,
        "accepted_cas": list(facts.acceptable_client_cas),
        "signature_algorithms": list(facts.client_signature_algorithms),
    }
    if not facts.certificate_requested:
        step.status = SKIP
        step.lines.append("the server did not ask for a client certificate")
        return step
    when = "after the handshake (TLS 1.3 post-handshake authentication)" if facts.requested_after_handshake \
        else "during the handshake"
    step.lines.append(f"requested {when}")
    step.lines.append("accepted CAs: " + (" | ".join(facts.acceptable_client_cas) or "none named (any CA it trusts)"))
    if facts.client_signature_algorithms:
        step.lines.append("signature algorithms: " + ", ".join(facts.client_signature_algorithms))
    return step


def acceptance_step(found: Probe, *, sent: str | None) -> Step:
    """Step 5: the answer to the first request proves the server accepted the connection."""
    step = Step("acceptance", "Did the server accept our certificate")
    exchange = found.exchange
    answer = None
    if exchange is not None:
        if exchange.status is not None:
            answer = f"HTTP {exchange.status} {exchange.reason}".strip()
        elif exchange.replies:
            answer = "FTP " + exchange.replies[-1].splitlines()[0]
    step.facts = {"accepted": found.error is None, "certificate_sent": sent, "first_answer": answer}
    if found.error is not None:
        return step.fail(found.error)
    who = f"our certificate {sent}" if sent else "the connection without a client certificate"
    step.lines.append(f"the server answered the first request ({answer}): it accepted {who}")
    return step

