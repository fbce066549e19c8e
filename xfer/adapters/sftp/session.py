"""One SSH connection and its SFTP channel, driven from synchronous code.

asyncssh is asynchronous; the adapter's verbs are not.  Each :class:`SSHSession` owns an
event loop on its own thread and runs each operation there (:meth:`SSHSession.run`), so
one adapter is one connection, as with the other protocols, and ``-P N`` opens N of them.

Server trust, in this order, never by default: a pinned host-key fingerprint (``pin``,
replaces known_hosts), else the known_hosts file (plain entries and ``@cert-authority``
lines; ``@revoked`` honoured).  An unknown key is refused with its fingerprint and the
exact line to add.  ``~/.ssh/config`` is not read: a profile says everything.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import getpass
import logging
import socket
import threading
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import asyncssh

from ...errors import (
    AuthenticationFailed,
    ClientCertificateRejected,
    ConnectError,
    ConnectionDropped,
    ConnectTimeout,
    PinMismatch,
    ServerCertificateUntrusted,
    TLSError,
    XferError,
)
from ...log import logger
from ...net import choose_proxy, open_tcp
from ...protocols.sftp import SPEC as SFTP_SPEC
from ...protocols.sftp import SFTPOptions, default_known_hosts
from ..base import ConnectionSettings
from .checkfile import start_sftp_client
from .keys import ClientKey, load_client_key

__all__ = ["PLAIN_HOST_KEY_ALGS", "HostKeyFacts", "SSHSession"]

_T = TypeVar("_T")
_log = logger("xfer.sftp")

#: The session loops' thread names start with this (see :class:`_WritesAfterLoss`).
_THREAD_PREFIX = "xfer-sftp-"


class _WritesAfterLoss(logging.Filter):
    """Drops asyncio's "socket.send() raised exception." from our session threads.

    After a cut, asyncio's transport has already reported the error (the connection is lost,
    and asyncssh raises that to the transfer); until asyncssh hears of it, the requests still
    queued go on writing into the dead transport, and from the fifth write on asyncio logs this
    line for each: dozens of them on the user's terminal per cut upload, saying nothing new.
    Records from other threads (the user's own asyncio code) pass untouched.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.msg == "socket.send() raised exception."
                    and (record.threadName or "").startswith(_THREAD_PREFIX))


logging.getLogger("asyncio").addFilter(_WritesAfterLoss())

#: Host key algorithms without certificates: asked for when a pin names the plain key, and to
#: learn an unknown server's key for the refusal message.
PLAIN_HOST_KEY_ALGS = (
    "ssh-ed25519", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521",
    "rsa-sha2-512", "rsa-sha2-256",
)
#: Ciphers, AES-GCM first: asyncssh runs GCM in one OpenSSL call per packet (AES-NI), and its
#: chacha20-poly1305 (asyncssh's own first choice) in several.  Measured against the bed's sshd,
#: client CPU per 256 MiB (median of 4): put 0.66 s GCM, 1.19 s chacha20, 0.72-0.84 s aes128-ctr
#: with an -etm MAC; get 0.85 / 1.24 / 0.93-0.97 s; aes128 and aes256-gcm alike.  All are AEAD or
#: encrypt-then-MAC, and in OpenSSH's default list (tests/test_sftp_cipher.py shows the choice).
ENCRYPTION_ALGS = (
    "aes128-gcm@openssh.com", "aes256-gcm@openssh.com", "chacha20-poly1305@openssh.com",
    "aes128-ctr", "aes192-ctr", "aes256-ctr",
)
#: Unanswered keepalive requests before the connection counts as dead (spread over ``timeout``).
KEEPALIVE_PROBES = 3
#: Seconds to wait for a goodbye to a server that may be gone.
_CLOSE_TIMEOUT = 5.0


@dataclass(frozen=True)
class HostKeyFacts:
    """How the server was trusted, for results and ``doctor``."""

    fingerprint: str
    trusted_by: str  # "pin", "known_hosts" (a plain key line), "known_hosts @cert-authority"
    auth: str  # "certificate", "key", "agent or default keys", "password"
    username: str


