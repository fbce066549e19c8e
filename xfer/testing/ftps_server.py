"""An in-process FTPS server that requires client certificates (pyftpdlib + pyOpenSSL).

For xfer's tests, ``xfer demo`` and users' own tests::

    with FTPSServer(pki, root=folder, implicit=False, tls_max="1.3") as srv:
        remote = xfer.connect(srv.url, identity=..., ca=pki.root_ca,
                              username=srv.user, password=...)
        # or, with a context from xfer.tls.create_ssl_context:
        with srv.adapter(context) as remote: ...

It behaves like a strict production server: TLS 1.2+ only, a client certificate
issued under the PKI's root is mandatory, and (like vsftpd's default
``require_ssl_reuse=YES``) a data connection that does not resume the control
connection's TLS session is refused with ``522``.  What the server saw is
recorded for assertions: :attr:`FTPSServer.commands` (every command line, as
received) and :attr:`FTPSServer.data_sessions` (resumed or not, per data
connection).

pyftpdlib has no implicit FTPS; here it is added by starting the TLS handshake
before the greeting and sending the greeting once the handshake is done.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import logging
import os
import socket
import threading
import zlib
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from OpenSSL import SSL
from OpenSSL._util import lib as _openssl_lib
from pyftpdlib.authorizers import DummyAuthorizer
from pyftpdlib.exceptions import _FileReadWriteError
from pyftpdlib.handlers import TLS_FTPHandler
from pyftpdlib.handlers.ftps.data import TLS_DTPHandler
from pyftpdlib.ioloop import IOLoop
from pyftpdlib.log import logger
from pyftpdlib.servers import FTPServer

from ._ftps_endpoint import FTPSEndpoint
from ._serving import InProcessServer

if TYPE_CHECKING:
    from .pki import TestPKI

__all__ = ["FTPSServer", "hashing_handler"]

_TLS_VERSIONS = {"1.2": SSL.TLS1_2_VERSION, "1.3": SSL.TLS1_3_VERSION}

#: Every permission pyftpdlib knows: list, read, write, delete, rename, mkdir, ...
ALL_PERMISSIONS = "elradfmwMT"


class FTPSServer(FTPSEndpoint, InProcessServer):
    """A threaded pyftpdlib FTPS server; a context manager.  See the module docstring.

    ``handler_class`` lets a test change server behaviour (refuse AUTH, answer 552...):
    pass a subclass of :class:`pyftpdlib.handlers.TLS_FTPHandler`; ``handler_attrs``
    sets class attributes such as ``masquerade_address`` (the address in PASV replies).
    ``certificate`` is a (chain PEM, key PEM) pair replacing the PKI's server certificate.
    ``session_timeout`` (seconds) is how long the server resumes a TLS session (OpenSSL's
    default: two hours): a short one shows what a long run meets when the control
    connection's session leaves the server's cache and session reuse is required.
    """

    def __init__(
        self,
        pki: TestPKI,
        *,
        root: str | Path,
        implicit: bool = False,
        host: str = "127.0.0.1",
        port: int = 0,
        tls_min: str = "1.2",
        tls_max: str | None = None,
        user: str = "xfer",
        password: str = "xfer-ftp-password",
        permissions: str = ALL_PERMISSIONS,
        require_client_certificate: bool = True,
        require_session_reuse: bool = True,
        handler_class: type[Any] = TLS_FTPHandler,
        handler_attrs: Mapping[str, Any] | None = None,
        certificate: tuple[str | Path, str | Path] | None = None,
        session_timeout: int | None = None,
    ) -> None:
        self._endpoint(pki, root, implicit=implicit, host=host, user=user, password=password)
        self.require_session_reuse = require_session_reuse
        self._certificate = certificate or (pki.server_cert, pki.server_key)
        #: Command lines the server received, in order, including PASS (this is a test server).
        self.commands: list[str] = []
        #: For each data connection that completed its TLS handshake: was the session resumed?
        self.data_sessions: list[bool] = []
        self._context = self._ssl_context(tls_min, tls_max, require_client_certificate)
        if session_timeout is not None:
            self._context.set_timeout(session_timeout)
        self._handler = self._handler_class(handler_class, dict(handler_attrs or {}), permissions)
        self._requested_port = port
        self._server: FTPServer | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._drop = threading.Event()

    # -- public API -------------------------------------------------------------------

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the server is not running")
        port: int = self._server.socket.getsockname()[1]
        return port

    def start(self) -> FTPSServer:
        """Listen and serve in a daemon thread.  Returns self."""
        if self._server is not None:
            return self
        self._stop.clear()
        # pyftpdlib configures logging to stderr (INFO, one line per command) when it sees
        # no handler; a NullHandler keeps `xfer demo` quiet and leaves the choice to the app.
        pyftpdlib_logger = logging.getLogger("pyftpdlib")
        if not pyftpdlib_logger.handlers:
            pyftpdlib_logger.addHandler(logging.NullHandler())
        # A private IOLoop: pyftpdlib's default is a process-wide singleton, and two
        # servers (explicit + implicit) in one process must not share it.
        self._server = FTPServer((self.host, self._requested_port), self._handler, ioloop=IOLoop())
        self._thread = threading.Thread(target=self._serve, name=f"xfer-ftps-{self.port}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Close every connection and the listening socket; wait for the thread."""
        if self._server is None:
            return
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._server = None
        self._thread = None

    def drop_connections(self) -> None:
        """Cut every client connection abruptly (TCP reset, no TLS close), as a network failure would."""
        self._drop.set()

    def __repr__(self) -> str:
        state = self.url if self._server is not None else "stopped"
        return f"FTPSServer({state}, root={str(self.root)!r})"

    # -- internals ----------------------------------------------------------------------

    def _serve(self) -> None:
        server = self._server
        assert server is not None
        try:
            while not self._stop.is_set():
                # One loop pass at a time (not serve_forever, which logs a start banner per
                # call) so that stop() and drop_connections() are noticed within 50 ms.
                server.ioloop.loop(0.05, blocking=False)
                if self._drop.is_set():
                    self._drop.clear()
                    self._cut_all(server)
        finally:
            server.close_all()

    @staticmethod
    def _cut_all(server: FTPServer) -> None:
        for handler in list(server.ioloop.socket_map.values()):
            if handler is server:
                continue
            sock = getattr(handler, "socket", None)
            raw = sock._socket if isinstance(sock, SSL.Connection) else sock
            if isinstance(raw, socket.socket):
                with contextlib.suppress(OSError):
                    # SO_LINGER 0: close sends RST, the way a crashed server or cut cable looks.
                    raw.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
            handler._error = True  # skip pyftpdlib's polite TLS shutdown
            with contextlib.suppress(Exception):
                handler.close()

    def _ssl_context(self, tls_min: str, tls_max: str | None, require_cert: bool) -> SSL.Context:
        pki = self.pki
        ctx = SSL.Context(SSL.TLS_SERVER_METHOD)
        # TLS 1.0/1.1 are banned by RFC 8996; compression invites CRIME.
        ctx.set_min_proto_version(_TLS_VERSIONS[tls_min])
        if tls_max is not None:
            ctx.set_max_proto_version(_TLS_VERSIONS[tls_max])
        ctx.set_options(SSL.OP_NO_COMPRESSION)
        cert, key = self._certificate
        ctx.use_certificate_chain_file(str(cert))
        ctx.use_privatekey_file(str(key))
        ctx.check_privatekey()
        ctx.load_verify_locations(str(pki.root_ca))
        if require_cert:
            ctx.set_verify(SSL.VERIFY_PEER | SSL.VERIFY_FAIL_IF_NO_PEER_CERT, _accept_verified)
            # The CertificateRequest names the root, so clients can say what is accepted.
            ctx.load_client_ca(str(pki.root_ca).encode())
        # OpenSSL refuses to resume sessions of a context that verifies clients unless
        # it has a session id context; without it every data connection would be "new".
        ctx.set_session_id(b"xfer-testing-ftps")
        return ctx

    def _handler_class(self, base: type[Any], attrs: dict[str, Any], permissions: str) -> type[Any]:
        authorizer = DummyAuthorizer()
        authorizer.add_user(self.user, self.password, str(self.root), perm=permissions)
        owner = self

        class DataHandler(TLS_DTPHandler):  # type: ignore[misc]
            def handle_error(self) -> None:
                # pyftpdlib's TLS mixin replaces the data handler's error handling and so
                # never answers at all when writing the file fails: the client would see
                # only a dropped connection.  Answer like proftpd does.
                try:
                    raise  # noqa: PLE0704 - re-raise the exception being handled
                except _FileReadWriteError as err:
                    cause = err.__cause__ if isinstance(err.__cause__, OSError) else err
                    code = 452 if cause.errno in (errno.ENOSPC, errno.EDQUOT) else 426
                    why = os.strerror(cause.errno) if cause.errno else "write error"
                except Exception:
                    self.log_exception(self)
                    code, why = 426, "Internal error"
                self._resp = (f"{code} Transfer aborted. {why}", logger.warning)
                self.transfer_finished = False
                self._error = True
                self.close()

            def send(self, data: bytes) -> int:
                # pyftpdlib may push a download before the handshake has finished; SSL_write
                # would then complete the handshake itself and send data before the reuse
                # check below ever ran.  Finish the handshake (and the check) first.
                if self._ssl_requested and not self._ssl_established:
                    self._do_ssl_handshake()
                    if not self._ssl_established or self._closed:
                        return 0
                sent: int = super().send(data)
                return sent

            def handle_ssl_established(self) -> None:
                resumed = bool(_openssl_lib.SSL_session_reused(self.socket._ssl))
                owner.data_sessions.append(resumed)
                if owner.require_session_reuse and not resumed:
                    # vsftpd's exact words, so clients see what they would see in production.
                    # Set as *the* closing reply, so that no "226" can follow it.
                    self._resp = ("522 SSL connection failed: session reuse required", logger.warning)
                    self.transfer_finished = False
                    self._error = True
                    self.close()

        class Handler(base):  # type: ignore[misc]
            implicit_tls = owner.implicit
            _greeted = False

            def handle(self) -> None:
                if self.implicit_tls:
                    # Implicit FTPS: TLS first; the greeting follows the handshake.
                    self.secure_connection(self.ssl_context)
                else:
                    super().handle()

            def handle_ssl_established(self) -> None:
                if self.implicit_tls and not self._greeted:
                    self._greeted = True
                    super().handle()

            def pre_process_command(self, line: str, cmd: str, arg: str) -> None:
                owner.commands.append(line)
                super().pre_process_command(line, cmd, arg)

        Handler.__name__ = f"{base.__name__}ForXfer"
        Handler.authorizer = authorizer
        Handler.ssl_context = self._context
        Handler.dtp_handler = DataHandler
        Handler.tls_control_required = True
        Handler.tls_data_required = True
        Handler.banner = "xfer test FTPS server ready."
        Handler.timeout = 120
        # pyftpdlib waits 3 s before answering a failed login (a brute-force brake); a test
        # server has nothing to protect and every wrong-password test would pay for it.
        Handler.auth_failed_timeout = 0.1
        for name, value in attrs.items():
            setattr(Handler, name, value)
        return Handler


