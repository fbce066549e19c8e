"""pytest plugin (entry point ``pytest11``): mTLS servers as fixtures for your own tests.

Installed with xfer, active in every pytest run; nothing starts until a test asks::

    import xfer

    def test_upload_reaches_partner(xfer_ftps_server, tmp_path):
        (tmp_path / "invoice.edi").write_text("UNA:+.? '")
        with xfer.connect(xfer_ftps_server.profile) as remote:
            remote.put_file(tmp_path / "invoice.edi", "/invoice.edi")
        assert (xfer_ftps_server.root / "invoice.edi").read_text() == "UNA:+.? '"

Fixtures:

``xfer_pki`` (session)
    a throwaway PKI (:class:`~xfer.testing.pki.TestPKI`): root CA, server and client
    identities, the bundles' password file.
``xfer_https_server``, ``xfer_ftps_server`` (explicit FTPS, ``ftpes://``), ``xfer_webdav_server``, ``xfer_as2_server``,
``xfer_sftp_server`` (SSH: its profile logs in with a user certificate and trusts the host CA)
    a server started for the test and stopped after it, with an empty storage folder:
    an :class:`~xfer.testing.Endpoint` with ``url``, ``profile`` (ready for
    :func:`xfer.connect`), ``identity`` and ``identity_password`` (a ``file:`` reference),
    ``ca``, ``root`` (where uploads land) and ``server`` (the server object).
``xfer_serve``
    a factory for anything else: ``xfer_serve("ftps")`` (implicit FTPS),
    ``xfer_serve("https", tls_max="1.2")``.
``xfer_faulty``
    a server behind a fault-injecting proxy (:mod:`xfer.testing.faults`):
    ``server = xfer_faulty("ftpes")``, then for each scenario
    ``with server.through({0: Cut("down", after=1_000_000)}) as (proxy, profile): ...`` —
    ``profile`` reaches the server through the proxy (for FTPS its data connections too),
    ``proxy.connections`` tells what was cut and how many bytes went each way.
"""

from __future__ import annotations

import contextlib
import errno
import socket
import urllib.parse
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import pytest

from .endpoints import Endpoint, serve
from .faults import PROXY_HOST, FaultProxy, Plan, free_ports, in_front_of, listen_at
from .pki import TestPKI, create_pki

if TYPE_CHECKING:
    from ..profiles import Profile

__all__ = [
    "FaultyServer",
    "xfer_as2_server",
    "xfer_faulty",
    "xfer_ftps_server",
    "xfer_https_server",
    "xfer_pki",
    "xfer_serve",
    "xfer_webdav_server",
]


@pytest.fixture(scope="session")
def xfer_pki(tmp_path_factory: pytest.TempPathFactory) -> TestPKI:
    """A throwaway PKI: ``xfer_pki.client_p12``, ``.password_file``, ``.root_ca``, ``.server_cert``..."""
    # Session scope: RSA key generation is the one slow step (about a second).
    return create_pki(tmp_path_factory.mktemp("xfer-pki"))


@pytest.fixture
def xfer_serve(
    xfer_pki: TestPKI, tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Callable[..., Endpoint]]:
    """``xfer_serve(protocol, **server_options) -> Endpoint``; every server stops after the test.

    Starting an AS2 server also points ``$XFER_DATA_DIR`` at a temporary folder for the
    test, so the receipts xfer keeps of each send stay out of your real data folder.
    """
    with contextlib.ExitStack() as stack:

        def start(protocol: str, **options: Any) -> Endpoint:
            return stack.enter_context(_serve_for_test(protocol, xfer_pki, tmp_path_factory, monkeypatch, options))

        yield start


def _serve_for_test(
    protocol: str, pki: TestPKI, tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch,
    options: dict[str, Any],
) -> contextlib.AbstractContextManager[Endpoint]:
    """:func:`serve` with a storage folder of its own (outside tmp_path, so a test's own files and
    the server's never mix); an AS2 server also points ``$XFER_DATA_DIR`` at a temporary folder."""
    root = tmp_path_factory.mktemp(f"xfer-{protocol}-root")
    if protocol == "as2":
        monkeypatch.setenv("XFER_DATA_DIR", str(tmp_path_factory.mktemp("xfer-data")))
    return serve(protocol, pki, root=root, **options)


