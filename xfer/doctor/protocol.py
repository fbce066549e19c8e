"""Step 6: the protocol layer, through the real adapter (the same code ``put``/``get`` run).

FTPS: greeting, FEAT, AUTH TLS, PBSZ/PROT, login (user name only), a passive data
connection and whether it resumed the control connection's TLS session.  HTTPS: the base
URL's status, OPTIONS, the listing format.  WebDAV: the DAV class (OPTIONS) and a PROPFIND
of the root.  AS2: the signing certificate, the partner certificate, the MDN mode; nothing is
ever posted to the inbox.
"""

from __future__ import annotations

import contextlib
import ftplib
import re
from collections.abc import Callable
from typing import Any

from ..adapters.base import Adapter
from ..errors import ConfigError, UnsupportedOperation, XferError
from ..identity import time_left
from ..profiles import Profile
from .certs import describe, utc_now
from .handshake import Probe
from .report import Step

__all__ = ["FEATURES_OF_NOTE", "greeting_step", "protocol_step"]

#: FEAT lines xfer uses or a user asks about.
FEATURES_OF_NOTE = ("MLST", "EPSV", "UTF8", "REST STREAM", "HASH", "XSHA1", "XSHA256", "XSHA512", "MDTM", "SIZE")


def protocol_step(profile: Profile, found: Probe, connect: Callable[[], Adapter]) -> Step:
    """Run the protocol checks for ``profile``'s scheme; ``connect`` opens the real adapter."""
    scheme = profile.scheme
    step = Step("protocol", f"Protocol ({scheme})")
    try:
        if scheme in ("ftps", "ftpes"):
            _ftps(step, profile, found, connect)
        elif scheme == "as2":
            _as2(step, profile, found, connect)
        elif scheme in ("https", "davs"):
            _http(step, profile, found, connect, webdav=scheme == "davs")
        else:
            _generic(step, profile, connect)
    except XferError as exc:
        step.fail(exc)
    return step


def _ftps(step: Step, profile: Profile, found: Probe, connect: Callable[[], Adapter]) -> None:
    _ftp_greeting(step, profile, found)
    with connect() as remote:  # AUTH TLS, login, PBSZ 0, PROT P, FEAT, TYPE I: the adapter's own sequence
        step.facts["login"] = "ok"
        step.facts["pbsz_prot"] = "PBSZ 0, PROT P accepted"
        step.lines.append(f"login as {step.facts['username']}: ok; PBSZ 0 / PROT P accepted")
        entries = remote.ls("/")  # under the connection root (the URL's path)
        data = list(remote.data_connections.recent) if hasattr(remote, "data_connections") else []
        # The adapter's control connection, for one more listing *without* session reuse.
        control = getattr(remote, "_ftp", None)
        required, said = _reuse_required(control) if control is not None else (None, None)
    last = data[-1] if data else None
    step.facts.update({
        "passive_connect": "ok",
        "entries": len(entries),
        "data_tls_version": last.tls_version if last else None,
        "data_session_resumed": last.resumed if last else None,
    })
    resumed = "yes" if last and last.resumed else "NO"
    step.lines.append(f"passive data connection: ok ({len(entries)} entries listed); "
                      f"TLS session resumed on it: {resumed}")
    step.facts["data_session_reuse_required"] = required
    step.facts["data_without_reuse_reply"] = said
    step.lines.append("the server demands TLS session reuse on data connections: "
                      + {True: f"yes ({said})", False: "no", None: "unknown"}[required])
    if last is not None and not last.resumed:
        step.verdicts.append("the server did not resume our TLS session on the data connection"
                             + (" although it demands reuse" if required else ""))


def greeting_step(profile: Profile, found: Probe) -> Step:
    """Step 6 when explicit FTPS failed before AUTH TLS: what the greeting was, and the failure."""
    step = Step("protocol", f"Protocol ({profile.scheme})")
    _ftp_greeting(step, profile, found)
    assert found.error is not None
    return step.fail(found.error)


