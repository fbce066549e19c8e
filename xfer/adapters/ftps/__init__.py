"""FTPS: explicit (``ftpes://``, AUTH TLS on port 21) and implicit (``ftps://``, port 990).

This is where Python FTP clients usually fail.  Stock :class:`ftplib.FTP_TLS` opens
every data connection with a *fresh* TLS session (CPython #63699), and vsftpd
(``require_ssl_reuse=YES``, its default), proftpd and FileZilla Server refuse that
with ``522``/``425``: they demand proof that the data connection comes from the
same client as the control connection.  :class:`.connection.FTPSConnection` wraps each data
socket with the control connection's session, and records whether the server
really resumed it, so ``--json`` can show it.

Security rules this module keeps, whatever the server says:

* TLS before anything else: implicit wraps the socket before the greeting is
  read; explicit sends ``AUTH TLS`` first and stops (no ``USER``, no password)
  if the server refuses.  ``PBSZ 0`` + ``PROT P`` always; refused -> stop.
  ``CCC`` (back to clear text) is never sent.
* Passive mode only, EPSV first, PASV as fallback, and the address in a PASV
  reply is ignored: the data connection goes to the control connection's peer,
  so a hostile or misconfigured server cannot point it elsewhere.  Active mode
  (PORT) would need the server to connect to us through firewalls and NAT; it is
  not offered.

What a server sends is checked, not trusted:

* The data connection's TLS handshake starts right after the transfer command,
  beside the wait for the ``150``: servers take it before or after that reply
  (RFC 4217 allows both), and waiting for the ``150`` first deadlocks with the
  ones that take it before.
* A data stream that ends without TLS close_notify is complete only if a length
  from the control connection (SIZE, MLST) proves it; otherwise it is an
  integrity error (exit 7), for files and listings alike.
* Listings are parsed as they arrive and read up to ``max_listing`` bytes; a
  reply on the control connection up to :data:`.connection.MAX_REPLY` characters.
* Only MLST's type fact or a successful CWD says "folder" (never SIZE), and
  nothing is renamed onto a folder, created or removed by a path with a backslash.
* The password is taken out of every reply as it is read: a server that echoes
  ``PASS ...`` cannot get it printed.

Keepalive: during a long transfer the FTP dialogue is idle.  Sending ``NOOP``
then is unsafe (vsftpd does not read the control connection until the transfer
ends, so replies arrive out of order and desynchronise the session), so the
control socket instead gets TCP keepalives every ``keepalive`` seconds, which
keep NAT and firewall state alive without touching the dialogue.  Between
operations, a control connection idle longer than ``keepalive`` is checked with
``NOOP`` and reopened if the server has dropped it.

The modules, each with one job:

* :mod:`.connection`: the ftplib connection (TLS, data connections, replies read safely);
* :mod:`.adapter`: the verbs and the translation of errors;
* :mod:`.install`: putting a complete upload in place under its final name;
* :mod:`.listing`: MLSD/MLST/LIST parsing and reading a listing within ``max_listing``;
* :mod:`.replies`: reply codes and texts to xfer errors.

The registry names ``xfer.adapters.ftps:ExplicitFTPSAdapter`` and
``xfer.adapters.ftps:ImplicitFTPSAdapter``; those dotted paths are re-exported here.
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
