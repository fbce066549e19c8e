"""The diagnosis in order: each step runs only if the ones before it passed."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from ..adapters.base import Adapter
from ..client import connect, identity_secret, load_identity, resolve_profile, tls_context
from ..errors import ConnectionDropped, IdentityError, XferError
from ..identity import Identity, days_left
from ..net import choose_proxy
from ..profiles import OverrideStyle, Profile
from .certs import load_der, utc_now
from .clock import clock_step
from .handshake import (
    CLIENT_CERTIFICATE_ERRORS,
    SERVER_VERDICT_ERRORS,
    Kind,
    Probe,
    acceptance_step,
    probe,
    request_step,
    tls_step,
)
from .identity import identity_step
from .network import connect_step
from .protocol import greeting_step, protocol_step
from .report import FAIL, SKIP, Report, Step

__all__ = ["TLS_STEPS", "diagnose"]

#: The steps a protocol without TLS skips (shown as "–", so the numbering stays the same).
TLS_STEPS = (
    ("tls", "TLS handshake and the server's certificate"),
    ("client_certificate_request", "The server's client-certificate request"),
    ("identity", "Our client identity"),
    ("acceptance", "Did the server accept our certificate"),
)


def diagnose(
    target: str | Profile,
    overrides: Mapping[str, Any] | None = None,
    *,
    warn_days: int | None = None,
    style: OverrideStyle = "parameter",
    warn: Callable[[str], None] | None = None,
) -> Report:
    """Diagnose the connection to a profile or URL, step by step; see :class:`~.report.Report`.

    Stops at the first failing step.  Configuration errors (unknown profile, a file it names
    missing, a secret reference this machine cannot resolve: an unset variable, a keyring that
    fails) are raised, as :func:`xfer.connect` raises them: there is nothing to diagnose yet.
    An identity that does not open (a wrong password, a corrupt file, no PKCS#12 at all) fails
    the identity step, after the network and TLS steps ran without it: a monitoring job
    reading ``--json`` gets the report, not an empty page (review A).  ``warn_days``:
    certificates (ours or the server's) that expire within that many days are listed in
    ``report.expiring``.
    """
    profile = resolve_profile(target, overrides, style=style)
    profile.check_files()
    endpoint = profile.endpoint
    host, port = endpoint.host, endpoint.port
    report = Report(target=target if isinstance(target, str) else profile.name, server=f"{host}:{port}",
                    protocol=profile.scheme, warn_days=warn_days)
    # An expired one is diagnosed, not refused.  Only TLS protocols hold a PKCS#12 identity
    # (SFTP's is an SSH key, which its adapter loads and reports on).
    # The identity's password is resolved once: a ``prompt`` asks here, and the protocol step's
    # connect() gets the answer as a Secret instead of the reference (which would ask again).
    unopened: XferError | None = None
    secret, identity = None, None
    if profile.spec.tls:
        try:
            secret = identity_secret(profile)
            identity = load_identity(profile, secret=secret, check=False)
        except IdentityError as exc:
            unopened = exc
    # A protocol without TLS (SSH-style) still gets a context for wording network errors.  An identity
    # OpenSSL refuses (a certificate too weak for its security level) fails step 4, after the network
    # and TLS steps ran without it, as one that does not open (review TLS-ID, finding M4).
    try:
        context = tls_context(profile, identity if profile.spec.tls else None)
    except IdentityError as exc:
        unopened, identity = exc, None
        context = tls_context(profile, None)
    timeout = float(profile.get("timeout"))

    def open_adapter() -> Adapter:
        return connect(profile, identity_password=secret, warn=warn)

    # The proxy a connection would take (the option, else the environment as each protocol reads it).
    try:
        proxy = choose_proxy(profile.get("proxy"), host, environment=profile.spec.proxy_environment)
    except XferError as exc:
        report.add(Step("network", "Name resolution and TCP connect").fail(exc))
        return report
    # Only the HTTP family (HTTPS, WebDAV, AS2: urllib3, which reads HTTPS_PROXY) nests its TLS
    # in an https:// proxy's; FTPS and SFTP refuse such a proxy, and so does step 1 for them.
    web = "HTTPS_PROXY" in profile.spec.proxy_environment
    step, sock = connect_step(host, port, timeout=timeout, context=context, proxy=proxy, tls_proxy=web)
    report.add(step)
    if sock is None:
        return report
    tls_in_tls = web and proxy is not None and proxy.kind == "https"
    if not profile.spec.tls or tls_in_tls:
        sock.close()
        # Through an https:// proxy the partner's TLS runs inside the proxy's: the probe cannot
        # look at that handshake, but the protocol step's connection (urllib3's) goes through it.
        skipped = (f"not looked at: the TLS to {host} runs inside the https:// proxy's TLS "
                   "(the protocol step below makes that connection)" if tls_in_tls
                   else f"{profile.scheme} does not use TLS")
        # Through the proxy, what the handshake inside it says comes out of the protocol step's
        # connection: a verdict on the server's certificate is step 2's, the server's verdict on
        # ours step 4's or 5's, as on a direct connection (review W: all were step 6's).
        proto = protocol_step(profile, Probe(), open_adapter) if tls_in_tls and unopened is None else None
        failure = proto.error if proto is not None and proto.status == FAIL else None
        judged_us = isinstance(failure, CLIENT_CERTIFICATE_ERRORS)
        for key, title in TLS_STEPS:
            if key == "tls" and isinstance(failure, SERVER_VERDICT_ERRORS):
                report.add(Step(key, title).fail(failure))
                return report
            if key == "identity" and tls_in_tls:
                # Our identity needs no handshake to be looked at: one that does not open (or has
                # expired) fails step 4, as on a direct connection, not the protocol step
                # (review U, finding 5).
                seen = Probe(error=failure) if judged_us else Probe()
                if report.add(_identity_unseen(identity, unopened, warn_days=warn_days, seen=seen)).status == FAIL:
                    return report
                continue
            if key == "acceptance" and judged_us and failure is not None:
                report.add(Step(key, title).fail(failure))
                return report
            report.add(Step(key, title, status=SKIP, lines=[skipped]))
        if report.add(proto if proto is not None else protocol_step(profile, Probe(), open_adapter)).status != FAIL:
            # Every report has the same steps: a script reading --json finds "clock" skipped, as on FTPS.
            report.add(Step("clock", "Clock skew against the server", status=SKIP,
                            lines=["not checked: the server's Date comes inside the proxy's TLS" if tls_in_tls
                                   else f"{profile.scheme} tells no server time: not checked"],
                            facts={"server_date": None, "skew_seconds": None}))
            # Ours is known without the handshake (the server's certificate is not seen here).
            _list_expiring(report, identity, [], warn_days=warn_days)
        return report
    found = probe(sock, context=context, host=host, port=port, kind=_kind(profile.scheme), path=endpoint.path or "/")
    if found.before_tls:
        # Explicit FTPS whose clear-text greeting failed: no TLS was attempted, and the FTP
        # dialogue (step 6) is what failed (review R, finding 2).
        for key, title in TLS_STEPS:
            report.add(Step(key, title, status=SKIP, lines=["not reached: the server's greeting came before any TLS"]))
        report.add(greeting_step(profile, found))
        return report
    sent = identity.subject if identity is not None and found.facts.certificate_requested else None
    # The TLS step always runs, and always as step 2 (the CLI's epilog and --json readers count on it).
    tls = report.add(tls_step(found, host=host, context=context))
    if unopened is not None:
        # Connected without the identity.  A TLS failure that cannot be its absence is the
        # report's: the server never asked for a certificate (review R, finding 4: a handshake
        # that timed out vanished, and the report said the server had not asked), or the failure
        # is our verdict on the server (its certificate, name, pin or TLS version), which comes
        # before the server judges ours (review U, finding 6).  Only a close after the request,
        # or a client-certificate error, may be no more than the missing certificate.
        if tls.status == FAIL and not (found.facts.certificate_requested
                                       and isinstance(tls.error, (*CLIENT_CERTIFICATE_ERRORS, ConnectionDropped))):
            return report
        if tls.status == FAIL:
            tls.status, tls.fix = SKIP, None
            tls.lines.append(f"not judged: the server asked for the client certificate that did not open "
                             f"({tls.error.message if tls.error else 'no detail'})")
            tls.error = None
        report.add(request_step(found))
        report.add(_identity_unseen(identity, unopened, warn_days=warn_days))
        return report
    if tls.status == FAIL:
        return report
    for step in (
        request_step(found),
        identity_step(identity, found, warn_days=warn_days),
        acceptance_step(found, sent=sent),
    ):
        report.add(step)
        if step.status == FAIL:
            return report

    if report.add(protocol_step(profile, found, open_adapter)).status == FAIL:
        return report
    report.add(clock_step(found))
    _list_expiring(report, identity, found.facts.server_chain, warn_days=warn_days)
    return report


def _list_expiring(report: Report, identity: Identity | None, server_chain: list[bytes], *,
                   warn_days: int | None) -> None:
    """``report.expiring``: our certificate and the server's (DER chain, empty if not seen), if
    either expires within ``warn_days``."""
    if warn_days is None:
        return
    now = utc_now()
    if identity is not None and days_left(identity.not_after, now=now) <= warn_days:
        report.expiring.append(f"your certificate {identity.subject} expires in "
                               f"{days_left(identity.not_after, now=now)} days ({identity.not_after:%Y-%m-%d})")
    chain = load_der(server_chain)
    if chain and days_left(chain[0].not_valid_after_utc, now=now) <= warn_days:
        days = days_left(chain[0].not_valid_after_utc, now=now)
        report.expiring.append(f"the server's certificate {chain[0].subject.rfc4514_string()} expires in "
                               f"{days} days ({chain[0].not_valid_after_utc:%Y-%m-%d})")


def _identity_unseen(identity: Identity | None, unopened: XferError | None, *, warn_days: int | None,
                     seen: Probe | None = None) -> Step:
    """Step 4 without the server's side of the handshake: an identity that did not open fails it;
    one that did is checked on its own (validity, clientAuth), not against the server's request,
    with the server's verdict on it if one came (``seen``: a probe holding only that error)."""
    if unopened is not None:
        return Step("identity", "Our client identity", facts={"configured": True}).fail(unopened)
    step = identity_step(identity, seen or Probe(), warn_days=warn_days)
    if identity is not None:
        step.lines.append("not compared with the server's request: the partner's TLS runs inside the https:// "
                          "proxy's TLS")
    return step


def _kind(scheme: str) -> Kind:
    if scheme == "ftpes":
        return "ftp-explicit"
    if scheme == "ftps":
        return "ftp-implicit"
    return "http"