class _Client(asyncssh.SSHClient):
    """Sees the host key asyncssh could not match, to check a pin or quote it in the refusal."""

    def __init__(self, pin: str | None) -> None:
        self.pin = pin
        self.offered: asyncssh.SSHKey | None = None
        self.offered_ca: asyncssh.SSHKey | None = None

    def validate_host_public_key(self, host: str, addr: str, port: int, key: asyncssh.SSHKey) -> bool:
        self.offered = key
        return self.pin is not None and key.get_fingerprint("sha256").rstrip("=") == self.pin

    def validate_host_ca_key(self, host: str, addr: str, port: int, key: asyncssh.SSHKey) -> bool:
        self.offered_ca = key
        return False


class SSHSession:
    """An SSH connection with an SFTP client, on a private event loop thread."""

    def __init__(self, settings: ConnectionSettings) -> None:
        self.settings = settings
        self.options = settings.options_as(SFTPOptions)
        # As ssh: the user in the URL or profile, else the local login name.
        self.username = settings.username or self.options.url_username or getpass.getuser()
        self._loop = asyncio.new_event_loop()
        self._loop.set_exception_handler(_quiet)
        self._thread = threading.Thread(target=self._loop.run_forever, name=f"{_THREAD_PREFIX}{settings.server}",
                                        daemon=True)
        self._thread.start()
        self.conn: asyncssh.SSHClientConnection | None = None
        self.sftp: asyncssh.SFTPClient | None = None
        self.host_key: HostKeyFacts | None = None
        self.client_key: ClientKey | None = None
        try:
            key_file = self.options.key_file
            if key_file:
                self.client_key = self.options.loaded_key.get(
                    lambda: load_client_key(key_file, self.options.key_password, self.options.certificate))
            self.run(self._open())
        except BaseException:
            self.close()
            raise

    # -- running ------------------------------------------------------------------------------

    def run(self, work: Coroutine[Any, Any, _T], timeout: float | None = None) -> _T:
        """Run ``work`` on the session's loop and wait for it; Ctrl-C cancels it."""
        finished = threading.Event()

        async def tracked() -> _T:
            try:
                return await work
            finally:
                finished.set()

        future = asyncio.run_coroutine_threadsafe(tracked(), self._loop)
        try:
            return future.result(timeout)
        except KeyboardInterrupt:
            # The coroutine is cancelled on the loop, and given a moment to remove what it half
            # wrote (the upload's temp file on the server, the download's part file) before the
            # connection closes under it; Ctrl-C itself goes on, as with every other protocol.
            future.cancel()
            finished.wait(_CLOSE_TIMEOUT)
            raise
        except XferError:
            raise  # already worded (ConnectTimeout is a TimeoutError too: a stalled proxy's says so)
        except concurrent.futures.TimeoutError as exc:
            if future.done() or timeout is None:
                # The work's own timeout (the connect or login limit inside ``_open``): on Python
                # 3.11 and later this is the same class as the wait's, and only the wait's own
                # limit is worded here.
                raise connect_error(exc, self.settings.server) or exc from None
            future.cancel()
            raise ConnectTimeout(f"{self.settings.server} did not answer within {timeout:g} s",
                                 server=self.settings.server) from None

    def close(self) -> None:
        """Close the SFTP channel and the connection, then stop the loop.  Idempotent."""
        if self._loop.is_closed():
            return
        if self._loop.is_running():
            with contextlib.suppress(Exception):
                asyncio.run_coroutine_threadsafe(self._close(), self._loop).result(_CLOSE_TIMEOUT)
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(_CLOSE_TIMEOUT)
        if not self._thread.is_alive():
            self._loop.close()

    async def _close(self) -> None:
        sftp, self.sftp = self.sftp, None
        conn, self.conn = self.conn, None
        if sftp is not None:
            sftp.exit()
        if conn is not None:
            conn.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(conn.wait_closed(), _CLOSE_TIMEOUT)

    # -- opening --------------------------------------------------------------------------------

    def _known_hosts(self) -> str | bytes | tuple[list[Any], list[Any], list[Any]]:
        if self.options.pin:
            return ([], [], [])  # the pin alone decides (checked by _Client)
        path = Path(self.options.known_hosts) if self.options.known_hosts else default_known_hosts()
        return str(path) if path.is_file() else b""

    def _known_hosts_argument(self, proxied: bool) -> Any:
        """``known_hosts`` for asyncssh.  Through a proxy, a callable matching the host name only.

        asyncssh matches known_hosts lines by host name *or* by ``[peer address]:port``; through
        a proxy the peer is the proxy, so a line for the proxy's own address (the user once ssh'd
        to the proxy box) would vouch for the partner behind it.  The callable drops the address
        (as ``_listed_keys`` does); @cert-authority and @revoked lines still match the name.
        """
        known = self._known_hosts()
        if not proxied or not isinstance(known, str):
            return known
        table = asyncssh.read_known_hosts(known)

        def by_name(host: str, addr: str, port: int | None) -> Any:
            return table.match(host, "", port)

        return by_name

    def _auth_arguments(self) -> dict[str, Any]:
        options, settings = self.options, self.settings
        args: dict[str, Any] = {"password": settings.password}
        if self.client_key is not None:
            pair = self.client_key.key if self.client_key.certificate is None else (
                self.client_key.key, self.client_key.certificate)
            args.update(client_keys=[pair], agent_path=None)
        else:
            # As ssh does without -i: the agent, then ~/.ssh/id_* (encrypted ones are skipped).
            args.update(ignore_encrypted=True)
            if not options.agent:
                args["agent_path"] = None
        return args

    async def _tunnel(self) -> socket.socket | None:
        """A TCP connection to the server through the proxy (the ``proxy`` option, else
        ``ALL_PROXY`` unless ``NO_PROXY`` names the host, as FTPS reads them); None: direct.

        asyncssh runs SSH over the connected socket; the host name it is given still decides
        the host-key check (known_hosts, pins), exactly as on a direct connection.
        """
        proxy = choose_proxy(self.settings.proxy, self.settings.host, environment=SFTP_SPEC.proxy_environment)
        if proxy is None:
            return None
        _log.debug("sftp: %s through the proxy %s", self.settings.server, proxy)
        settings = self.settings
        # open_tcp blocks (connect, CONNECT/SOCKS exchange): off the loop's thread, within the timeout.
        return await _in_daemon_thread(lambda: open_tcp(settings.host, settings.port, settings.timeout, proxy=proxy))

    async def _open(self) -> None:
        settings, options = self.settings, self.options
        client = _Client(options.pin)
        extra: dict[str, Any] = {}
        if options.pin:
            extra["server_host_key_algs"] = list(PLAIN_HOST_KEY_ALGS)
        sock = await self._tunnel()  # its errors (proxy unreachable, tunnel refused) are xfer's already
        try:
            conn, _ = await asyncssh.create_connection(
                lambda: client, settings.host, settings.port, sock=sock, username=self.username,
                known_hosts=self._known_hosts_argument(proxied=sock is not None), config=None,
                connect_timeout=settings.timeout,
                encryption_algs=list(ENCRYPTION_ALGS),
                # A server that stops answering (a dead link, a NAT that forgot us) is dropped
                # after about `timeout` seconds instead of hanging a transfer for ever.
                keepalive_interval=max(settings.timeout / KEEPALIVE_PROBES, 1.0),
                keepalive_count_max=KEEPALIVE_PROBES,
                login_timeout=settings.timeout, **self._auth_arguments(), **extra,
            )
        except asyncssh.HostKeyNotVerifiable as exc:
            raise await self._untrusted(client, exc) from exc
        except asyncssh.KeyExchangeFailed as exc:
            if options.pin or _HOST_KEY_ALGORITHMS not in str(exc.reason):
                raise connect_error(exc, settings.server) or exc from exc
            # known_hosts holds only a CA for this host and the server shows a plain key: asyncssh
            # then offers certificate algorithms alone, and none match.  Not a cipher question but
            # an untrusted host key (review G): said as one, with the line that would trust it.
            raise await self._untrusted(client, asyncssh.HostKeyNotVerifiable(str(exc.reason))) from exc
        except asyncssh.PermissionDenied as exc:
            raise self._refused(exc) from exc
        except XferError:
            raise
        except BaseException as exc:
            error = connect_error(exc, settings.server)
            if error is None:
                raise
            raise error from exc
        self.conn = conn
        key = conn.get_server_host_key()  # for a host certificate: the key it certifies
        fingerprint = key.get_fingerprint("sha256").rstrip("=") if key is not None else "?"
        trusted_by = "pin" if options.pin else (
            "known_hosts" if fingerprint in self._listed_keys() else "known_hosts @cert-authority")
        self.host_key = HostKeyFacts(
            fingerprint=fingerprint,
            trusted_by=trusted_by,
            auth=self._auth_kind(),
            username=self.username,
        )
        try:
            # Undecodable names (a Latin-1 server) arrive with lone surrogates instead of failing
            # the whole listing, and paths are encoded the same way: they go back as the bytes sent.
            # (checkfile.start_sftp_client: asyncssh's, keeping what the server says of check-file.)
            self.sftp = await start_sftp_client(conn, path_errors="surrogateescape")
        except (asyncssh.Error, OSError) as exc:
            raise ConnectionDropped(f"{settings.server} refused the SFTP subsystem: {exc}",
                                    hint="the account may be shell-only; ask for SFTP access",
                                    server=settings.server) from exc

    async def _plain_host_key(self) -> asyncssh.SSHKey | None:
        settings = self.settings
        return await asyncssh.get_server_host_key(settings.host, settings.port, sock=await self._tunnel(),
                                                  server_host_key_algs=list(PLAIN_HOST_KEY_ALGS))

    def _auth_kind(self) -> str:
        if self.client_key is not None:
            return "certificate" if self.client_key.certificate is not None else "key"
        return "password" if self.settings.password else "agent or default keys"

    async def _untrusted(self, client: _Client, exc: asyncssh.HostKeyNotVerifiable) -> XferError:
        """The refusal of a host key: its fingerprint and the known_hosts line that would trust it."""
        settings, server = self.settings, self.settings.server
        key = client.offered
        if key is None:
            # It showed a certificate from a CA we do not trust: ask for its plain key to quote it.
            with contextlib.suppress(Exception):
                # Through the proxy too, as the refused connection went.
                key = await asyncio.wait_for(self._plain_host_key(), settings.timeout)
        ca = client.offered_ca
        signed = f" (its host certificate is signed by {ca.get_fingerprint('sha256').rstrip('=')}, a CA " \
                 "known_hosts does not trust)" if ca is not None else ""
        if key is None:
            return ServerCertificateUntrusted(
                f"{server}: the SSH host key is not trusted ({exc.reason}){signed}", server=server)
        fingerprint = key.get_fingerprint("sha256").rstrip("=")
        if self.options.pin:
            return PinMismatch(
                f"{server}: the SSH host key is {fingerprint}, not the pinned {self.options.pin}",
                hint="if the server's key really changed, check the new fingerprint with its administrator",
                server=server,
            )
        where = self.options.known_hosts or "~/.ssh/known_hosts"
        listed, revoked = self._listed_keys(), self._listed_keys(revoked=True)
        if fingerprint in revoked:
            return ServerCertificateUntrusted(
                f"{server}: the SSH host key {key.get_algorithm()} {fingerprint} is marked @revoked in {where}",
                hint="a revoked key is never trusted; ask the server's administrator why it still uses it",
                server=server,
            )
        if listed:
            # known_hosts names another key for this very host: a new server, or someone in between.
            return ServerCertificateUntrusted(
                f"{server}: the SSH host key has CHANGED: the server shows {key.get_algorithm()} {fingerprint}, "
                f"{where} lists {', '.join(listed)}",
                hint="this can be an attack (someone between you and the server); only if the server's "
                f"administrator confirms the new key, replace the old line in {where}",
                server=server,
            )
        host = settings.host if settings.port == 22 else f"[{settings.host}]:{settings.port}"
        line = f"{host} {key.export_public_key('openssh').decode().strip()}"
        return ServerCertificateUntrusted(
            f"{server}: unknown SSH host key {key.get_algorithm()} {fingerprint}{signed}; xfer does not "
            "trust it without your word",
            hint=f"check the fingerprint with the server's administrator, then add this line to {where}: "
            f"{line}   (or pin it: --pin {fingerprint})",
            server=server,
        )

    def _listed_keys(self, *, revoked: bool = False) -> list[str]:
        """Fingerprints of the plain keys known_hosts trusts for this host (none: it is unknown),
        or with ``revoked`` those it marks ``@revoked``; each once (the host and its address may
        match one line twice)."""
        known = self._known_hosts()
        if not isinstance(known, str):
            return []
        settings = self.settings
        try:
            matched = asyncssh.match_known_hosts(known, settings.host, settings.host,
                                                 None if settings.port == 22 else settings.port)
        except (OSError, ValueError):
            return []
        keys = matched[2] if revoked else matched[0]
        return list(dict.fromkeys(key.get_fingerprint("sha256").rstrip("=") for key in keys))

    def _refused(self, exc: asyncssh.PermissionDenied) -> XferError:
        """The server refused every way we offered to log in: say which, and what likely went wrong."""
        server, user, key = self.settings.server, self.username, self.client_key
        if key is not None and key.facts is not None:
            facts = key.facts
            if facts.principals and user not in facts.principals:
                return ClientCertificateRejected(
                    f"{server} refused the SSH certificate (key ID {facts.key_id!r}) for user {user!r}: "
                    f"its principals are {', '.join(facts.principals)}",
                    hint=f"log in as one of those names, or ask the CA for a certificate with principal {user!r}",
                    server=server,
                )
            return ClientCertificateRejected(
                f"{server} refused the SSH certificate (key ID {facts.key_id!r}, signed by "
                f"{facts.ca_fingerprint}) for user {user!r}",
                hint="the server must trust that CA (sshd: TrustedUserCAKeys) and the principal",
                server=server,
            )
        offered = "the key " + key.path if key is not None else (
            "the password" if self.settings.password else "the agent's and ~/.ssh keys")
        return AuthenticationFailed(
            f"{server} refused the login of {user!r} with {offered}",
            hint="check the user name, key (--identity) or password (--password REF)",
            server=server,
        )


