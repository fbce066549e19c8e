"""The SFTP ``check-file`` extension: the server's hash of a file (draft-ietf-secsh-filexfer-extensions-00, §3).

Request (``SSH_FXP_EXTENDED``)::

    string "check-file-name"     (or "check-file-handle" with a handle)
    string filename
    string hash-algorithm-list   comma-separated, the client's preference first
    uint64 start-offset
    uint64 length                0: to the end of the file
    uint32 block-size            0: one hash over the whole range

Reply (``SSH_FXP_EXTENDED_REPLY``): ``string "check-file"``, ``string algorithm-used``, then the
hash bytes to the end of the packet.  ProFTPD's mod_sftp leaves out the ``"check-file"`` string
(its reply starts with the algorithm): both forms are read.  The server takes the first
algorithm of the list it has.

What a server has is learnt per SFTP session (:meth:`CheckFile.of`): a reconnection, perhaps to
another server process behind the same name, learns it again.  :func:`start_sftp_client`
keeps the extensions the server names in ``SSH_FXP_VERSION`` (asyncssh reads them and keeps
only those it uses itself): a server naming ``check-file`` with its algorithms tells xfer
which hash to compute along an upload without a request.  A server that does not name it is
still asked, on the first real hash request (ProFTPD before 1.3.9 answers without naming it to
SFTP v3 clients; OpenSSH answers ``SSH_FX_OP_UNSUPPORTED``, which turns the question off for
the rest of the session, unless check-file answered earlier in it: then the refusal is about
that file).  Any other refusal, an answer xfer cannot read, or none within the timeout, is no
hash for that one transfer: it is then checked by size (or fails where ``checksum`` requires a
hash).

The server reads the whole range before it answers (ProFTPD's mod_sftp hashes inline, and answers
nothing else meanwhile): a request is given the reply timeout plus the range's size at
:data:`HASH_RATE`, as FTPS gives its HASH command.  Unanswered then, it may still be hashing, and
the session's next requests would queue behind it, each timing out: before going on, the server
must answer a cheap request (REALPATH) within the same bound, else the session is taken as
stuck (:class:`~.pipeline.NoReply`, a lost connection: the retry policy reconnects).  A server
hashing inline answers no SSH keepalive either: meanwhile the connection's keepalive is widened
to bear that silence (:meth:`CheckFile._patient`).

asyncssh has no call for an extension it does not know: requests go through its request
machinery (``SFTPClient._handler``, private, as is the handler class
:func:`start_sftp_client` extends; both pinned by tests/test_sftp_checkfile.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import weakref
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, ClassVar

import asyncssh
import asyncssh.sftp
from asyncssh.packet import PacketDecodeError, SSHPacket, String, UInt32, UInt64

from ...log import logger
from ...verify import HASH_RATE, HASHES, HashName, ServerHash
from .pipeline import NoReply, answered

#: SSH_FXP_EXTENDED_REPLY (draft-ietf-secsh-filexfer-02 §3).
FXP_EXTENDED_REPLY = 201

__all__ = ["REQUEST", "CheckFile", "start_sftp_client"]

_log = logger("xfer.sftp")

#: The request sent (the handle variant needs a file open on the server; the name one does not).
REQUEST = b"check-file-name"
#: The extension's name in SSH_FXP_VERSION.
EXTENSION = b"check-file"
#: The most seconds that rate adds to the timeout.  The size is the server's word, asked before a
#: download moves a byte: a silent server stating 1 TiB held the download (and, through the
#: widened keepalive, the notice of a dead connection) for 14 hours (review H, session 26).
HASH_WAIT_MAX = 300.0


class CheckFile:
    """What one SFTP session knows of the server's ``check-file``, and the asking.  See the module docstring."""

    _sessions: ClassVar[weakref.WeakKeyDictionary[asyncssh.SFTPClient, CheckFile]] = weakref.WeakKeyDictionary()
    _lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self, extensions: Iterable[tuple[bytes, bytes]] | None = None, *,
                 conn: asyncssh.SSHClientConnection | None = None) -> None:
        #: None while unknown; then whether the server has the extension.
        self.offered: bool | None = None
        #: The algorithm the server uses (so that an upload computes it from the start), once known.
        self.algorithm: HashName | None = None
        #: What the server answered to the last request that got no hash, for the ``checksum`` error.
        self.refused: str | None = None
        #: Whether check-file answered a request of this session with a hash: the server has it, and
        #: a later "unsupported" is about one file, not the extension.
        self.answered = False
        #: The session's connection, whose keepalive a long hash widens (None: left as it is).
        self._conn = conn
        #: The connection's own keepalive (interval, count) while widened, and the silences borne.
        self._keepalive: tuple[float, int] | None = None
        self._waiting: list[float] = []
        if extensions is not None:
            self._learn(dict(extensions).get(EXTENSION))

    @classmethod
    def of(cls, sftp: asyncssh.SFTPClient) -> CheckFile:
        """The state of the session ``sftp`` (made unknown for a client not started by :func:`start_sftp_client`)."""
        with cls._lock:
            state = cls._sessions.get(sftp)
            if state is None:
                state = cls._sessions[sftp] = CheckFile()
            return state

    def _learn(self, data: bytes | None) -> None:
        """What SSH_FXP_VERSION said: ``check-file`` with its algorithm list, or ``"1"`` (ProFTPD)."""
        if data is None:
            return  # not named: unknown, asked on the first real request
        self.offered = True
        if data.strip() in (b"", b"1"):
            return
        names = {name.strip().lower() for name in data.decode("ascii", "replace").split(",")}
        self.algorithm = next((known for known in HASHES if known in names), None)
        if self.algorithm is None:
            _log.debug("check-file offers %s, none of which xfer compares", sorted(names))
            self.offered = False

    async def ask(self, sftp: asyncssh.SFTPClient, path: str, *, timeout: float | None, size: int | None,
                  start: int = 0, length: int = 0, algorithms: Sequence[HashName] = HASHES) -> ServerHash | None:
        """The server's hash of ``path`` (``length`` bytes from ``start``; 0, 0: the whole file, of
        ``size`` bytes, None: unknown) in the first of ``algorithms`` it has, or None: no such
        extension, a refusal, or no answer within ``timeout`` seconds plus the range's size at
        :data:`HASH_RATE` (see the module docstring).  Only a lost connection is raised, and a
        session that stays stuck after an unanswered request (:class:`~.pipeline.NoReply`).

        ``timeout`` is the adapter's: the request goes through asyncssh's own request call, not the
        bounded client (:class:`~.pipeline.AnsweredClient`) the adapter's other requests use."""
        if self.offered is False:
            return None
        handler: Any = getattr(sftp, "_handler", None)
        if not isinstance(getattr(handler, "_return_types", None), dict) or not hasattr(handler, "_make_request"):
            # An asyncssh without the request machinery this uses (not pinned): no hash, never a failure.
            self.offered = False
            return None
        if REQUEST not in handler._return_types:
            # This connection's handler learns that the request is answered with an extended reply.
            handler._return_types = {**handler._return_types, REQUEST: FXP_EXTENDED_REPLY}
        whole = start == 0 and length == 0
        hashed = length if length else max((size or 0) - start, 0)
        bound = None if timeout is None else timeout + min(hashed / HASH_RATE, HASH_WAIT_MAX)
        try:
            # Silent for up to twice the bound: the hash, then the REALPATH behind it (_answering).
            with self._patient(None if bound is None else 2 * bound):
                reply = await self._request(handler, sftp, path, algorithms, start, length, bound)
        except (asyncssh.SFTPConnectionLost, asyncssh.SFTPNoConnection):
            raise
        except NoReply as exc:
            # A server that drops a request it does not handle, or whose hashing is slower than
            # HASH_RATE or hangs: this transfer goes without the hash (a late answer is dropped by
            # asyncssh: its request is gone), once the server answers again.
            self.refused = f"nothing within {exc.seconds:g} s"
            _log.warning("%s: the server did not answer check-file within %g s; no server hash for it",
                         path, exc.seconds)
            if not self.answered:
                # Never answered in this session: not asked again, or every file of a batch would
                # wait its bound for nothing (review H, session 26).
                self.offered = False
            return None
        except asyncssh.SFTPOpUnsupported as exc:
            # Only about a whole file, from a server whose check-file never answered, does this
            # say "never" (a server may hash whole files and not ranges, or not some files).
            if whole and not self.answered:
                self.offered, self.refused = False, None
            else:
                self.refused = exc.reason or "unsupported"
                _log.debug("check-file of %s refused: %s", path, self.refused)
            return None
        except (asyncssh.SFTPError, PacketDecodeError) as exc:
            # "none of these algorithms", a file it will not hash (ProFTPD refuses an empty one)...:
            # this transfer is checked without the server's hash.
            self.refused = getattr(exc, "reason", "") or type(exc).__name__
            _log.debug("check-file of %s refused: %s", path, self.refused)
            return None
        answer = _read_reply(reply)
        if answer is None:
            self.refused = "a malformed reply"
            _log.warning("%s: the server's check-file answer is malformed; checking the size only", path)
            return None
        self.offered = self.answered = True
        name, digest = answer
        algorithm = next((known for known in HASHES if known == name), None)
        if algorithm is None or algorithm not in algorithms:
            self.refused = f"a hash in {name}, which xfer does not compare"
            _log.debug("check-file of %s: the server used %s, which xfer does not compare", path, name)
            return None
        if whole:
            self.algorithm = algorithm
        self.refused = None
        return ServerHash(algorithm, digest.hex(), "check-file reply")

    async def _request(self, handler: Any, sftp: asyncssh.SFTPClient, path: str, algorithms: Sequence[HashName],
                       start: int, length: int, bound: float | None) -> object:
        """The check-file request's reply within ``bound`` seconds; else :class:`NoReply`, once the
        server answers again (:func:`_answering`)."""
        try:
            return await answered(handler._make_request(
                REQUEST, String(sftp.encode(path)), String(",".join(algorithms)), UInt64(start), UInt64(length),
                UInt32(0)), bound)
        except NoReply as exc:
            await _answering(handler, exc.seconds)
            raise

    @contextlib.contextmanager
    def _patient(self, seconds: float | None) -> Iterator[None]:
        """The connection's keepalive bearing ``seconds`` of silence while in the block.

        asyncssh closes a connection that answers no keepalive for ``interval * (count + 1)``
        seconds (about the reply timeout, :mod:`.session`), and a server hashing inline answers
        none.  Concurrent requests of the session (a batch's files) share the connection: it
        bears the longest silence of those in flight, and gets its own keepalive back after the last.
        """
        own = self._keepalive if self._waiting else _keepalive_of(self._conn)
        if self._conn is None or own is None or seconds is None:
            yield
            return
        self._keepalive = own
        self._waiting.append(seconds)
        try:
            self._keep(self._conn, own)
            yield
        finally:
            self._waiting.remove(seconds)
            self._keep(self._conn, own)

    def _keep(self, conn: asyncssh.SSHClientConnection, own: tuple[float, int]) -> None:
        interval, count = own
        conn.set_keepalive(max(interval, max(self._waiting, default=0.0) / count), count)


