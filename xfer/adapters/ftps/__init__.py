"""FTPS: explicit (``ftpes://``) and implicit (``ftps://``); see :mod:`.adapter`.

The registry names ``xfer.adapters.ftps:ExplicitFTPSAdapter`` and
``xfer.adapters.ftps:ImplicitFTPSAdapter``; those dotted paths are re-exported here.
"""

from __future__ import annotations

from .adapter import DataConnection, ExplicitFTPSAdapter, FTPSAdapter, FTPSConnection, ImplicitFTPSAdapter

__all__ = [
    "DataConnection",
    "ExplicitFTPSAdapter",
    "FTPSAdapter",
    "FTPSConnection",
    "ImplicitFTPSAdapter",
]
