"""The guarded session: what it refuses, how it maps statuses, and that it leaves our context alone."""

from __future__ import annotations

import io
import ssl
from collections.abc import Callable

import pytest
import requests

from xfer.errors import (
    ClientCertificateRejected,
    ClientCertificateRequired,
    ConnectionDropped,
    ExitCode,
    InsecureSchemeRefused,
    LocalError,
    RemoteError,
    RemoteNotFound,
    RemotePermissionDenied,
    RemoteStorageFull,
    ServerError,
    UsageError,
)
from xfer.http_errors import map_http_error
from xfer.http_session import create_session, origin_of
from xfer.multipart import MultipartBody
from xfer.tls import XferSSLContext


def _response(status: int, reason: str, body: bytes = b"", url: str = "https://h:8443/x") -> requests.Response:
    response = requests.Response()
    response.status_code = status
    response.reason = reason
    response._content = body
    response._content_consumed = True  # type: ignore[attr-defined]
    response.url = url
    return response


NGINX_400 = (
    b"<html>\r\n<head><title>400 No required SSL certificate was sent</title></head>\r\n<body>\r\n"
    b"<center><h1>400 Bad Request</h1></center>\r\n<center>No required SSL certificate was sent</center>\r\n"
    b"<hr><center>nginx/1.22.1</center>\r\n</body>\r\n</html>\r\n"
)


@pytest.mark.parametrize(
    ("status", "reason", "body", "kind", "words"),
    [
        (401, "Unauthorized", b"", RemotePermissionDenied, "permission denied for /x (login required)"),
        (403, "Forbidden", b"", RemotePermissionDenied, "permission denied for /x (403 Forbidden)"),
        (404, "Not Found", b"", RemoteNotFound, "/x does not exist (404 Not Found)"),
        (413, "Request Entity Too Large", b"", RemoteStorageFull, "too large for the server"),
        (400, "Bad Request", NGINX_400, ClientCertificateRequired, "requires a client certificate"),
        (
            400,
            "Bad Request",
            NGINX_400.replace(b"No required SSL certificate was sent", b"The SSL certificate error"),
            ClientCertificateRejected,
            "rejected our client certificate",
        ),
        (500, "Internal Server Error", b"", ServerError, "HTTP 500 Internal Server Error"),
        (503, "Service Unavailable", b"", ServerError, "HTTP 503 Service Unavailable"),
        (400, "Bad Request", b"plain", RemoteError, "HTTP 400 Bad Request"),
    ],
)
def test_status_mapping(status: int, reason: str, body: bytes, kind: type, words: str) -> None:
    error = map_http_error(_response(status, reason, body), server="h:8443")
    assert type(error) is kind
    assert words in str(error)
    assert str(error).startswith("h:8443")


def test_exception_mapping_cut_stream() -> None:
    import urllib3.exceptions

    exc = requests.exceptions.ChunkedEncodingError(
        urllib3.exceptions.ProtocolError("Connection broken: IncompleteRead(10 bytes read, 5 more expected)")
    )
    error = map_http_error(exc, server="h:1")
    assert isinstance(error, ConnectionDropped)
    assert "broke in the middle of a transfer" in str(error)


def test_exception_mapping_surfaces_an_xfer_error_anywhere_in_the_chain() -> None:
    import urllib3.exceptions

    local = LocalError("cannot read /data/f.bin: Input/output error")
    # What requests raises when the upload body's iterator raised it (urllib3 wraps OSErrors).
    wrapped = requests.exceptions.ConnectionError(urllib3.exceptions.ProtocolError("Connection aborted.", local))
    assert map_http_error(wrapped, server="h:1") is local
    # ... and when it is only the cause or context of what the library raised.
    outer = urllib3.exceptions.MaxRetryError(None, "https://h:1/", reason=None)  # type: ignore[arg-type]
    outer.__cause__ = OSError("send failed")
    outer.__cause__.__context__ = local
    error = map_http_error(requests.exceptions.ConnectionError(outer), server="h:1")
    assert error is local and error.exit_code == ExitCode.ERROR


def test_origin_canonical() -> None:
    assert origin_of("https://Example.COM/a") == "https://example.com:443"
    assert origin_of("https://h:8443/a?b") == "https://h:8443"
    assert origin_of("http://h/") == "http://h:80"
    assert origin_of("https://[::1]:5/") == "https://[::1]:5"