def _ftp_greeting(step: Step, profile: Profile, found: Probe) -> None:
    """The greeting, AUTH TLS and FEAT as the probe saw them (every reply kept, a refusal too)."""
    feat = (found.exchange.feat if found.exchange else None) or ""
    lines = [line.strip() for line in feat.splitlines()[1:-1]] if feat.startswith("211") else []
    features = [line for line in lines if line]
    upper = [f.upper() for f in features]
    notable = {name: any(f == name or f.startswith(name + " ") for f in upper) for name in FEATURES_OF_NOTE}
    # The 220 when one came; else the last thing the server said in its place (a 421, a 530).
    greeted = [*found.preamble, *(found.exchange.replies if found.exchange else [])]
    banner = found.banner or next((r for r in greeted if not r.startswith("211")), None)
    explicit = profile.scheme == "ftpes"
    auth = found.auth_tls if explicit else "implicit TLS (no AUTH TLS)"
    step.facts = {
        "banner": banner,
        "auth_tls": auth,
        "features": features,
        "feature_flags": notable,
        "username": profile.get("username") or "anonymous",
    }
    step.lines.append(f"banner: {banner.splitlines()[0] if banner else '-'}")
    step.lines.append(f"AUTH TLS: {auth.splitlines()[0] if auth else 'not sent'}")
    step.lines.append("FEAT: " + (", ".join(n for n, on in notable.items() if on) or "none of note")
                      + (f"  (all: {'; '.join(features)})" if features else ""))


def _reuse_required(ftp: Any) -> tuple[bool | None, str | None]:
    """List once more without resuming the TLS session: refused means the server demands reuse.

    Stock ftplib clients (and many others) fail exactly there, with vsftpd's ``522``.  The
    connection is dropped afterwards either way (the adapter closes it).
    """
    ftp.reuse_session = False
    try:
        conn, _ = ftp.ntransfercmd("LIST")
        with contextlib.closing(conn), contextlib.suppress(OSError):
            while conn.recv(65536):
                pass
        ftp.voidresp()
    except ftplib.Error as exc:
        return True, str(exc).strip().splitlines()[0]
    except (OSError, EOFError):
        return None, None
    finally:
        ftp.reuse_session = True
    return False, None


def _http(step: Step, profile: Profile, found: Probe, connect: Callable[[], Adapter], *, webdav: bool) -> None:
    with connect() as remote:
        session: Any = getattr(remote, "session")  # noqa: B009 - HTTPS and WebDAV adapters hold an XferSession
        root = profile.endpoint.path or "/"
        url = session.url_for(root, folder=webdav or root.endswith("/"))
        with session.translating():
            options = session.request("OPTIONS", url)
            options.close()
            step.facts["options_status"] = options.status_code
            allow = options.headers.get("Allow", "")
            step.facts["allowed_methods"] = [m.strip() for m in allow.split(",") if m.strip()]
            step.lines.append(f"OPTIONS {root}: HTTP {options.status_code}; allowed: "
                              f"{', '.join(step.facts['allowed_methods']) or 'not said'}")
            if webdav:
                dav = options.headers.get("DAV", "")
                step.facts["dav_class"] = [c.strip() for c in dav.split(",") if c.strip()]
                step.lines.append(f"DAV class: {dav or 'none (not a WebDAV server?)'}")
                answer = session.request("PROPFIND", url, headers={"Depth": "1"})
                body = answer.content[:1 << 20]
                step.facts["propfind_status"] = answer.status_code
                step.facts["propfind_responses"] = len(re.findall(rb"<(?:[\w-]+:)?response[\s>]", body))
                step.lines.append(f"PROPFIND {root}: HTTP {answer.status_code}, "
                                  f"{step.facts['propfind_responses']} responses (the folder and its members)")
            else:
                answer = session.get(url, stream=True)
                answer.close()
                step.facts["status"] = answer.status_code
                kind = answer.headers.get("Content-Type", "")
                step.facts["content_type"] = kind
                step.lines.append(f"GET {root}: HTTP {answer.status_code} ({kind or 'no content type'})")
            # A refused PROPFIND, or a GET asking for a login, stops every transfer whatever OPTIONS
            # said (IIS and Apache's <LimitExcept OPTIONS> answer OPTIONS without a login: review W);
            # a GET refused with 403 alone may be a folder whose listing is off.
            if answer.status_code in (401, 403) and (
                webdav or answer.status_code == 401 or options.status_code in (401, 403)
            ):
                what = ("every request" if options.status_code in (401, 403)
                        else f"{'PROPFIND' if webdav else 'GET'} {root}")
                raise _refused_everything(step, profile, found, session, answer, root, what=what)
            if webdav:
                session.check(answer, path=root)
        if not webdav:
            try:
                entries = remote.ls("/")  # under the connection root (the URL's path)
            except UnsupportedOperation as exc:
                step.facts["listing_format"] = None
                step.lines.append(f"listing: not offered ({exc.message})")
            else:
                step.facts["listing_format"] = getattr(remote.settings.options, "index", None) or "found"
                step.facts["entries"] = len(entries)
                step.lines.append(f"listing: {step.facts['listing_format']} ({len(entries)} entries)")


