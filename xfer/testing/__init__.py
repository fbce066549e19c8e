"""In-process mTLS servers and a throwaway PKI: for xfer's tests, ``xfer demo`` and your own tests.

::

    from xfer.testing import create_pki, serve

    pki = create_pki("/tmp/pki")                      # root CA, server and client identities
    with serve("ftpes", pki, root="/tmp/ftp") as endpoint:
        with xfer.connect(endpoint.profile) as remote:
            remote.put_file("invoice.edi", "/invoice.edi")

Every server listens on a random 127.0.0.1 port and refuses clients without a
certificate issued by the PKI.  The server classes (:class:`HTTPSServer`,
:class:`FTPSServer`...) are here for finer control; :func:`serve` wraps them with
a ready profile.  With pytest, the same servers are fixtures (``xfer_pki``,
``xfer_https_server``, ``xfer_ftps_server``...): see :mod:`xfer.testing.pytest_plugin`.

Names are imported on first use: the servers pull in pyftpdlib, wsgidav and
cheroot (the ``xfer[testing]`` extra), which only the protocols you use need.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .as2_server import AS2Server
    from .endpoints import SERVERS, Endpoint, serve
    from .ftps_fake import FakeFTPSServer
    from .ftps_server import FTPSServer
    from .https_server import HTTPSServer
    from .pki import DEFAULT_PASSWORD, TestPKI, create_pki
    from .webdav_server import WebDAVServer

__all__ = [
    "DEFAULT_PASSWORD",
    "SERVERS",
    "AS2Server",
    "Endpoint",
    "FTPSServer",
    "FakeFTPSServer",
    "HTTPSServer",
    "TestPKI",
    "WebDAVServer",
    "create_pki",
    "serve",
]

#: public name -> the module that defines it (relative to this package)
_LAZY = {
    "DEFAULT_PASSWORD": ".pki",
    "TestPKI": ".pki",
    "create_pki": ".pki",
    "Endpoint": ".endpoints",
    "SERVERS": ".endpoints",
    "serve": ".endpoints",
    "HTTPSServer": ".https_server",
    "FTPSServer": ".ftps_server",
    "FakeFTPSServer": ".ftps_fake",
    "AS2Server": ".as2_server",
    "WebDAVServer": ".webdav_server",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
