"""Running in-process servers as a client sees them: URL, ready profile, identity, storage.

:func:`serve` starts one of the embedded mTLS servers and yields an :class:`Endpoint`
that holds everything a test (or ``xfer demo``) needs to talk to it::

    from xfer.testing import create_pki, serve

    pki = create_pki(folder / "pki")
    with serve("ftpes", pki, root=folder / "ftp") as endpoint:
        with xfer.connect(endpoint.profile) as remote:
            remote.put_file("invoice.edi", "/invoice.edi")
        assert (endpoint.root / "invoice.edi").exists()

The protocols are a table (:data:`SERVERS`): adding a server is one entry.
Server modules are imported on first use, so importing this module is cheap and
a missing optional dependency (pyftpdlib, wsgidav) only affects its own protocol.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..profiles import Profile
    from .pki import TestPKI

__all__ = ["SERVERS", "Endpoint", "ServerFactory", "serve"]

#: Seconds a client waits for the embedded servers: they answer in milliseconds, so a
#: hang is a bug and should fail a test quickly rather than after the 30 s default.
_TIMEOUT = 10.0


@dataclass(frozen=True)
class Endpoint:
    """A running server and how to reach it.

    ``profile`` is a validated :class:`~xfer.profiles.Profile` (absolute paths, secret
    *references* only): pass it to :func:`xfer.connect`, or write ``profile.to_toml()``
    to a file for the CLI.  ``root`` is the server's storage folder on this machine,
    where uploads land.  ``server`` is the server object itself (``HTTPSServer``,
    ``FTPSServer``...) for assertions on what it saw.
    """

    protocol: str  # the scheme in SERVERS: https, ftpes, ftps, davs, as2
    url: str
    profile: Profile
    identity: Path  # the client's PKCS#12 bundle (sftp: its SSH private key)
    identity_password: str  # a secret reference, "file:<the PKI's password file>"
    ca: Path  # the root CA that signed the server certificate (sftp: known_hosts trusting the host CA)
    root: Path
    server: Any
    software: str  # what answers, for people: "pyftpdlib 2.0", "http.server"...
    _client_names: Callable[[], list[str]] = field(repr=False)
    _data_sessions: Callable[[], list[bool]] | None = field(default=None, repr=False)
    _tls_versions: Callable[[], list[str]] | None = field(default=None, repr=False)

    def client_names(self) -> list[str]:
        """Common names of the client certificates the server accepted so far, in order seen."""
        return self._client_names()

    def data_sessions(self) -> list[bool] | None:
        """FTPS: per data connection, did it resume the control connection's TLS session?
        None for protocols without separate data connections."""
        return self._data_sessions() if self._data_sessions is not None else None

    def tls_versions(self) -> list[str] | None:
        """TLS versions of the handshakes the server completed (distinct, in order seen);
        None if this server cannot tell (the client-side adapters report it then)."""
        return self._tls_versions() if self._tls_versions is not None else None

    @property
    def address(self) -> str:
        """``host:port`` the server listens on."""
        return self.profile.endpoint.host + f":{self.profile.endpoint.port}"


#: Start a server: (pki, storage folder, profile name, server options) -> context manager.
ServerFactory = Callable[["TestPKI", Path, str, Mapping[str, Any]], contextlib.AbstractContextManager[Endpoint]]


def _profile(name: str, pki: TestPKI, url: str, **extra: Any) -> Profile:
    from ..profiles import Profile

    data: dict[str, Any] = {
        "url": url,
        "identity": str(pki.client_p12),
        "identity_password": f"file:{pki.password_file}",
        "ca": str(pki.root_ca),
        "timeout": _TIMEOUT,
        **extra,
    }
    return Profile.from_mapping(name, data)


def _secret_file(pki: TestPKI, name: str, value: str) -> Path:
    """A password beside the PKI's, so profiles can say ``file:...`` (never a literal)."""
    path = pki.folder / name
    if not path.exists() or path.read_text() != value:
        path.write_text(value)
        path.chmod(0o600)
    return path


def _endpoint(protocol: str, pki: TestPKI, srv: Any, profile: Profile, software: str, **observers: Any) -> Endpoint:
    """The Endpoint of a running server; every one trusts the PKI's root and uses its client identity."""
    return Endpoint(
        protocol=protocol, url=profile.url, profile=profile, identity=pki.client_p12,
        identity_password=f"file:{pki.password_file}", ca=pki.root_ca, root=srv.root, server=srv,
        software=software, **observers,
    )


def _request_names(srv: Any) -> Callable[[], list[str]]:
    """Client-certificate names from a server that records its requests (HTTPS, WebDAV)."""
    return lambda: list(dict.fromkeys(r.client_cn for r in srv.requests if r.client_cn))


