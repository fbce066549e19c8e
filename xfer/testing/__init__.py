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
    from .sftp_server import SFTPServer, SSHTestKeys, create_ssh_keys
    from .webdav_server import WebDAVServer

__all__ = [
    "DEFAULT_PASSWORD",
    "INSTALL_TESTING",
    "SERVERS",
    "TESTING_EXTRA_MODULES",
    "AS2Server",
    "Endpoint",
    "FTPSServer",
    "FakeFTPSServer",
    "HTTPSServer",
    "SFTPServer",
    "SSHTestKeys",
    "TestPKI",
    "TestingExtraMissing",
    "WebDAVServer",
    "create_pki",
    "create_ssh_keys",
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
    "SFTPServer": ".sftp_server",
    "SSHTestKeys": ".sftp_server",
    "create_ssh_keys": ".sftp_server",
}


#: The top-level modules the ``testing`` extra installs (see pyproject.toml).  ``pip install
#: xfer`` alone has the HTTPS and AS2 servers; the FTPS and WebDAV ones need these.
TESTING_EXTRA_MODULES = frozenset({"pyftpdlib", "wsgidav", "cheroot", "OpenSSL", "asyncssh"})
#: The command that installs them.
INSTALL_TESTING = "pip install 'xfer[testing]'"


class TestingExtraMissing(ModuleNotFoundError):
    """A server of :mod:`xfer.testing` needs a module of the ``testing`` extra that is not installed.

    A :class:`ModuleNotFoundError` (so ``except ImportError`` and ``pytest.importorskip`` work)
    whose message says what to install; ``name`` is the missing module, as Python's own.
    """

    __test__ = False  # a class named Test... in an importable module: not a pytest test class


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    try:
        imported = importlib.import_module(module, __name__)
    except ModuleNotFoundError as exc:
        missing = (exc.name or "").split(".")[0]
        if missing not in TESTING_EXTRA_MODULES or isinstance(exc, TestingExtraMissing):
            raise
        raise TestingExtraMissing(
            f"xfer.testing.{name} needs the 'testing' extra ({missing} is not installed): {INSTALL_TESTING}",
            name=missing,
        ) from exc
    value = getattr(imported, name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