def _keepalive_of(conn: asyncssh.SSHClientConnection | None) -> tuple[float, int] | None:
    """``conn``'s keepalive interval and count (asyncssh keeps them private), or None: none, or unknown."""
    interval: Any = getattr(conn, "_keepalive_interval", None)
    count: Any = getattr(conn, "_keepalive_count_max", None)
    if isinstance(interval, int | float) and interval > 0 and isinstance(count, int) and count > 0:
        return float(interval), count
    return None


async def _answering(handler: Any, seconds: float) -> None:
    """Return once the server answers a REALPATH (within ``seconds``, else :class:`NoReply`).

    A server still hashing answers it after the hash (requests are answered in order): the
    session's next requests then get their whole timeout, instead of each waiting behind the
    hash and timing out (a rename after a put, the next file's open).  Any answer will do, a
    refusal too."""
    try:
        await answered(handler.realpath(b"."), seconds)
    except asyncssh.SFTPError:
        pass  # an answer: the server is listening again


def _read_reply(reply: object) -> tuple[str, bytes] | None:
    """The algorithm and the hash bytes of a reply in either form (see the module docstring), or None."""
    if not isinstance(reply, SSHPacket):
        return None  # a STATUS OK with no data: nothing to compare
    try:
        first = reply.get_string()
        name = reply.get_string() if first == EXTENSION else first
        digest = reply.get_remaining_payload()
    except PacketDecodeError:
        return None
    text = name.decode("ascii", "replace").lower()
    if not digest or not text.replace("-", "").isalnum():
        return None
    return text, digest


