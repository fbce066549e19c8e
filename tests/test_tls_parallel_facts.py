"""Issue 12 item 4: what a handshake learned belongs to that connection, not to the shared context.

``-P N`` runs handshakes in parallel on one :class:`~xfer.tls.XferSSLContext`.  When each
server rejects our client certificate, the error must name the CAs *that* server accepts;
when we refuse each server's certificate, the error must name *that* certificate.
"""

from __future__ import annotations

import hashlib
import socket
import ssl
import threading
import time
from collections.abc import Callable

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from xfer.errors import ClientCertificateRejected, ServerCertificateUntrusted, XferError
from xfer.identity import Identity
from xfer.testing.pki import TestPKI
from xfer.tls import XferSSLContext, create_ssl_context, translate_error

from .tls_echo import EchoServer, openssl_server


def _in_parallel(context: XferSSLContext, ports: list[int], talk: Callable[[ssl.SSLSocket], None]) -> list[XferError]:
    """One handshake per port, each in its own thread; every thread translates its failure only
    after all handshakes are over, so a fact kept on the shared context would be overwritten."""
    barrier = threading.Barrier(len(ports))
    errors: list[XferError | None] = [None] * len(ports)

    def run(index: int, port: int) -> None:
        failure: BaseException | None = None
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
                with context.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
                    talk(tls)
        except (OSError, ssl.SSLError) as exc:
            failure = exc
        barrier.wait(timeout=20)
        if failure is not None:
            errors[index] = translate_error(failure, context=context, server=f"127.0.0.1:{port}")

    threads = [threading.Thread(target=run, args=(i, port)) for i, port in enumerate(ports)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert all(error is not None for error in errors), f"every handshake must fail: {errors}"
    return [error for error in errors if error is not None]


def _request(tls: ssl.SSLSocket) -> None:
    # TLS 1.3: the server's verdict on our certificate arrives after our handshake is done.
    tls.sendall(b"GET / HTTP/1.0\r\n\r\n")
    tls.recv(100)


@pytest.mark.parametrize("version", ["1.2", "1.3"])
def test_each_rejection_names_its_own_servers_accepted_cas(pki: TestPKI, version: str) -> None:
    identity = Identity.load(pki.client_untrusted_p12, pki.password)  # issued by a CA neither server trusts
    context = create_ssl_context(identity, ca=pki.root_ca, maximum_version=version)
    chain = pki.intermediate_ca
    with (
        openssl_server(pki.server_cert, pki.server_key, chain=chain, client_ca=pki.root_ca) as root_only,
        openssl_server(pki.partner_cert, pki.partner_key, chain=chain, client_ca=chain) as intermediate_only,
    ):
        for _ in range(3):  # the threads interleave differently each round
            first, second = _in_parallel(context, [root_only, intermediate_only], _request)
            assert isinstance(first, ClientCertificateRejected) and isinstance(second, ClientCertificateRejected)
            assert "accepts certificates issued by: Common Name: xfer test root CA" in str(first), first
            assert "intermediate" not in str(first)
            assert "accepts certificates issued by: Common Name: xfer test intermediate CA" in str(second), second
            assert "root" not in str(second)


def test_each_refused_server_certificate_is_named(pki: TestPKI, identity: Identity) -> None:
    context = create_ssl_context(identity, ca=pki.untrusted_ca)  # trusts neither server
    with EchoServer(pki) as right_host, EchoServer(pki, cert=pki.wrong_host_cert, key=pki.wrong_host_key) as wrong:
        for _ in range(3):
            first, second = _in_parallel(context, [right_host.port, wrong.port], _request)
            expected = [(first, pki.server_cert, "CN=127.0.0.1"), (second, pki.wrong_host_cert, "CN=wrong.invalid")]
            for error, pem, subject in expected:
                der = x509.load_pem_x509_certificate(pem.read_bytes()).public_bytes(Encoding.DER)
                assert isinstance(error, ServerCertificateUntrusted), error
                assert f"it is {subject}" in str(error), error
                assert "sha256:" + hashlib.sha256(der).hexdigest() in str(error), error


def test_a_finished_handshake_does_not_silence_one_under_way(pki: TestPKI, identity: Identity) -> None:
    """Connection B's handshake is under way when connection A's succeeds: B still records its facts.

    The gated server answers B's ClientHello only after A is done; a context-wide "stop
    listening" at the end of A's handshake would leave B's certificate unrecorded (or A's in its place).
    """
    context = create_ssl_context(identity, ca=pki.root_ca)
    gate = threading.Event()
    server_side = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_side.load_cert_chain(pki.wrong_host_cert, pki.wrong_host_key)  # valid chain, wrong host name
    listener = socket.create_server(("127.0.0.1", 0))

    def gated_server() -> None:
        conn, _ = listener.accept()
        with conn:
            gate.wait(timeout=20)
            try:
                with server_side.wrap_socket(conn, server_side=True):
                    pass
            except (OSError, ssl.SSLError):
                pass  # the client refuses our certificate: expected

    failure: list[BaseException] = []

    def client_b() -> None:
        try:
            with socket.create_connection(listener.getsockname(), timeout=10) as raw:
                context.wrap_socket(raw, server_hostname="127.0.0.1").close()
        except (OSError, ssl.SSLError) as exc:
            failure.append(exc)

    with listener, EchoServer(pki) as good:
        threading.Thread(target=gated_server, daemon=True).start()
        b = threading.Thread(target=client_b)
        b.start()
        time.sleep(0.3)  # B has sent its ClientHello and waits for the server's answer
        with socket.create_connection(("127.0.0.1", good.port), timeout=5) as raw:
            with context.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
                tls.sendall(b"ping")
                assert tls.recv(100) == b"echo:ping"
        gate.set()
        b.join(timeout=20)
    assert failure, "B's handshake must fail"
    error = translate_error(failure[0], context=context, server="127.0.0.1:1")
    der = x509.load_pem_x509_certificate(pki.wrong_host_cert.read_bytes()).public_bytes(Encoding.DER)
    assert "it is CN=wrong.invalid" in str(error), error
    assert "sha256:" + hashlib.sha256(der).hexdigest() in str(error), error
    # No handshake left under way: the per-record callback is off again (it costs CPU on bulk reads).
    assert getattr(context, "_msg_callback", None) is None
