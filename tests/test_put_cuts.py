"""Uploads cut mid-body, through the fault proxy: a broken connection, retried, in one line each.

A connection that breaks after megabytes went up is the network's failure (exit 5, retried),
never a sign that the server rejected our client certificate: that suspicion holds only for
a close right after the handshake, with (almost) nothing sent (tests/test_tls13_silent_close.py).
After the last try the error says the connection was cut on each try, as a download's does.
SFTP says the same, without asyncio's "socket.send() raised exception." once per write
into the dead connection.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import tomli_w

import xfer
from tests.helpers import one_error, run
from xfer.errors import ConnectionDropped, ExitCode, TransferCut, XferError
from xfer.profiles import Profile
from xfer.testing.endpoints import Endpoint, serve
from xfer.testing.faults import Cut, FaultProxy, free_ports, in_front_of
from xfer.testing.pki import TestPKI

SIZE = 3 * 2**20
DATA = hashlib.sha256(b"cut upload").digest() * (SIZE // 32)
#: Every connection is cut once this much went up: well past what a silent rejection lets through.
CUT = 1_000_000
BROKE = re.compile(r"the connection to 127\.0\.0\.2:\d+ broke after (\d+) bytes had been sent")


@contextmanager
def cut_every_time(
    protocol: str, pki: TestPKI, root: Path, **options: Any
) -> Iterator[tuple[Endpoint, FaultProxy, str]]:
    """An ``protocol`` server behind a proxy that cuts every connection (FTP: every data
    connection) after :data:`CUT` bytes up; the URL through the proxy."""
    passive = free_ports(4) if protocol.startswith("ftp") else []
    if passive:
        options["handler_attrs"] = {"passive_ports": passive}
    with serve(protocol, pki, root=root, name="pp", **options) as endpoint:
        control = int(endpoint.address.rsplit(":", 1)[1])

        def plan(number: int, port: int) -> Cut | None:
            return None if passive and port == control else Cut("up", after=CUT)

        with in_front_of(endpoint.url, plan, passive_ports=passive) as (proxy, url):
            yield endpoint, proxy, url


def connect(endpoint: Endpoint, url: str, **options: Any) -> xfer.Adapter:
    """The endpoint's profile (identity, trust, login), through the proxy at ``url``."""
    profile = Profile.from_mapping("pp", {**endpoint.profile.to_toml(), "url": url})
    return xfer.connect(profile, retry_wait=0.01, **options)


def only_the_old_file(endpoint: Endpoint) -> None:
    assert sorted(p.name for p in endpoint.root.rglob("*") if p.is_file()) == ["big.bin"]
    assert (endpoint.root / "big.bin").read_bytes() == b"old"


def not_about_the_certificate(error: XferError) -> None:
    said = f"{error} {error.hint or ''}"
    assert "certificate" not in said, said


@pytest.mark.parametrize("protocol", ["https", "davs"])
def test_upload_cut_on_every_try_is_a_broken_connection(pki: TestPKI, tmp_path: Path, protocol: str) -> None:
    source = tmp_path / "big.bin"
    source.write_bytes(DATA)
    with cut_every_time(protocol, pki, tmp_path / "root") as (endpoint, proxy, url):
        (endpoint.root / "big.bin").write_bytes(b"old")
        with connect(endpoint, url, retries=2) as remote, pytest.raises(ConnectionDropped) as caught:
            remote.put_file(source, "/big.bin")
        assert sum(c.was_cut for c in proxy.connections) == 3
    error = caught.value
    sent = BROKE.match(str(error))
    assert sent is not None, str(error)
    assert int(sent[1]) > 64 * 1024
    assert str(error).endswith(" (the connection was cut on each of 3 tries)")
    not_about_the_certificate(error)
    assert error.attempt == 3 and error.exit_code == ExitCode.CONNECT
    only_the_old_file(endpoint)


