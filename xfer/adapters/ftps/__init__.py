"""FTPS: explicit (``ftpes://``, AUTH TLS on port 21) and implicit (``ftps://``, port 990).

Data connections reuse the control connection's TLS session (vsftpd, proftpd and FileZilla
Server demand it) and start their handshake beside the wait for the ``150``.  Passive mode
only; the PASV address is ignored.  A stream without close_notify counts only when a length
proves it; "folder" comes from MLST or CWD, never SIZE; the password is removed from every
reply.  The reasons for each rule: docs/design.md, section "FTPS".

Modules: :mod:`.connection` (the ftplib connection), :mod:`.adapter` (verbs, error
translation), :mod:`.install` (putting an upload in place), :mod:`.listing` (MLSD/MLST/LIST
within ``max_listing``), :mod:`.replies` (reply codes to xfer errors).  The registry's dotted
paths ``xfer.adapters.ftps:ExplicitFTPSAdapter`` / ``ImplicitFTPSAdapter`` are re-exported here.
"""

from __future__ import annotations

from .adapter import ExplicitFTPSAdapter, FTPSAdapter, ImplicitFTPSAdapter
from .connection import DataConnection, FTPSConnection

__all__ = [
    "DataConnection",
    "ExplicitFTPSAdapter",
    "FTPSAdapter",
    "FTPSConnection",
    "ImplicitFTPSAdapter",
]
