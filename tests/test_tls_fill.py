"""XferSSLSocket.fill, the bulk read of downloads: every byte, a clean end, and a cut that stays a cut.

A real TLS server on the other end of a socket pair, ending its stream with close_notify, with a
bare TCP close (what a cut, or a forged end, looks like), or falling silent (a read timeout).
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest

from xfer.adapters.ftps.connection import DataReader
from xfer.testing.pki import TestPKI
from xfer.tls import XferSSLContext
from xfer.tls.connection import XferSSLSocket
from xfer.tls.translate import bytes_moved

PAYLOAD = bytes(range(256)) * 1500  # 384,000 bytes: 24 records and a short one


@contextmanager
def serving(
    pki: TestPKI, context: XferSSLContext, end: str, payload: bytes = PAYLOAD
) -> Iterator[XferSSLSocket]:
    """A client socket whose server sends ``payload`` then ends as ``end`` says ("close_notify",
    "tcp_close", or "stall": silent for 3 s, then a close)."""
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_context.load_cert_chain(pki.server_cert, pki.server_key)
    ours, theirs = socket.socketpair()

    def serve() -> None:
        # A client that stops reading early (one test closes at once) ends the sending.
        with contextlib.suppress(OSError), server_context.wrap_socket(theirs, server_side=True) as tls:
            tls.sendall(payload)
            if end == "stall":
                time.sleep(3)
            elif end == "close_notify":
                # Waits for our close_notify, which a client that stopped reading never sends.
                with contextlib.suppress(OSError):
                    tls.unwrap()
            else:
                tls.shutdown(socket.SHUT_RDWR)  # a FIN, no close_notify

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    ours.settimeout(10)
    conn = context.wrap_socket(ours, server_hostname="127.0.0.1")
    try:
        assert isinstance(conn, XferSSLSocket)
        yield conn
    finally:
        conn.close()
        thread.join(10)


def read_all(conn: XferSSLSocket, block: int) -> tuple[bytes, list[int]]:
    """fill() until 0, as a download does; the bytes and each call's count."""
    view = memoryview(bytearray(block))
    got, counts = bytearray(), []
    while count := conn.fill(view):
        counts.append(count)
        got += view[:count]
    counts.append(0)
    return bytes(got), counts


@pytest.mark.parametrize("block", [4096, 16384, 65536, 262144, 1 << 20])
def test_every_byte_arrives_in_full_views_then_a_clean_end(
    pki: TestPKI, client_context: Callable[..., XferSSLContext], block: int
) -> None:
    with serving(pki, client_context(), "close_notify") as conn:
        got, counts = read_all(conn, block)
    assert got == PAYLOAD
    # Every view is filled before it is handed back, whatever the record size: as few fills as
    # the payload needs, then the clean end (0).
    assert counts == [block] * (len(PAYLOAD) // block) + [len(PAYLOAD) % block] * bool(len(PAYLOAD) % block) + [0]


def test_a_cut_after_data_hands_over_the_data_then_raises(
    pki: TestPKI, client_context: Callable[..., XferSSLContext]
) -> None:
    view = memoryview(bytearray(1 << 20))
    with serving(pki, client_context(), "tcp_close") as conn:
        count = conn.fill(view)
        assert bytes(view[:count]) == PAYLOAD  # nothing the server sent is lost
        with pytest.raises(ssl.SSLEOFError) as raised:
            conn.fill(view)  # the cut comes next: never read as an end
    # Tagged as recv_into tags it: the translator names the bytes moved.
    assert bytes_moved(raised.value) == (0, len(PAYLOAD))


def test_a_cut_with_nothing_read_raises_at_once(
    pki: TestPKI, client_context: Callable[..., XferSSLContext]
) -> None:
    with serving(pki, client_context(), "tcp_close", payload=b"") as conn, pytest.raises(ssl.SSLEOFError):
        conn.fill(memoryview(bytearray(4096)))


@pytest.mark.parametrize("block", [1000, 100_000])
def test_recv_into_and_fill_share_one_stream(
    pki: TestPKI, client_context: Callable[..., XferSSLContext], block: int
) -> None:
    """A reader that starts with recv_into (http.client's head) and goes on with fill loses nothing."""
    with serving(pki, client_context(), "close_notify") as conn:
        head = bytearray(777)
        first = conn.recv_into(head)
        rest, _counts = read_all(conn, block)
    assert bytes(head[:first]) + rest == PAYLOAD


def test_a_byte_read_ahead_is_served_first_and_counted_once(
    pki: TestPKI, client_context: Callable[..., XferSSLContext]
) -> None:
    """The byte read while looking for a TLS 1.3 alert (``_pushback``) starts the first fill."""
    with serving(pki, client_context(), "close_notify") as conn:
        conn._pushback = ssl.SSLSocket.recv(conn, 1)  # what _pending_alert keeps, uncounted
        got, _counts = read_all(conn, 65536)
        received = conn._app_bytes
    assert got == PAYLOAD
    assert received == len(PAYLOAD)


def test_fill_on_a_closed_socket_says_so(pki: TestPKI, client_context: Callable[..., XferSSLContext]) -> None:
    with serving(pki, client_context(), "close_notify") as conn:
        conn.close()
        with pytest.raises(ValueError, match="closed"):
            conn.fill(memoryview(bytearray(10)))


@pytest.mark.parametrize("end", ["tcp_close", "stall"])
def test_an_ftps_data_reader_keeps_the_bytes_read_before_a_cut(
    pki: TestPKI, client_context: Callable[..., XferSSLContext], end: str
) -> None:
    """FTPS reads its data connection until 0: what arrived before a cut is handed over (and
    counted, for a resume to continue after it); then the FIN reads as a ragged end, the
    silence as a timeout."""
    view = memoryview(bytearray(1 << 20))
    with serving(pki, client_context(), end) as conn:
        conn.settimeout(0.5)
        reader = DataReader(conn)
        count = reader.fill(view)
        assert bytes(view[:count]) == PAYLOAD and reader.received == len(PAYLOAD)
        if end == "tcp_close":
            assert reader.fill(view) == 0 and reader.ragged
        else:
            with pytest.raises(TimeoutError):
                reader.fill(view)