#: What :func:`hashing_handler` can compute: draft-bryan-ftpext-hash name -> hashlib/zlib.
_HASHES: dict[str, Callable[[bytes], str]] = {
    "SHA-1": lambda data: hashlib.sha1(data, usedforsecurity=False).hexdigest(),
    "SHA-256": lambda data: hashlib.sha256(data).hexdigest(),
    "MD5": lambda data: hashlib.md5(data, usedforsecurity=False).hexdigest(),
    "CRC32": lambda data: f"{zlib.crc32(data):08x}",
}
#: The legacy commands (proftpd's mod_digest) and the hash each answers with.
_LEGACY = {"XSHA1": "SHA-1", "XSHA256": "SHA-256", "XMD5": "MD5", "XCRC": "CRC32"}


def hashing_handler(
    commands: Iterable[str] = ("HASH", "XSHA256", "XMD5", "XCRC"),
    *,
    algorithms: Iterable[str] = ("SHA-1", "SHA-256", "MD5", "CRC32"),
    lie: bool = False,
    busy: int = 0,
) -> type[Any]:
    """A handler class (for ``FTPSServer(handler_class=...)``) that hashes files as proftpd's mod_digest does.

    ``commands`` are announced in FEAT and answered: ``HASH`` (draft-bryan-ftpext-hash:
    ``FEAT`` lists ``HASH SHA-1*;SHA-256;...`` with ``*`` on the current one, ``OPTS HASH NAME``
    selects, the reply is ``213 NAME 0-SIZE HEX PATH``) over ``algorithms``, and the legacy
    ``XSHA1``/``XSHA256``/``XMD5``/``XCRC`` (reply ``250 HEX``).  ``lie`` makes every hash
    that of other bytes: a server whose stored copy differs from what was sent.  Files are
    read whole: this is for tests with small files.  ``busy``: the first that many hash commands
    (per server) are answered ``450`` (a temporary refusal: the server is busy hashing).
    """
    refusals = [busy]
    offered = tuple(name for name in ("SHA-1", "SHA-256", "MD5", "CRC32") if name in set(algorithms))
    wanted = tuple(c.upper() for c in commands)

    def digest(path: str, algorithm: str) -> str:
        with open(path, "rb") as handle:
            data = handle.read()
        return _HASHES[algorithm](data + b"(not what was sent)" if lie else data)

    class HashingHandler(TLS_FTPHandler):  # type: ignore[misc]
        proto_cmds: ClassVar[dict[str, Any]] = {
            **TLS_FTPHandler.proto_cmds,
            **{name: {"perm": "r", "auth": True, "arg": True, "help": f"Syntax: {name} <SP> file-name"}
               for name in wanted},
        }

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._hash_algorithm: str = offered[0] if offered else "SHA-256"
            for name in wanted:
                if name == "HASH":
                    self._extra_feats.append(
                        "HASH " + ";".join(a + ("*" if a == self._hash_algorithm else "") for a in offered)
                    )
                else:
                    self._extra_feats.append(name)

        def ftp_OPTS(self, line: str) -> None:
            cmd, _, arg = line.partition(" ")
            if cmd.upper() != "HASH" or "HASH" not in wanted:
                super().ftp_OPTS(line)
                return
            if not arg:
                self.respond(f"200 {self._hash_algorithm}")
            elif arg.upper() in offered:
                self._hash_algorithm = arg.upper()
                self.respond(f"200 {self._hash_algorithm}")
            else:
                self.respond("504 Unsupported hash algorithm.")

        def _hash_reply(self, path: str, algorithm: str, legacy: bool) -> None:
            if refusals[0] > 0:
                refusals[0] -= 1
                self.respond("450 Too many hash requests, try again later.")
                return
            if not os.path.isfile(path):
                self.respond("550 Not a regular file.")
                return
            value = digest(path, algorithm)
            if legacy:
                self.respond(f"250 {value}")
            else:
                self.respond(f"213 {algorithm} 0-{os.path.getsize(path)} {value} {self.fs.fs2ftp(path)}")

        def ftp_HASH(self, path: str) -> None:
            self._hash_reply(path, self._hash_algorithm, legacy=False)

        def ftp_XSHA1(self, path: str) -> None:
            self._hash_reply(path, _LEGACY["XSHA1"], legacy=True)

        def ftp_XSHA256(self, path: str) -> None:
            self._hash_reply(path, _LEGACY["XSHA256"], legacy=True)

        def ftp_XMD5(self, path: str) -> None:
            self._hash_reply(path, _LEGACY["XMD5"], legacy=True)

        def ftp_XCRC(self, path: str) -> None:
            self._hash_reply(path, _LEGACY["XCRC"], legacy=True)

    return HashingHandler


def _accept_verified(conn: SSL.Connection, cert: Any, errnum: int, depth: int, ok: int) -> bool:
    """pyOpenSSL's verify callback: keep OpenSSL's own verdict."""
    return bool(ok)
