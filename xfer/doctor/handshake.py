"""Steps 2, 3 and 5: the TLS handshake, the server's client-certificate request, and whether the
server accepted us (proved by a first application exchange on the same connection).

The connection is made with the profile's own context from the one TLS factory
(:func:`xfer.client.tls_context`); what its handshake showed comes from the same
:class:`~xfer.tls.HandshakeFacts` the error translator reads.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import socket
import ssl
from dataclasses import dataclass, field
from typing import Literal

from ..errors import (
    ClientCertificateRejected,
    ClientCertificateRequired,
    InsecureSchemeRefused,
    TLSError,
    XferError,
)
from ..identity import time_left
from ..tls import SYSTEM_TRUST, HandshakeFacts, XferSSLContext, handshake_facts, translate_error
from ..tls.connection import XferConnection
from .certs import describe, load_der, system_store_verdict
from .exchange import Exchange, ftp_command, ftp_reply, http_exchange
from .report import SKIP, Step

__all__ = ["CLIENT_CERTIFICATE_ERRORS", "Kind", "Probe", "acceptance_step", "probe", "request_step", "tls_step"]

#: How the first exchange goes: an HTTP request, or FTP (explicit: AUTH TLS first).
Kind = Literal["http", "ftp-explicit", "ftp-implicit"]

#: Failures that are about our certificate: the TLS step itself still passed.
CLIENT_CERTIFICATE_ERRORS = (ClientCertificateRejected, ClientCertificateRequired)


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
    #: FTP only: the greeting and the answer to AUTH TLS (explicit), as received.
    preamble: list[str] = field(default_factory=list)


def _translated(exc: BaseException, context: ssl.SSLContext, server: str) -> XferError:
    return translate_error(exc, context=context, server=server) or TLSError(f"{server}: {exc}")


def probe(
    sock: socket.socket, *, context: XferSSLContext, host: str, port: int, kind: Kind, path: str
) -> Probe:
    """Handshake on ``sock`` (which it closes) and make one application exchange."""
    server = f"{host}:{port}"
    result = Probe()
    with contextlib.closing(sock):
        if kind == "ftp-explicit":
            try:
                with sock.makefile("rb") as stream:
                    result.preamble.append(ftp_reply(stream))
                    auth = ftp_command(sock, stream, "AUTH TLS")
                    result.preamble.append(auth)
            except (OSError, EOFError) as exc:
                result.error = _translated(exc, context, server)
                return result
            if not auth.startswith("234"):
                result.error = InsecureSchemeRefused(
                    f"{server} refused AUTH TLS ({auth.strip()})",
                    hint="the server may only speak implicit FTPS: try ftps:// (port 990)",
                )
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
                    result.exchange = _exchange(tls, host, port, kind, path)
            except (OSError, ssl.SSLError, EOFError) as exc:
                result.error = _translated(exc, context, server)
                return result
            if kind == "http" and result.exchange is not None:
                error = result.exchange.http_error(server=server, url=f"https://{server}{path}", context=context)
                if isinstance(error, CLIENT_CERTIFICATE_ERRORS):
                    result.error = error
    return result


def _exchange(tls: ssl.SSLSocket, host: str, port: int, kind: Kind, path: str) -> Exchange:
    if kind == "http":
        return http_exchange(tls, host, port, path)
    done = Exchange()
    with tls.makefile("rb") as stream:
        if kind == "ftp-implicit":
            done.replies.append(ftp_reply(stream))
        done.replies.append(ftp_command(tls, stream, "FEAT"))
        with contextlib.suppress(OSError, EOFError):
            ftp_command(tls, stream, "QUIT")
    return done


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