def test_session_refuses_clear_text_origin(client_context: Callable[..., XferSSLContext]) -> None:
    with pytest.raises(InsecureSchemeRefused):
        create_session(client_context(), server="h:80", allowed_origin="http://h:80")


def test_session_refuses_cert_and_verify_false(client_context: Callable[..., XferSSLContext]) -> None:
    session = create_session(client_context(), server="127.0.0.1:9")
    with pytest.raises(UsageError, match="verify=False is refused"):
        session.get("https://127.0.0.1:9/", verify=False)
    with pytest.raises(UsageError, match="cert= is refused"):
        session.get("https://127.0.0.1:9/", cert=("a.pem", "b.pem"))
    with pytest.raises(UsageError, match=r"verify='/etc/ssl/x\.pem' is refused"):
        session.get("https://127.0.0.1:9/", verify="/etc/ssl/x.pem")
    with pytest.raises(UsageError):
        session.verify = False
    with pytest.raises(UsageError):
        session.cert = "client.pem"


def test_session_refuses_other_origins(client_context: Callable[..., XferSSLContext]) -> None:
    session = create_session(client_context(), server="127.0.0.1:9")
    with pytest.raises(RemoteError, match=r"only talks to https://127\.0\.0\.1:9"):
        session.get("https://example.com/")
    with pytest.raises(InsecureSchemeRefused):
        session.get("http://127.0.0.1:9/")


def test_only_our_context_is_mounted(client_context: Callable[..., XferSSLContext]) -> None:
    ctx = client_context()
    session = create_session(ctx, server="127.0.0.1:9", blocksize=1 << 20)
    assert list(session.adapters) == ["https://"]
    adapter = session.adapters["https://"]
    kw = adapter.poolmanager.connection_pool_kw  # type: ignore[attr-defined]
    assert kw["ssl_context"] is ctx and kw["blocksize"] == 1 << 20
    proxy = adapter.proxy_manager_for("http://127.0.0.1:3128")  # type: ignore[attr-defined]
    assert proxy.connection_pool_kw["ssl_context"] is ctx
    assert session.url_for("/a b/ü.txt") == "https://127.0.0.1:9/a%20b/%C3%BC.txt"
    assert session.url_for("/dir", folder=True) == "https://127.0.0.1:9/dir/"


def test_multipart_body_length_and_content() -> None:
    data = b"0123456789" * 1000
    seen: list[int] = []
    body = MultipartBody(
        io.BytesIO(data),
        len(data),
        field="upload",
        filename='a "b".txt',
        blocksize=4096,
        callback=lambda sent, total: seen.append(sent),
    )
    raw = b"".join(bytes(chunk) for chunk in body)
    assert len(raw) == len(body)
    assert body.content_type == f"multipart/form-data; boundary={body.boundary}"
    assert b'name="upload"; filename="a %22b%22.txt"' in raw
    assert raw.endswith(f"\r\n--{body.boundary}--\r\n".encode())
    assert data in raw
    assert seen[-1] == len(data)


def test_context_is_plain_ssl_context(client_context: Callable[..., XferSSLContext]) -> None:
    # The factory's product goes in unchanged; the session never builds one.
    ctx = client_context()
    session = create_session(ctx, server="127.0.0.1:9")
    assert isinstance(session.ssl_context, ssl.SSLContext) and session.ssl_context is ctx


def test_the_environment_proxy_is_decided_once_and_handed_to_requests(
    client_context: Callable[..., XferSSLContext], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The session reads HTTPS_PROXY/NO_PROXY once (xfer.net.choose_proxy) and gives requests that
    decision; requests never reads the environment (trust_env is off), so both agree (review S)."""
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.invalid:3128")
    monkeypatch.setenv("NO_PROXY", "")
    session = create_session(client_context(), server="127.0.0.1:9")
    assert session.proxies == {"https": "http://proxy.invalid:3128"}
    monkeypatch.setenv("HTTPS_PROXY", "http://other.invalid:3128")  # read once: a later change is not seen
    settings = session.merge_environment_settings(session.url_for("/a"), {}, False, True, None)
    assert settings["proxies"] == {"https": "http://proxy.invalid:3128"}
    monkeypatch.setenv("NO_PROXY", "127.0.0.0/8")
    assert create_session(client_context(), server="127.0.0.1:9").proxies == {}