class _ClientHandler(asyncssh.sftp.SFTPClientHandler):
    """asyncssh's client session, keeping the extensions the server names in SSH_FXP_VERSION."""

    server_extensions: list[tuple[bytes, bytes]] | None = None

    def _log_extensions(self, extensions: Sequence[tuple[bytes, bytes]]) -> None:
        # Called by start() with the SSH_FXP_VERSION extensions, client side only here.
        self.server_extensions = list(extensions)
        super()._log_extensions(extensions)


def _handler_is_as_known() -> bool:
    """Whether asyncssh's private session class still has the shape :func:`start_sftp_client` uses.

    asyncssh is not pinned: a release that changes it must cost only the extension list (the
    first hash request then teaches what the server has), never the SFTP session itself.
    """
    import inspect

    handler = asyncssh.sftp.SFTPClientHandler
    try:
        parameters = list(inspect.signature(handler.__init__).parameters)
    except (TypeError, ValueError):
        return False
    methods = ("_log_extensions", "start", "recv_packets", "request_limits")
    return parameters == ["self", "loop", "utf8_decode_errors", "reader", "writer", "sftp_version"] and all(
        callable(getattr(handler, name, None)) for name in methods
    )


async def start_sftp_client(conn: asyncssh.SSHClientConnection, *, path_errors: str) -> asyncssh.SFTPClient:
    """``conn.start_sftp_client(path_errors=...)``, as asyncssh does it (SFTP v3, UTF-8 paths), and the
    session's :class:`CheckFile` learns what SSH_FXP_VERSION says of ``check-file``.

    On an asyncssh whose session class differs from the one this knows: its own public
    ``start_sftp_client``, and check-file is learnt from the first request.
    """
    if not _KNOWN_HANDLER:
        client = await conn.start_sftp_client(path_errors=path_errors)
        with CheckFile._lock:
            CheckFile._sessions[client] = CheckFile(conn=conn)
        return client
    writer, reader, _ = await conn.open_session(subsystem="sftp", encoding=None)
    handler = _ClientHandler(asyncio.get_running_loop(), "strict", reader, writer,
                             asyncssh.sftp.MIN_SFTP_VERSION)
    await handler.start()
    conn.create_task(handler.recv_packets(), handler.logger)
    await handler.request_limits()
    client = asyncssh.SFTPClient(handler, "utf-8", path_errors)
    with CheckFile._lock:
        CheckFile._sessions[client] = CheckFile(handler.server_extensions or (), conn=conn)
    return client


#: Checked once at import: see :func:`_handler_is_as_known`.
_KNOWN_HANDLER = _handler_is_as_known()