def _refused_everything(step: Step, profile: Profile, found: Probe, session: Any, answer: Any, root: str, *,
                        what: str = "every request") -> XferError:
    """The requests on the base path (``what``) were answered 401/403: nothing will work, so the step fails.

    nginx with ``ssl_verify_client optional`` and a ``return 403`` for an unverified client
    does exactly this: the handshake passes, without a certificate or with one it refuses, and
    "every step passed" while ``put``/``get`` exit 6 (review R, finding 1).  Returns the error
    ``put``/``get`` would show (:class:`~xfer.errors.RemotePermissionDenied`); for a 403 the
    verdict says what our certificate has to do with it, for a 401 (a login asked for) what
    the user name and password have.
    """
    from ..http_errors import map_http_error

    error = map_http_error(answer, server=session.server, path=root, context=session.ssl_context)
    if answer.status_code == 401:
        # 401 asks for a login (WWW-Authenticate): the user name and password are at fault, not
        # the certificate, which a server refuses with 403 or in the handshake (review U, finding 4).
        challenge = answer.headers.get("WWW-Authenticate", "").split(" ", 1)[0]
        wants = f"a login ({challenge})" if challenge else "a login"
        user = profile.get("username")
        step.verdicts.append(
            f"the server refused {what} with 401, asking for {wants}: it did not take the user name "
            f"{user!r} and its password: check both" if user else
            f"the server refused {what} with 401, asking for {wants}, and none is configured: set "
            "--username and --password (username, password = in the profile)")
        return error
    if found.facts.certificate_requested and profile.get("identity") is None:
        step.verdicts.append(f"the server asked for a client certificate and none was sent, then refused {what}")
        return error.copy_with(hint="the server asked for a client certificate; configure --identity FILE.p12 "
                               "(identity = in the profile)")
    if found.facts.certificate_requested:
        step.verdicts.append(f"the server refused {what} although we sent our client certificate: ask the "
                             "partner to register it for your account, for this path")
    else:
        step.verdicts.append(f"the server refused {what} on this path: check the login and this path's rights")
    return error


def _generic(step: Step, profile: Profile, connect: Callable[[], Adapter]) -> None:
    """Any other registered protocol: connect through its adapter, and list the root if it can."""
    from ..adapters.base import Capability

    with connect() as remote:
        step.facts["connected"] = True
        step.lines.append(f"connected with the {profile.scheme} adapter")
        # What the connection set-up established (SFTP: the host key and how it was trusted,
        # the login method, the certificate and principal used).
        for key, value in remote.connection_facts().items():
            step.facts[key] = value
            step.lines.append(f"{key.replace('_', ' ')}: {value}")
        if Capability.LS in remote.capabilities:
            entries = remote.ls("/")  # paths are under the connection root: the URL's path
            step.facts["entries"] = len(entries)
            step.lines.append(f"listing of the root: {len(entries)} entries")


def _as2(step: Step, profile: Profile, found: Probe, connect: Callable[[], Adapter]) -> None:
    exchange = found.exchange
    step.facts["endpoint_status"] = exchange.status if exchange else None
    step.lines.append(f"endpoint reachable over mutual TLS (GET answered HTTP {step.facts['endpoint_status']}); "
                      "nothing is posted to the inbox")
    with connect() as remote:
        options: Any = remote.settings.options
    signer = options.signing_identity
    partner = options.partner_certificate
    step.facts.update({
        "as2_from": options.as2_from, "as2_to": options.as2_to, "sign": options.sign,
        "encrypt": options.encrypt, "mdn": options.mdn,
        "signing_certificate": describe(signer.certificate) if signer is not None else None,
        "partner_certificate": describe(partner) if partner is not None else None,
    })
    step.lines.append(f"AS2-From {options.as2_from} -> AS2-To {options.as2_to}; sign {options.sign}, "
                      f"encrypt {options.encrypt}, MDN {options.mdn}")
    if signer is not None:
        step.lines.append(f"signing certificate: {signer.subject} ({time_left(signer.not_after)})")
    if partner is not None:
        step.lines.append(f"partner certificate: {partner.subject.rfc4514_string()} "
                          f"({time_left(partner.not_valid_after_utc)})")
        if partner.not_valid_after_utc < utc_now():
            raise ConfigError(
                f"the partner certificate {partner.subject.rfc4514_string()} expired on "
                f"{partner.not_valid_after_utc:%Y-%m-%d}",
                hint="ask the partner for their renewed certificate ([as2] partner_cert)",
            )