async def _in_daemon_thread(call: Callable[[], socket.socket]) -> socket.socket:
    """``call()`` on a daemon thread of its own, awaited; its socket is closed if nobody takes it.

    Not ``asyncio.to_thread``: the loop's default executor is joined at interpreter exit, so a
    proxy that stalls the CONNECT would hold Ctrl-C's exit until the timeout; and a task
    cancelled meanwhile would leak the socket the thread returns later.
    """
    loop = asyncio.get_running_loop()
    future: asyncio.Future[socket.socket] = loop.create_future()
    abandoned = threading.Event()  # the awaiting task was cancelled (the loop may be stopped by now)

    def deliver(sock: socket.socket | None, error: BaseException | None) -> None:
        if future.cancelled():
            if sock is not None:
                sock.close()  # the awaiting task gave up: nobody else will close it
        elif error is not None:
            future.set_exception(error)
        elif sock is not None:
            future.set_result(sock)

    def work() -> None:
        sock: socket.socket | None = None
        error: BaseException | None = None
        try:
            sock = call()
        except BaseException as exc:  # handed to the awaiting task, re-raised there
            error = exc
        if abandoned.is_set():
            if sock is not None:
                sock.close()
            return
        try:
            loop.call_soon_threadsafe(deliver, sock, error)
        except RuntimeError:  # the loop is closed: the session is gone
            if sock is not None:
                sock.close()

    threading.Thread(target=work, name=f"{_THREAD_PREFIX}tcp", daemon=True).start()
    try:
        return await future
    except asyncio.CancelledError:
        abandoned.set()
        raise


