"""The SFTP ``check-file`` extension: the server's hash of a file (draft-ietf-secsh-filexfer-extensions-00, §3).

Request (``SSH_FXP_EXTENDED``)::

    string "check-file-name"     (or "check-file-handle" with a handle)
    string filename
    string hash-algorithm-list   comma-separated, the client's preference first
    uint64 start-offset          0
    uint64 length                0: to the end of the file
    uint32 block-size            0: one hash over the whole range

Reply (``SSH_FXP_EXTENDED_REPLY``): ``string "check-file"``, ``string algorithm-used``, then the
hash bytes to the end of the packet.  The server takes the first algorithm of the list it has.

Servers that have it (ProFTPD's mod_sftp, several commercial MFT servers) name ``check-file``
among their extensions; OpenSSH does not, and answers ``SSH_FX_OP_UNSUPPORTED``.  asyncssh keeps
the server's extension list to itself and has no call for an extension it does not know, so
this module sends the request through its request machinery (``SFTPClient._handler``: a private
attribute, pinned by tests/test_sftp_checkfile.py) and asks once per connection: an
``OP_UNSUPPORTED`` answer turns the question off for the rest of it.
"""

from __future__ import annotations

import logging
from typing import Any, cast

import asyncssh
from asyncssh.packet import PacketDecodeError, SSHPacket, String, UInt32, UInt64

from ...verify import HASHES, HashName, ServerHash

#: SSH_FXP_EXTENDED_REPLY (draft-ietf-secsh-filexfer-02 §3).
FXP_EXTENDED_REPLY = 201

__all__ = ["REQUEST", "CheckFile"]

_log = logging.getLogger("xfer.sftp")

#: The request sent (the handle variant needs a file open on the server; the name one does not).
REQUEST = b"check-file-name"
#: What xfer can compare, strongest first (:data:`xfer.verify.HASHES`).
ALGORITHMS = ",".join(HASHES).encode()


class CheckFile:
    """Whether the server answers ``check-file``, learnt by asking; and the asking."""

    def __init__(self) -> None:
        #: None until the first answer; then whether the server has the extension.
        self.offered: bool | None = None
        #: The algorithm the server picked last time (so the next transfer computes it from the start).
        self.algorithm: HashName | None = None

    async def ask(self, sftp: asyncssh.SFTPClient, path: str) -> ServerHash | None:
        """The server's hash of the whole file ``path``, or None if it has no such extension.

        A refusal about the file itself (missing, denied) is raised as asyncssh raises it.
        """
        if self.offered is False:
            return None
        handler: Any = sftp._handler
        if REQUEST not in handler._return_types:
            # This connection's handler learns that the request is answered with an extended reply.
            handler._return_types = {**handler._return_types, REQUEST: FXP_EXTENDED_REPLY}
        try:
            reply = cast(SSHPacket, await handler._make_request(
                REQUEST, String(sftp.encode(path)), String(ALGORITHMS), UInt64(0), UInt64(0), UInt32(0)))
        except asyncssh.SFTPOpUnsupported:
            self.offered = False
            return None
        self.offered = True
        try:
            if reply.get_string() != b"check-file":
                raise PacketDecodeError("not a check-file reply")
            name = reply.get_string().decode("ascii", "replace").lower()
            digest = reply.get_remaining_payload()
        except PacketDecodeError as exc:
            _log.warning("%s: the server's check-file answer is malformed (%s); checking the size only", path, exc)
            return None
        algorithm = next((known for known in HASHES if known == name), None)
        if algorithm is None:
            _log.debug("check-file of %s: the server used %s, which xfer does not compare", path, name)
            return None
        self.algorithm = algorithm
        return ServerHash(algorithm, digest.hex(), "check-file reply")