def _version(distribution: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return f"{distribution} {version(distribution)}"
    except PackageNotFoundError:
        return distribution


@contextlib.contextmanager
def _https(pki: TestPKI, root: Path, name: str, options: Mapping[str, Any]) -> Iterator[Endpoint]:
    from .https_server import HTTPSServer

    with HTTPSServer(pki, root=root, **options) as srv:
        profile = _profile(name, pki, f"{srv.url}/", https={"index": "json"})
        yield _endpoint("https", pki, srv, profile, "http.server", _client_names=_request_names(srv))


def _ftps(implicit: bool) -> ServerFactory:
    @contextlib.contextmanager
    def start(pki: TestPKI, root: Path, name: str, options: Mapping[str, Any]) -> Iterator[Endpoint]:
        from cryptography.x509.oid import NameOID
        from OpenSSL import SSL
        from pyftpdlib.handlers import TLS_FTPHandler

        from .ftps_server import FTPSServer

        seen: list[str] = []
        base: type[Any] = options.get("handler_class", TLS_FTPHandler)

        class Recording(base):  # type: ignore[misc]  # pyftpdlib is untyped
            """Notes the client certificate's CN once TLS is up (the server already verified it)."""

            _xfer_peer_noted = False

            def pre_process_command(self, line: str, cmd: str, arg: str) -> None:
                if not self._xfer_peer_noted and isinstance(self.socket, SSL.Connection):
                    self._xfer_peer_noted = True
                    cert = self.socket.get_peer_certificate()
                    if cert is not None:
                        # cryptography's API: pyOpenSSL's own X509 accessors are deprecated.
                        subject = cert.to_cryptography().subject
                        for attribute in subject.get_attributes_for_oid(NameOID.COMMON_NAME):
                            if attribute.value not in seen:
                                seen.append(str(attribute.value))
                super().pre_process_command(line, cmd, arg)

        settings = {**options, "handler_class": Recording}
        password = settings.pop("password", "xfer-ftp-password")
        with FTPSServer(pki, root=root, implicit=implicit, password=password, **settings) as srv:
            secret = _secret_file(pki, "ftp-password.txt", password)
            profile = _profile(name, pki, srv.url, username=srv.user, password=f"file:{secret}")
            yield _endpoint(
                srv.scheme, pki, srv, profile, _version("pyftpdlib"),
                _client_names=lambda: list(seen), _data_sessions=lambda: list(srv.data_sessions),
            )

    return start


@contextlib.contextmanager
def _davs(pki: TestPKI, root: Path, name: str, options: Mapping[str, Any]) -> Iterator[Endpoint]:
    from .webdav_server import WebDAVServer

    with WebDAVServer(pki, root=root, **options) as srv:
        profile = _profile(name, pki, srv.url)
        yield _endpoint("davs", pki, srv, profile, _version("WsgiDAV"), _client_names=_request_names(srv))


@contextlib.contextmanager
def _as2(pki: TestPKI, root: Path, name: str, options: Mapping[str, Any]) -> Iterator[Endpoint]:
    from .as2_server import AS2Server

    with AS2Server(pki, root=root, **options) as srv:
        # The full treatment: signed, encrypted, compressed, with a signed receipt (MDN).
        as2 = {
            "as2_from": srv.partner_as2_id or "XFERCLIENT", "as2_to": srv.as2_id,
            "partner_cert": str(pki.partner_cert), "sign": "sha256", "encrypt": "aes256-cbc",
            "compress": True, "mdn": "signed-sync",
        }
        profile = _profile(name, pki, srv.url, protocol="as2", as2=as2)

        def names() -> list[str]:
            return list(dict.fromkeys(cn for _, cn in srv.handshakes if cn))

        def versions() -> list[str]:
            return list(dict.fromkeys(v for v, _ in srv.handshakes if v))

        yield _endpoint("as2", pki, srv, profile, "xfer AS2", _client_names=names, _tls_versions=versions)


@contextlib.contextmanager
def _sftp(pki: TestPKI, root: Path, name: str, options: Mapping[str, Any]) -> Iterator[Endpoint]:
    from ..profiles import Profile
    from .sftp_server import SFTPServer, create_ssh_keys

    # SSH has its own PKI (a user CA, a host CA), kept beside the TLS one.
    keys = create_ssh_keys(pki.folder / "ssh")
    with SFTPServer(keys, root=root, **options) as srv:
        profile = Profile.from_mapping(name, {
            "url": srv.url, "identity": str(keys.client_key), "identity_password": f"file:{keys.passphrase_file}",
            "timeout": _TIMEOUT, "sftp": {"known_hosts": str(keys.known_hosts_ca)},
        })
        yield Endpoint(
            protocol="sftp", url=profile.url, profile=profile, identity=keys.client_key,
            identity_password=f"file:{keys.passphrase_file}", ca=keys.known_hosts_ca, root=srv.root, server=srv,
            software=_version("asyncssh"), _client_names=lambda: list(dict.fromkeys(srv.logins)),
        )


#: scheme -> how to start its server.  ``xfer demo`` and the pytest fixtures read this table.
SERVERS: dict[str, ServerFactory] = {
    "https": _https,
    "ftpes": _ftps(implicit=False),
    "ftps": _ftps(implicit=True),
    "davs": _davs,
    "as2": _as2,
    "sftp": _sftp,
}


def serve(
    protocol: str,
    pki: TestPKI,
    *,
    root: str | Path,
    name: str | None = None,
    **options: Any,
) -> contextlib.AbstractContextManager[Endpoint]:
    """Start the embedded server for ``protocol`` (a key of :data:`SERVERS`) storing into ``root``.

    ``name`` is the profile's name (default ``xfer-<protocol>``); ``options`` go to the
    server class (``tls_max="1.2"``, ``implicit``...).  Stopping happens on leaving the block.
    """
    try:
        factory = SERVERS[protocol]
    except KeyError:
        raise ValueError(f"no embedded server for {protocol!r}; choose from {', '.join(SERVERS)}") from None
    folder = Path(root)
    folder.mkdir(parents=True, exist_ok=True)
    return factory(pki, folder, name or f"xfer-{protocol}", options)