@pytest.fixture
def xfer_https_server(xfer_serve: Callable[..., Endpoint]) -> Endpoint:
    """An HTTPS server (PUT/GET/DELETE, JSON index) requiring a client certificate."""
    return xfer_serve("https")


@pytest.fixture
def xfer_ftps_server(xfer_serve: Callable[..., Endpoint]) -> Endpoint:
    """An explicit FTPS server (``ftpes://``, AUTH TLS) requiring a client certificate and
    TLS session reuse on data connections, like vsftpd.  Implicit: ``xfer_serve("ftps")``."""
    return xfer_serve("ftpes")


@pytest.fixture
def xfer_webdav_server(xfer_serve: Callable[..., Endpoint]) -> Endpoint:
    """A WebDAV-over-TLS server (``davs://``, wsgidav on cheroot) requiring a client certificate."""
    return xfer_serve("davs")


@pytest.fixture
def xfer_as2_server(xfer_serve: Callable[..., Endpoint]) -> Endpoint:
    """An AS2 receiver over mutual TLS that stores what it receives and answers signed MDNs.

    Its profile sends signed, encrypted and compressed messages and asks for a signed MDN."""
    return xfer_serve("as2")


@pytest.fixture
def xfer_sftp_server(xfer_serve: Callable[..., Endpoint]) -> Endpoint:
    """An SFTP server (asyncssh) accepting OpenSSH user certificates from a test user CA, with a
    host certificate.  ``identity`` is the SSH key (its certificate beside it); ``ca`` the
    known_hosts file that trusts the host CA."""
    return xfer_serve("sftp")


class FaultyServer:
    """An embedded server (``endpoint``) that scenarios reach through a fresh fault proxy each.

    ``listeners``: the proxy's sockets on 127.0.0.2 at the server's control and passive port
    numbers, bound once and handed from one scenario's proxy to the next."""

    def __init__(self, endpoint: Endpoint, passive_ports: list[int],
                 listeners: dict[int, socket.socket] | None = None) -> None:
        self.endpoint = endpoint
        self.passive_ports = passive_ports
        self.listeners = listeners or {}

    @contextlib.contextmanager
    def through(self, plan: Plan | None = None) -> Iterator[tuple[FaultProxy, Profile]]:
        """A proxy breaking connections per ``plan``, and the endpoint's profile going through it."""
        from ..profiles import Profile

        with in_front_of(self.endpoint.url, plan, passive_ports=self.passive_ports,
                         listeners=self.listeners) as (proxy, url):
            profile = self.endpoint.profile
            yield proxy, Profile.from_mapping(profile.name, {**profile.to_toml(), "url": url})


#: Servers started before one whose port numbers were all free on the proxy's address too.
_FAULTY_ATTEMPTS = 10


@pytest.fixture
def xfer_faulty(
    xfer_pki: TestPKI, tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Callable[..., FaultyServer]]:
    """``xfer_faulty(protocol, **server_options) -> FaultyServer``; FTP servers get fixed passive ports.

    The proxy listens on 127.0.0.2 at the server's own port numbers.  The server chose its
    number on 127.0.0.1 only, so another socket may hold it on 127.0.0.2: then the server is
    stopped and another started, until every number is free on both addresses."""
    with contextlib.ExitStack() as stack:

        def start(protocol: str, **options: Any) -> FaultyServer:
            for attempt in range(_FAULTY_ATTEMPTS):
                with contextlib.ExitStack() as started:
                    passive: list[int] = []
                    if protocol in ("ftps", "ftpes"):
                        passive = free_ports(4)
                        options["handler_attrs"] = {**options.get("handler_attrs", {}), "passive_ports": passive}
                    endpoint = started.enter_context(
                        _serve_for_test(protocol, xfer_pki, tmp_path_factory, monkeypatch, options))
                    listeners: dict[int, socket.socket] = {}
                    try:
                        for port in (urllib.parse.urlsplit(endpoint.url).port or 0, *passive):
                            listeners[port] = started.enter_context(listen_at(PROXY_HOST, port))
                    except OSError as error:
                        if error.errno != errno.EADDRINUSE or attempt == _FAULTY_ATTEMPTS - 1:
                            raise
                        continue  # leaving the block stops this server
                    stack.enter_context(started.pop_all())
                    return FaultyServer(endpoint, passive, listeners)
            raise AssertionError("unreachable")

        yield start