def _quiet(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    """asyncio's report of an error nobody awaited: after Ctrl-C that is the abandoned transfer,
    whose connection was closed under it.  It goes to the debug log, not to the user's terminal."""
    _log.debug("sftp: %s", context.get("message"), exc_info=context.get("exception"))


#: What asyncssh says when no host-key algorithm of ours matches the server's.
_HOST_KEY_ALGORITHMS = "compatible server host key"


def connect_error(exc: BaseException, server: str) -> XferError | None:
    """A network or SSH transport failure as an xfer error, or None if it is neither."""
    if isinstance(exc, asyncio.TimeoutError | TimeoutError):
        return ConnectTimeout(f"{server} did not answer in time", server=server)
    if isinstance(exc, asyncssh.KeyExchangeFailed):
        return TLSError(f"{server}: SSH key exchange failed ({exc.reason})",
                        hint="the server offers no algorithm xfer accepts", server=server)
    if isinstance(exc, asyncssh.DisconnectError):
        return ConnectionDropped(f"{server} closed the SSH connection: {exc.reason}", server=server)
    if isinstance(exc, ConnectionRefusedError):
        return ConnectError(f"{server} refused the connection (nothing listens there?)", server=server)
    if isinstance(exc, OSError):
        return ConnectError(f"cannot connect to {server}: {exc.strerror or exc}", server=server)
    return None