@pytest.mark.parametrize("protocol", ["https", "davs", "ftpes"])
def test_stream_upload_cut_is_a_broken_connection(pki: TestPKI, tmp_path: Path, protocol: str) -> None:
    """``put -`` (a writer) makes one try: what it says about the cut must still be right."""
    with cut_every_time(protocol, pki, tmp_path / "root") as (endpoint, _proxy, url):
        (endpoint.root / "big.bin").write_bytes(b"old")
        with connect(endpoint, url) as remote, pytest.raises((ConnectionDropped, TransferCut)) as caught:
            with remote.open_write("/big.bin") as writer:
                for start in range(0, SIZE, 256 * 1024):
                    writer.write(DATA[start:start + 256 * 1024])
    if isinstance(caught.value, TransferCut):
        # FTPS, when the cut comes late in the race: the server answers 226 for what it got,
        # and its stored size falls short.  One try: an integrity error (see xfer.retry).
        assert protocol == "ftpes", str(caught.value)
        assert re.search(r"stored \d+ bytes of /big\.bin, we sent \d+: the data connection was cut",
                         str(caught.value)), str(caught.value)
    else:
        assert BROKE.match(str(caught.value)), str(caught.value)
    not_about_the_certificate(caught.value)
    only_the_old_file(endpoint)


def test_ftps_data_upload_cut_on_every_try(pki: TestPKI, tmp_path: Path) -> None:
    """The data connection breaks, the server answers 226 for what it got (or stores less than
    was sent): either way a cut connection, retried, and named so after the last try."""
    source = tmp_path / "big.bin"
    source.write_bytes(DATA)
    with cut_every_time("ftpes", pki, tmp_path / "root") as (endpoint, _proxy, url):
        (endpoint.root / "big.bin").write_bytes(b"old")
        with connect(endpoint, url, retries=1) as remote, pytest.raises(ConnectionDropped) as caught:
            remote.put_file(source, "/big.bin")
    error = caught.value
    assert str(error).endswith(" (the connection was cut on each of 2 tries)"), str(error)
    if "although the server answered" in str(error):  # the 226 case (else: the stored size fell short)
        assert re.match(r"the data connection to 127\.0\.0\.2 broke after \d+ bytes had been sent ", str(error))
    not_about_the_certificate(error)
    assert error.attempt == 2 and error.exit_code == ExitCode.CONNECT
    only_the_old_file(endpoint)


def cli_put(endpoint: Endpoint, url: str, folder: Path, monkeypatch: pytest.MonkeyPatch,
            capsys: pytest.CaptureFixture[str], source: Path) -> tuple[int, str]:
    """``xfer put SOURCE pp:/big.bin --retries 1`` with the endpoint's profile pointed through the proxy."""
    folder.mkdir()
    (folder / "pp.toml").write_text(tomli_w.dumps({**endpoint.profile.to_toml(), "url": url}))
    monkeypatch.setenv("XFER_PROFILE_PATH", str(folder))
    monkeypatch.setenv("XFER_CONFIG_DIR", str(folder / "config"))
    code, _, err = run(capsys, "put", str(source), "pp:/big.bin", "--retries", "1", "--retry-wait", "0.01")
    return code, err


@pytest.mark.parametrize("protocol", ["https", "davs", "ftpes", "sftp"])
def test_cli_one_retry_line_and_one_error_line(
    pki: TestPKI, tmp_path: Path, protocol: str, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture,
) -> None:
    source = tmp_path / "big.bin"
    source.write_bytes(DATA)
    caplog.set_level(logging.DEBUG, logger="asyncio")
    with cut_every_time(protocol, pki, tmp_path / "root") as (endpoint, _proxy, url):
        (endpoint.root / "big.bin").write_bytes(b"old")
        code, err = cli_put(endpoint, url, tmp_path / "profiles", monkeypatch, capsys, source)
    assert code == ExitCode.CONNECT, err
    retry, *rest = err.splitlines()
    assert re.fullmatch(r"xfer: retry 1/1 in \d+\.\d s: connection dropped after \S+ [kM]?B", retry), err
    line = one_error("\n".join(rest), "(the connection was cut on each of 2 tries)")
    assert "broke" in line or "cut" in line.removesuffix("(the connection was cut on each of 2 tries)"), line
    assert "certificate" not in err and "could not connect" not in err and "cannot connect" not in err
    # asyncio's line for each write into the dead connection (SFTP) is neither printed nor logged.
    assert not [r for r in caplog.records if r.getMessage() == "socket.send() raised exception."]
    only_the_old_file(endpoint)


def test_asyncio_records_of_other_threads_pass(caplog: pytest.LogCaptureFixture) -> None:
    """The SFTP filter takes out only its own sessions' writes-after-loss: a user's asyncio keeps its log."""
    import xfer.adapters.sftp.session  # noqa: F401 - installs the filter

    caplog.set_level(logging.WARNING, logger="asyncio")
    logging.getLogger("asyncio").warning("socket.send() raised exception.")
    assert [r.getMessage() for r in caplog.records] == ["socket.send() raised exception."]
