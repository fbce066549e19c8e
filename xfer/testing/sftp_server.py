"""An in-process SFTP server (asyncssh) and a throwaway SSH PKI: user CA, host key, host certificate.

For xfer's tests, ``xfer demo`` and users' own tests::

    keys = create_ssh_keys(folder / "ssh")
    with SFTPServer(keys, root=folder / "files") as srv:
        remote = xfer.connect(srv.url, identity=str(keys.client_key),
                              identity_password=f"file:{keys.passphrase_file}")

Like a strict OpenSSH server with ``TrustedUserCAKeys``: the user ``xfer`` logs in with a
certificate signed by the user CA whose principals name it (or, if the test allows, with a
plain authorized key or a password).  The host key has a certificate from the host CA, and
:attr:`SSHTestKeys.known_hosts_ca` trusts that CA (``@cert-authority``) while
:meth:`SSHTestKeys.known_hosts_line` trusts the plain key.  Files live under ``root``
(the server chroots there).  What the server saw: :attr:`SFTPServer.logins`.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import threading
import time
import warnings
import zlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import asyncssh
import asyncssh.sftp
from asyncssh.constants import FXP_EXTENDED, FXP_WRITE
from asyncssh.packet import PacketDecodeError, SSHPacket, String
from asyncssh.sftp import MIN_SFTP_VERSION
from asyncssh.stream import SSHReader, SSHServerStreamSession, SSHWriter

__all__ = ["CheckFileServer", "SFTPServer", "SSHTestKeys", "VariantServer", "create_ssh_keys"]

#: The passphrase of the test client key (a test secret, never a real one).
PASSPHRASE = "xfer-ssh-test-passphrase"
USER = "xfer"
_DAY = 86400
#: The names the host certificate is for: the server, and the fault proxy in front of it
#: (:data:`xfer.testing.faults.PROXY_HOST`), so a cut test trusts the host as any other does.
_HOST_NAMES = ("127.0.0.1", "localhost", "127.0.0.2")


@dataclass(frozen=True)
class SSHTestKeys:
    """Files of a throwaway SSH PKI (paths; all keys ed25519)."""

    __test__ = False

    folder: Path
    user_ca: Path  # private key of the user CA (its .pub beside it)
    host_ca: Path
    host_key: Path
    host_cert: Path  # host certificate, principals 127.0.0.1, localhost and 127.0.0.2 (the fault proxy)
    client_key: Path  # encrypted with PASSPHRASE; client_key-cert.pub beside it: principal "xfer"
    passphrase_file: Path
    plain_key: Path  # unencrypted, no certificate (for authorized-keys logins)
    expired_key: Path  # its certificate expired yesterday
    other_principal_key: Path  # its certificate names "someone-else"
    known_hosts_ca: Path  # "@cert-authority 127.0.0.1,localhost,127.0.0.2,... HOST-CA"

    @property
    def client_cert(self) -> Path:
        return Path(f"{self.client_key}-cert.pub")

    def host_public_key(self) -> asyncssh.SSHKey:
        return asyncssh.read_private_key(str(self.host_key)).convert_to_public()

    def host_fingerprint(self) -> str:
        """``SHA256:...`` of the plain host key, as ssh-keygen -l prints it."""
        return str(self.host_public_key().get_fingerprint("sha256")).rstrip("=")

    def known_hosts_line(self, host: str, port: int) -> str:
        """The known_hosts line that trusts the plain host key at ``host:port``."""
        name = host if port == 22 else f"[{host}]:{port}"
        return f"{name} {self.host_public_key().export_public_key('openssh').decode().strip()}\n"


#: bcrypt rounds of the encrypted test key: ssh-keygen's default (``-a 16``), as users' keys
#: have.  asyncssh writes 128 by default, a second of KDF for every key load of the test run.
KEY_ROUNDS = 16


def _write_key(key: asyncssh.SSHKey, path: Path, passphrase: str | None = None) -> Path:
    with warnings.catch_warnings():
        # bcrypt warns below 50 rounds when it writes; ssh-keygen's keys have 16, and xfer
        # must read those.
        warnings.filterwarnings("ignore", message=".*bcrypt.kdf", category=UserWarning)
        key.write_private_key(str(path), passphrase=passphrase, rounds=KEY_ROUNDS)
    path.chmod(0o600)
    key.write_public_key(str(path) + ".pub")
    return path


def _user_cert(ca: asyncssh.SSHKey, key: asyncssh.SSHKey, path: Path, principals: list[str], *,
               key_id: str, valid: tuple[float, float]) -> None:
    cert = ca.generate_user_certificate(key, key_id, principals=principals, valid_after=int(valid[0]),
                                        valid_before=int(valid[1]))
    cert.write_certificate(str(path) + "-cert.pub")


def create_ssh_keys(folder: str | Path, *, user: str = USER) -> SSHTestKeys:
    """Generate the SSH PKI into ``folder`` (reused if already there); certificates name ``user``."""
    where = Path(folder)
    where.mkdir(parents=True, exist_ok=True)
    keys = SSHTestKeys(
        folder=where, user_ca=where / "user_ca", host_ca=where / "host_ca", host_key=where / "host_key",
        host_cert=where / "host_key-cert.pub", client_key=where / "client_key",
        passphrase_file=where / "passphrase.txt", plain_key=where / "plain_key",
        expired_key=where / "expired_key", other_principal_key=where / "other_principal_key",
        known_hosts_ca=where / "known_hosts_ca",
    )
    if keys.known_hosts_ca.exists():
        return keys
    now = time.time()
    user_ca = asyncssh.generate_private_key("ssh-ed25519", comment="xfer test user CA")
    host_ca = asyncssh.generate_private_key("ssh-ed25519", comment="xfer test host CA")
    _write_key(user_ca, keys.user_ca)
    _write_key(host_ca, keys.host_ca)
    host = asyncssh.generate_private_key("ssh-ed25519")
    _write_key(host, keys.host_key)
    host_ca.generate_host_certificate(host, "xfer-test-host", principals=[*_HOST_NAMES],
                                      valid_after=int(now - _DAY), valid_before=int(now + 3650 * _DAY)
                                      ).write_certificate(str(keys.host_cert))
    client = asyncssh.generate_private_key("ssh-ed25519", comment="xfer test client")
    _write_key(client, keys.client_key, PASSPHRASE)
    _user_cert(user_ca, client, keys.client_key, [user], key_id="xfer-test-user",
               valid=(now - _DAY, now + 3650 * _DAY))
    _write_key(asyncssh.generate_private_key("ssh-ed25519"), keys.plain_key)
    expired = asyncssh.generate_private_key("ssh-ed25519")
    _write_key(expired, keys.expired_key)
    _user_cert(user_ca, expired, keys.expired_key, [user], key_id="xfer-expired", valid=(now - 3 * _DAY, now - _DAY))
    other = asyncssh.generate_private_key("ssh-ed25519")
    _write_key(other, keys.other_principal_key)
    _user_cert(user_ca, other, keys.other_principal_key, ["someone-else"], key_id="xfer-other-principal",
               valid=(now - _DAY, now + 3650 * _DAY))
    keys.passphrase_file.write_text(PASSPHRASE)
    keys.passphrase_file.chmod(0o600)
    ca_line = host_ca.export_public_key("openssh").decode().strip()
    patterns = ",".join([*_HOST_NAMES, *(f"[{name}]:*" for name in _HOST_NAMES)])
    keys.known_hosts_ca.write_text(f"@cert-authority {patterns} {ca_line}\n")
    return keys


class VariantServer(asyncssh.SFTPServer):
    """asyncssh's SFTP server, changed in ways the protocol allows and other servers differ in:
    for each server fact xfer relies on, the other legal variant.  Set the knobs in a subclass;
    use as ``SFTPServer(..., sftp_class=...)``.

    - :attr:`extensions`: the extensions named in SSH_FXP_VERSION (None: asyncssh's own,
      OpenSSH's set; ``()``: none, as many Windows and commercial servers: no
      ``posix-rename@openssh.com``, so RENAME never replaces, SFTP v3 semantics).
    - :attr:`parallel_writes`: WRITEs are carried out concurrently, each answered when it is
      done (draft-ietf-secsh-filexfer-02 §6.1: "the server may process non-overlapping
      read/write requests to the same file in parallel"); a later one may be confirmed, and
      on disk, before an earlier one.  Any other request waits for the WRITEs before it.
    - :attr:`listing_attrs`: READDIR names carry attributes; off, each carries none (flags 0,
      only the longname describes it), which SFTP v3 allows.
    - :attr:`stat_size`: STAT, LSTAT and FSTAT state the size; off, they leave it out (the
      SIZE flag is optional in v3).
    - :attr:`case_insensitive`: names match whatever their case, and keep the case they were
      made with (Windows-backed servers); a RENAME that changes only the case of a name does so.
    """

    extensions: ClassVar[tuple[bytes, ...] | None] = None
    parallel_writes: ClassVar[bool] = False
    listing_attrs: ClassVar[bool] = True
    stat_size: ClassVar[bool] = True
    case_insensitive: ClassVar[bool] = False

    def map_path(self, path: bytes) -> bytes:
        mapped = super().map_path(path)
        if not self.case_insensitive:
            return mapped
        # Each level resolved to the name on disk that matches it whatever the case; a level
        # that matches none keeps the case asked for (a name being made).
        root = super().map_path(b"/")
        real = root
        for part in os.path.relpath(mapped, root).split(b"/"):
            if part == b".":
                continue
            try:
                names = os.listdir(real)
            except OSError:
                names = []
            match = part if part in names else next((n for n in names if n.lower() == part.lower()), part)
            real = os.path.join(real, match)
        return real

    def rename(self, oldpath: bytes, newpath: bytes) -> None:
        if self.case_insensitive:
            old, new = self.map_path(oldpath), self.map_path(newpath)
            if os.path.exists(new) and os.path.samefile(old, new):  # a change of case only
                os.rename(old, os.path.join(os.path.dirname(new), os.path.basename(newpath)))
                return
        super().rename(oldpath, newpath)

    def _sized(self, attrs: Any) -> Any:
        if self.stat_size:
            return attrs
        shown = attrs if isinstance(attrs, asyncssh.SFTPAttrs) else asyncssh.SFTPAttrs.from_local(attrs)
        shown.size = None
        return shown

    def stat(self, path: bytes) -> Any:
        return self._sized(super().stat(path))

    def lstat(self, path: bytes) -> Any:
        return self._sized(super().lstat(path))

    def fstat(self, file_obj: object) -> Any:
        return self._sized(super().fstat(file_obj))

    async def scandir(self, path: bytes) -> AsyncIterator[asyncssh.SFTPName]:
        async for name in super().scandir(path):
            yield name if self.listing_attrs else asyncssh.SFTPName(name.filename, name.longname,
                                                                    asyncssh.SFTPAttrs())


class CheckFileServer(VariantServer):
    """An SFTP server with the ``check-file`` extension (draft-ietf-secsh-filexfer-extensions-00 §3),
    which OpenSSH lacks and ProFTPD's mod_sftp and commercial MFT servers have: it names
    ``check-file`` among its extensions (with :attr:`algorithms`, or ``"1"`` as ProFTPD does
    with :attr:`advertise_algorithms` off; not at all with :attr:`advertised` off, as ProFTPD
    before 1.3.9 does for SFTP v3 clients) and answers ``check-file-name`` and
    ``check-file-handle`` with the hash of the requested range, in the first of the client's
    algorithms it has.  Subclass to offer other algorithms, or set :attr:`corrupt` for a server
    whose hash does not match its data (a hostile or broken one), or :attr:`silent` for one that
    never answers, or override :meth:`check_file` for other refusals.  Use as
    ``SFTPServer(..., sftp_class=CheckFileServer)``; what each server was asked is its
    :attr:`SFTPServer.check_file_asked` (one list per server, never shared between servers or tests).
    """

    algorithms: ClassVar[tuple[str, ...]] = ("sha256", "md5")
    corrupt: ClassVar[bool] = False
    #: Name ``check-file`` in the SSH_FXP_VERSION extensions.
    advertised: ClassVar[bool] = True
    #: Its data there: the algorithm list (else ``"1"``, as ProFTPD sends).
    advertise_algorithms: ClassVar[bool] = True
    #: The reply: ``"draft"`` (``"check-file"``, algorithm, hash), ``"proftpd"`` (algorithm, hash:
    #: mod_sftp's form) or ``"status-ok"`` (a malformed one: an OK status without a hash).
    reply_form: ClassVar[str] = "draft"
    #: Refuse a range starting at or past the end of the file (an empty file's whole range), as
    #: ProFTPD's mod_sftp does (fxp.c: offset >= st_size is EINVAL).
    refuses_offset_at_end: ClassVar[bool] = False
    #: Take check-file requests and never answer them (every other request is answered as ever):
    #: a server that drops an extended request it does not handle, or one whose hashing hangs.
    silent: ClassVar[bool] = False

    def __init__(self, chan: Any, *, chroot: bytes | None = None,
                 asked: list[tuple[str, str, int, int]] | None = None) -> None:
        super().__init__(chan, chroot=chroot)
        #: What was asked, for tests: (the mapped local path, the client's algorithm list, start,
        #: length).  The list of the :class:`SFTPServer` this session belongs to.
        self.asked: list[tuple[str, str, int, int]] = asked if asked is not None else []

    def check_file(self, fd: int, path: str, requested: str, start: int, length: int) -> tuple[str, bytes]:
        """The hash of ``length`` bytes (0: to the end) from ``start`` of the open file ``fd``."""
        self.asked.append((path, requested, start, length))
        if self.refuses_offset_at_end and start >= os.fstat(fd).st_size:
            raise asyncssh.SFTPFailure("Invalid argument")
        algorithm = next((a for a in requested.split(",") if a in self.algorithms), None)
        if algorithm is None:
            raise asyncssh.SFTPFailure(f"none of {requested} is offered")
        digest: Any = _Crc32() if algorithm == "crc32" else hashlib.new(algorithm)
        left = length or (os.fstat(fd).st_size - start)
        offset = start
        while left > 0:
            block = os.pread(fd, min(left, 1 << 20), offset)
            if not block:
                break
            digest.update(block)
            offset += len(block)
            left -= len(block)
        value: bytes = digest.digest()
        if self.corrupt:
            value = bytes([value[0] ^ 0xFF]) + value[1:]
        return algorithm, value


class _Crc32:
    def __init__(self) -> None:
        self._value = 0

    def update(self, data: bytes) -> None:
        self._value = zlib.crc32(data, self._value)

    def digest(self) -> bytes:
        return self._value.to_bytes(4, "big")


class _CheckFileReply:
    """The extended reply: ``string "check-file"`` (not in ProFTPD's form), ``string algorithm``, the hash bytes."""

    def __init__(self, algorithm: str, value: bytes, form: str) -> None:
        self.algorithm, self.value, self.form = algorithm, value, form

    def encode(self, version: int) -> bytes:
        named = b"" if self.form == "proftpd" else String(b"check-file")
        return named + String(self.algorithm) + self.value


_FXP_EXTENDED_REPLY = 201
_FXP_STATUS = 101


class _VariantHandler(asyncssh.sftp.SFTPServerHandler):
    """asyncssh's server session, as a :class:`VariantServer` sets it: its extensions, its WRITEs
    in parallel, and for a :class:`CheckFileServer` ``check-file`` (started by
    :class:`_VariantSession`, never installed in asyncssh for everyone)."""

    def __init__(self, server: VariantServer, *args: Any) -> None:
        super().__init__(server, *args)
        # Instance attributes shadowing the class tables: this session alone is changed.
        named = server.extensions
        if named is not None:
            self._extensions = [(name, data) for name, data in self._extensions if name in named]
        self._parallel_writes = server.parallel_writes
        if not isinstance(server, CheckFileServer):
            return
        if server.advertised:
            data = ",".join(server.algorithms).encode() if server.advertise_algorithms else b"1"
            self._extensions = [*self._extensions, (b"check-file", data)]
        handlers = {b"check-file-name": _VariantHandler._check_file_name,
                    b"check-file-handle": _VariantHandler._check_file_handle}
        self._packet_handlers = {**self._packet_handlers, **handlers}  # type: ignore[dict-item]
        answer = _FXP_STATUS if server.reply_form == "status-ok" else _FXP_EXTENDED_REPLY
        self._return_types = {**self._return_types, **dict.fromkeys(handlers, answer)}

    async def _process_packet(self, pkttype: int, pktid: int, packet: SSHPacket) -> None:
        server: Any = self._server
        if pkttype != FXP_EXTENDED or not getattr(server, "silent", False):
            await super()._process_packet(pkttype, pktid, packet)
            return
        rest = packet.get_remaining_payload()
        request = SSHPacket(rest)
        name = request.get_string()
        if name == b"check-file-name":  # noted as asked, never answered
            path = os.fsdecode(server.map_path(request.get_string()))
            server.asked.append((path, request.get_string().decode("ascii"), request.get_uint64(),
                                 request.get_uint64()))
        if name in (b"check-file-name", b"check-file-handle"):
            return
        await super()._process_packet(pkttype, pktid, SSHPacket(rest))

    async def recv_packets(self) -> None:
        if not self._parallel_writes:
            await super().recv_packets()
            return
        # asyncssh's loop, except that a WRITE runs as a task of its own: the next request is
        # read at once, and a later WRITE may finish (and be answered) first.
        writes: list[asyncio.Future[None]] = []
        try:
            while self._reader:
                packet = await self.recv_packet()
                kind, number = packet.get_byte(), packet.get_uint32()
                if kind == FXP_WRITE:
                    writes.append(asyncio.ensure_future(self._process_packet(kind, number, packet)))
                    continue
                if writes:  # (a CLOSE, a STAT after them sees them done)
                    await asyncio.gather(*writes, return_exceptions=True)
                    writes.clear()
                await self._process_packet(kind, number, packet)
        except PacketDecodeError as exc:
            await self._cleanup(asyncssh.SFTPBadMessage(str(exc)))
        except EOFError:
            await self._cleanup(None)
        except (OSError, asyncssh.Error) as exc:
            await self._cleanup(exc)

    async def _check_file_name(self, packet: SSHPacket) -> _CheckFileReply:
        server: Any = self._server
        path = server.map_path(packet.get_string())
        fd = os.open(path, os.O_RDONLY)
        try:
            return self._answer(fd, os.fsdecode(path), packet)
        finally:
            os.close(fd)

    async def _check_file_handle(self, packet: SSHPacket) -> _CheckFileReply:
        file_obj: Any = self._file_handles.get(packet.get_string())
        if file_obj is None:
            raise asyncssh.SFTPInvalidHandle("invalid file handle")
        return self._answer(file_obj.fileno(), os.fsdecode(file_obj.name), packet)

    def _answer(self, fd: int, path: str, packet: SSHPacket) -> _CheckFileReply:
        requested = packet.get_string().decode("ascii")
        start, length = packet.get_uint64(), packet.get_uint64()
        packet.get_uint32()  # block size: one hash of the whole range is all this server does
        packet.check_end()
        server: Any = self._server
        algorithm, value = server.check_file(fd, path, requested, start, length)
        return _CheckFileReply(algorithm, value, server.reply_form)


class _VariantSession(SSHServerStreamSession[bytes]):
    """An SSH session whose ``sftp`` subsystem runs :class:`_VariantHandler`.

    asyncssh has no hook for a server extension and makes its handler by a module-level
    name; rather than replace that name for every server in the process, a
    :class:`VariantServer` answers the session request itself (:meth:`SSHServer.session_requested`)
    and starts the handler here, as asyncssh's own session does.
    """

    def __init__(self, factory: Any) -> None:
        super().__init__(None, factory, MIN_SFTP_VERSION, False)

    def session_started(self) -> None:
        chan: Any = self._chan
        if chan.get_subsystem() != "sftp":  # subsystem_requested refused anything else
            chan.close()
            return
        reader: Any = SSHReader(self, chan)
        writer: Any = SSHWriter(self, chan)
        handler = _VariantHandler(self._init_sftp_server(), reader, writer, self._sftp_version)  # type: ignore[arg-type]
        conn: Any = self._conn
        conn.create_task(handler.run(), reader.logger)


class SFTPServer:
    """A threaded asyncssh SFTP server; a context manager.  See the module docstring.

    ``password``: also accept this password for ``user``.  ``authorized``: plain public
    keys (paths to .pub files) accepted for ``user`` besides certificates from the user CA.
    ``host_certificate``: present the host certificate (else only the plain host key).
    ``trust_user_ca``: accept the user CA's certificates at all.  ``sftp_class``: an
    :class:`asyncssh.SFTPServer` subclass, for a server that behaves otherwise (refuses a folder...,
    or :class:`CheckFileServer`: has the ``check-file`` hash extension).  ``encryption_algs``:
    the only ciphers the server offers (default: asyncssh's list).
    """

    def __init__(
        self,
        keys: SSHTestKeys,
        *,
        root: str | Path,
        host: str = "127.0.0.1",
        port: int = 0,
        user: str = USER,
        password: str | None = None,
        authorized: tuple[Path, ...] = (),
        host_certificate: bool = True,
        trust_user_ca: bool = True,
        sftp_class: type[asyncssh.SFTPServer] = asyncssh.SFTPServer,
        encryption_algs: tuple[str, ...] = (),
    ) -> None:
        self.keys = keys
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.host = host
        self.user = user
        self.password = password
        self._port = port
        self._authorized = authorized
        self._host_certificate = host_certificate
        self._trust_user_ca = trust_user_ca
        self._sftp_class = sftp_class
        self._encryption_algs = encryption_algs
        self.logins: list[str] = []
        #: What a :class:`CheckFileServer` was asked on this server's sessions (see its ``asked``).
        self.check_file_asked: list[tuple[str, str, int, int]] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: Any = None
        self._connections: set[asyncssh.SSHServerConnection] = set()

    @property
    def port(self) -> int:
        return int(self._server.sockets[0].getsockname()[1])

    @property
    def url(self) -> str:
        return f"sftp://{self.user}@{self.host}:{self.port}/"

    @property
    def server(self) -> str:
        return f"{self.host}:{self.port}"

    def known_hosts(self, folder: Path) -> Path:
        """A known_hosts file in ``folder`` that trusts this server's plain host key."""
        path = folder / "known_hosts"
        path.write_text(self.keys.known_hosts_line(self.host, self.port))
        return path

    def _authorized_keys(self) -> asyncssh.SSHAuthorizedKeys:
        lines = []
        if self._trust_user_ca:
            lines.append("cert-authority " + Path(f"{self.keys.user_ca}.pub").read_text().strip())
        lines += [Path(path).read_text().strip() for path in self._authorized]
        return asyncssh.import_authorized_keys("\n".join(lines) + "\n")

    def _factory(self) -> asyncssh.SSHServer:
        outer = self

        class Server(asyncssh.SSHServer):
            def connection_made(self, conn: asyncssh.SSHServerConnection) -> None:
                self._conn = conn
                outer._connections.add(conn)

            def connection_lost(self, exc: Exception | None) -> None:
                outer._connections.discard(self._conn)

            def begin_auth(self, username: str) -> bool:
                if username == outer.user:
                    self._conn.set_authorized_keys(outer._authorized_keys())
                return True

            def password_auth_supported(self) -> bool:
                return outer.password is not None

            def validate_password(self, username: str, password: str) -> bool:
                return username == outer.user and password == outer.password

            def auth_completed(self) -> None:
                outer.logins.append(str(self._conn.get_extra_info("username")))

            def session_requested(self) -> Any:  # only asked when create_server has no sftp_factory
                return _VariantSession(outer._make_sftp_server)

        return Server()

    def _make_sftp_server(self, chan: Any) -> asyncssh.SFTPServer:
        if issubclass(self._sftp_class, CheckFileServer):
            return self._sftp_class(chan, chroot=str(self.root).encode(), asked=self.check_file_asked)
        return self._sftp_class(chan, chroot=str(self.root).encode())

    def __enter__(self) -> SFTPServer:
        host_key = asyncssh.read_private_key(str(self.keys.host_key))
        pair: Any = (host_key, asyncssh.read_certificate(str(self.keys.host_cert))) \
            if self._host_certificate else host_key
        loop = self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=loop.run_forever, name="xfer-test-sftpd", daemon=True)
        self._thread.start()
        # A variant server starts its SFTP sessions itself (Server.session_requested).
        plain = {} if issubclass(self._sftp_class, VariantServer) else {"sftp_factory": self._make_sftp_server}

        algorithms: dict[str, Any] = {"encryption_algs": list(self._encryption_algs)} if self._encryption_algs else {}

        async def start() -> Any:
            return await asyncssh.create_server(
                self._factory, self.host, self._port, server_host_keys=[pair], allow_scp=False, **plain,
                **algorithms,
            )

        self._server = asyncio.run_coroutine_threadsafe(start(), loop).result(10)
        return self

    def __exit__(self, *exc: object) -> None:
        loop, server = self._loop, self._server
        if loop is None:
            return

        async def stop() -> None:
            server.close()
            # As a server process that ends: its clients' connections end too (a client
            # reconnecting then reaches whatever listens next).
            for conn in list(self._connections):
                conn.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(server.wait_closed(), 5)

        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(stop(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        if self._thread is not None:
            self._thread.join(10)
        loop.close()
        self._loop = None


if __name__ == "__main__":  # python -m xfer.testing.sftp_server FOLDER [USER]: the keys docker-compose mounts
    import sys

    made = create_ssh_keys(sys.argv[1], user=sys.argv[2] if len(sys.argv) > 2 else USER)
    print(f"SSH test keys in {made.folder}")
