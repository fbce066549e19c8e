"""Issue 11 item 5: every TLS check holds through an HTTP CONNECT proxy, plain and TLS-fronted.

Through an ``https://`` proxy urllib3 runs the TLS to the origin inside the TLS to the
proxy, with ``wrap_bio`` (an ``SSLObject``): the pin check used to live only in the
socket class, so ``--pin`` was skipped there.  Pin, CA and host name are tested through
both proxy kinds, and so is a truncated body (urllib3's TLS-in-TLS transport turns a
ragged EOF into a clean end of file unless xfer's SSLObject says otherwise).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from cryptography import x509

from xfer.adapters.base import ConnectionSettings
from xfer.adapters.https import HTTPSAdapter
from xfer.errors import ConnectionDropped, HostnameMismatch, PinMismatch, ServerCertificateUntrusted
from xfer.identity import Identity, fingerprint_sha256
from xfer.testing.contract import make_file, sha256_of
from xfer.testing.hostile_https import Reply, ScriptedHTTPSServer
from xfer.testing.https_server import HTTPSServer
from xfer.testing.pki import TestPKI
from xfer.testing.proxy import ConnectProxy
from xfer.tls import XferSSLContext, create_ssl_context

WRONG_PIN = "sha256:" + "0" * 64


@pytest.fixture(params=["http-proxy", "https-proxy"])
def proxy(request: pytest.FixtureRequest, pki: TestPKI, monkeypatch: pytest.MonkeyPatch) -> Iterator[ConnectProxy]:
    """A running proxy in HTTPS_PROXY; the TLS one's certificate is trusted the way users do it."""
    for name in ("NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy", "https_proxy"):
        monkeypatch.delenv(name, raising=False)
    tls = request.param == "https-proxy"
    if tls:
        # The proxy is trusted through the system store (OpenSSL reads SSL_CERT_FILE), not --ca:
        # --ca names the partner's CA only.
        monkeypatch.setenv("SSL_CERT_FILE", str(pki.root_ca))
    with ConnectProxy(pki=pki if tls else None) as running:
        monkeypatch.setenv("HTTPS_PROXY", running.url)
        yield running


def _server_pin(pki: TestPKI, cert: Path | None = None) -> str:
    return fingerprint_sha256(x509.load_pem_x509_certificates((cert or pki.server_cert).read_bytes())[0])


def _adapter(srv: HTTPSServer | ScriptedHTTPSServer, ctx: XferSSLContext) -> HTTPSAdapter:
    return HTTPSAdapter(ConnectionSettings(scheme="https", host=srv.host, port=srv.port, root="/", ssl_context=ctx,
                                           timeout=10))


def test_transfer_through_the_proxy_with_pin(
    proxy: ConnectProxy, pki: TestPKI, identity: Identity, tmp_path: Path
) -> None:
    ctx = create_ssl_context(identity, ca=pki.root_ca, pin=_server_pin(pki))
    make_file(tmp_path / "f", 300_000)
    with HTTPSServer(pki, root=tmp_path / "srv") as srv, _adapter(srv, ctx) as remote:
        remote.put_file(tmp_path / "f", "/via.bin")
        remote.get_file("/via.bin", tmp_path / "back")
        assert all(r.client_cn == "xfer-client" for r in srv.requests)  # identity shown inside the tunnel
    assert sha256_of(tmp_path / "back") == sha256_of(tmp_path / "f")
    assert proxy.tunnels == [srv.server]
    assert not proxy.saw_plaintext_http


def test_pin_mismatch_through_the_proxy(proxy: ConnectProxy, pki: TestPKI, identity: Identity, tmp_path: Path) -> None:
    ctx = create_ssl_context(identity, ca=pki.root_ca, pin=WRONG_PIN)
    with HTTPSServer(pki, root=tmp_path / "srv") as srv:
        (srv.root / "f").write_bytes(b"secret")
        with _adapter(srv, ctx) as remote, pytest.raises(PinMismatch) as caught:
            remote.get_file("/f", tmp_path / "f")
        assert srv.requests == [], "nothing may be sent to a server that fails the pin"
    assert WRONG_PIN in str(caught.value) and _server_pin(pki) in str(caught.value)
    assert proxy.tunnels == [srv.server]
    assert not (tmp_path / "f").exists()


def test_untrusted_ca_through_the_proxy(
    proxy: ConnectProxy, pki: TestPKI, identity: Identity, tmp_path: Path
) -> None:
    ctx = create_ssl_context(identity, ca=pki.untrusted_ca)
    with HTTPSServer(pki, root=tmp_path / "srv") as srv, _adapter(srv, ctx) as remote:
        with pytest.raises(ServerCertificateUntrusted, match="we do not trust the server's certificate") as caught:
            remote.ls("/")
    # The handshake facts are recorded on the SSLObject path too: the message names the certificate.
    assert _server_pin(pki) in str(caught.value)
    assert proxy.tunnels == [srv.server]


def test_wrong_host_name_through_the_proxy(
    proxy: ConnectProxy, pki: TestPKI, client_context: Callable[..., XferSSLContext], tmp_path: Path
) -> None:
    with HTTPSServer(pki, root=tmp_path / "srv", cert=pki.wrong_host_cert, key=pki.wrong_host_key) as srv:
        with _adapter(srv, client_context()) as remote, pytest.raises(HostnameMismatch, match="not valid for this"):
            remote.ls("/")
    assert proxy.tunnels == [srv.server]


def test_truncated_body_through_the_proxy(
    proxy: ConnectProxy, pki: TestPKI, client_context: Callable[..., XferSSLContext], tmp_path: Path
) -> None:
    replies = {"/cut": Reply(body=b"x" * 100_000, length=False, end="fin"),
               "/whole": Reply(body=b"y" * 100_000, length=False, end="close_notify")}
    target = tmp_path / "cut"
    target.write_bytes(b"old")
    with ScriptedHTTPSServer(pki, replies) as srv, _adapter(srv, client_context()) as remote:
        # Cut on every try (1 + 3 retries): the connection keeps failing, exit 5.
        with pytest.raises(ConnectionDropped, match=r"ended early.*cut on each of 4 tries"):
            remote.get_file("/cut", target)
        remote.get_file("/whole", tmp_path / "whole")
    assert target.read_bytes() == b"old"
    assert (tmp_path / "whole").read_bytes() == b"y" * 100_000
    assert len(proxy.tunnels) == 4 + 1  # the cut get: 1 try + 3 retries, each over a new tunnel


def test_proxy_refuses_to_relay_outside_loopback(pki: TestPKI) -> None:
    import socket

    with ConnectProxy() as proxy, socket.create_connection(("127.0.0.1", proxy.port)) as conn:
        conn.sendall(b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n")
        assert conn.recv(100).startswith(b"HTTP/1.1 403")
    assert proxy.refused == ["example.com:443"] and proxy.tunnels == []
