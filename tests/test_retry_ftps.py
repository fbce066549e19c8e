"""Retries and resume over FTPS through the fault proxy: control and data channels on 127.0.0.2 (issue 13)."""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

import xfer
from xfer.errors import AuthenticationFailed, ConnectionDropped, ExitCode, RemoteNotFound, ServerCertificateUntrusted
from xfer.testing.endpoints import Endpoint
from xfer.testing.faults import Cut, FaultProxy, Plan, free_ports
from xfer.testing.pki import TestPKI

SIZE = 4 * 2**20
DATA = hashlib.sha256(b"ftps").digest() * (SIZE // 32)


@pytest.fixture
def ftps(xfer_serve: Callable[..., Endpoint]) -> tuple[Endpoint, list[int]]:
    passive = free_ports(4)
    return xfer_serve("ftpes", handler_attrs={"passive_ports": passive}), passive


@contextmanager
def proxied(
    ftps: tuple[Endpoint, list[int]], plan: Plan, **options: Any
) -> Iterator[tuple[FaultProxy, xfer.Adapter]]:
    endpoint, passive = ftps
    control = int(endpoint.address.rsplit(":", 1)[1])
    options.setdefault("retry_wait", 0.01)
    with FaultProxy(("127.0.0.1", control), plan=plan, listen_host="127.0.0.2", ports=[control, *passive]) as proxy:
        url = endpoint.url.replace(endpoint.address, f"127.0.0.2:{control}")
        with xfer.connect(url, identity=str(endpoint.identity), identity_password=endpoint.identity_password,
                          ca=str(endpoint.ca), username=endpoint.profile.get("username"),
                          password=endpoint.profile.get("password"), **options) as remote:
            yield proxy, remote


def data_cut(direction: str, after: int, *, times: int = 1, how: str = "fin") -> Callable[[int, int], Cut | None]:
    """Cut the first ``times`` data connections (any port but the control port's first connection)."""
    seen: list[int] = []

    def plan(number: int, port: int) -> Cut | None:
        if number == 0:
            return None  # the first control connection
        if len(seen) < times and port != plan.control:  # type: ignore[attr-defined]
            seen.append(number)
            return Cut(direction, after=after, how=how)  # type: ignore[arg-type]
        return None

    return plan


def with_control(plan: Callable[[int, int], Cut | None], ftps: tuple[Endpoint, list[int]]) -> Plan:
    plan.control = int(ftps[0].address.rsplit(":", 1)[1])  # type: ignore[attr-defined]
    return plan


def data_bytes(proxy: FaultProxy, ftps: tuple[Endpoint, list[int]], direction: str) -> int:
    passive = set(ftps[1])
    return sum(c.bytes_down if direction == "down" else c.bytes_up for c in proxy.connections if c.port in passive)


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


@pytest.mark.parametrize("how", ["fin", "rst"])
def test_cut_download_resumes_with_rest(ftps: tuple[Endpoint, list[int]], tmp_path: Path, how: str) -> None:
    endpoint, _ = ftps
    (endpoint.root / "big.bin").write_bytes(DATA)
    with proxied(ftps, with_control(data_cut("down", SIZE // 2, how=how), ftps)) as (proxy, remote):
        result = remote.get_file("/big.bin", tmp_path / "big.bin")
    assert (tmp_path / "big.bin").read_bytes() == DATA
    assert result.attempts == 2
    assert any(c.was_cut for c in proxy.connections)
    rest = [int(line.split()[1]) for line in endpoint.server.commands if line.startswith("REST ")]
    assert len(rest) == 1 and rest[0] > 0
    last = [c for c in proxy.connections if c.port in set(ftps[1])][-1]
    assert last.bytes_down < SIZE - rest[0] + 64 * 1024  # the rest of the file (and TLS records), no more
    if how == "fin":
        # A reset also throws away what sat in the client's socket buffer: fewer bytes kept.
        assert data_bytes(proxy, ftps, "down") <= 1.3 * SIZE
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize("how", ["fin", "rst"])
def test_cut_upload_resumes_the_temporary_file(ftps: tuple[Endpoint, list[int]], tmp_path: Path, how: str) -> None:
    endpoint, _ = ftps
    source = tmp_path / "big.bin"
    source.write_bytes(DATA)
    with proxied(ftps, with_control(data_cut("up", SIZE // 2, how=how), ftps)) as (proxy, remote):
        result = remote.put_file(source, "/big.bin")
    assert (endpoint.root / "big.bin").read_bytes() == DATA
    assert result.attempts == 2
    rest = [int(line.split()[1]) for line in endpoint.server.commands if line.startswith("REST ")]
    assert len(rest) == 1 and rest[0] > 0
    # The second try sends the rest from where the server's part ended, no more.  Where that is
    # is the server's: one still reading the cut connection's last bytes when asked its SIZE
    # (a loaded machine) has stored less than was sent, so no bound on the total is fair.
    last = [c for c in proxy.connections if c.port in set(ftps[1])][-1]
    assert last.bytes_up < SIZE - rest[0] + 64 * 1024
    assert [p.name for p in endpoint.root.iterdir()] == ["big.bin"]


def test_control_connection_cut_is_retried(ftps: tuple[Endpoint, list[int]], tmp_path: Path) -> None:
    endpoint, _ = ftps
    (endpoint.root / "small.txt").write_bytes(b"hello")

    def plan(number: int, port: int) -> Cut | None:
        return Cut("down", after=2000) if number == 0 else None  # the login's control connection, mid-dialogue

    with proxied(ftps, plan) as (_proxy, remote):
        remote.get_file("/small.txt", tmp_path / "small.txt")
    assert (tmp_path / "small.txt").read_bytes() == b"hello"


def test_every_data_connection_cut_fails_with_nothing_left(ftps: tuple[Endpoint, list[int]], tmp_path: Path) -> None:
    endpoint, _ = ftps
    (endpoint.root / "big.bin").write_bytes(DATA)
    target = tmp_path / "big.bin"
    target.write_bytes(b"old")
    plan = with_control(data_cut("down", 200_000, times=100, how="rst"), ftps)
    with proxied(ftps, plan, retries=2) as (_proxy, remote):
        with pytest.raises(ConnectionDropped) as caught:
            remote.get_file("/big.bin", target)
    # A reset data connection, or a stream cut short (an integrity error on one try): on every
    # try, the connection is what keeps failing (exit 5), and the message says so.
    assert caught.value.attempt == 3 and caught.value.exit_code == ExitCode.CONNECT
    assert str(caught.value).endswith(" (the connection was cut on each of 3 tries)"), str(caught.value)
    assert target.read_bytes() == b"old"
    assert leftovers(tmp_path) == []


def test_upload_cut_every_time_leaves_nothing_on_the_server(ftps: tuple[Endpoint, list[int]], tmp_path: Path) -> None:
    endpoint, _ = ftps
    source = tmp_path / "big.bin"
    source.write_bytes(DATA)
    (endpoint.root / "big.bin").write_bytes(b"old")
    plan = with_control(data_cut("up", 300_000, times=100), ftps)
    with proxied(ftps, plan, retries=1) as (_proxy, remote):
        with pytest.raises(ConnectionDropped) as caught:
            remote.put_file(source, "/big.bin")
    # The server answers the cut data connection with 226 or stores less than was sent: a cut
    # either way (exit 5), never our certificate's fault.
    assert caught.value.attempt == 2 and caught.value.exit_code == ExitCode.CONNECT
    assert str(caught.value).endswith(" (the connection was cut on each of 2 tries)"), str(caught.value)
    assert "certificate" not in str(caught.value)
    assert sorted(p.name for p in endpoint.root.iterdir()) == ["big.bin"]
    assert (endpoint.root / "big.bin").read_bytes() == b"old"


def test_not_found_and_bad_login_are_tried_once(ftps: tuple[Endpoint, list[int]], tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    endpoint, passive = ftps
    monkeypatch.setenv("NOPE_WRONG", "not-the-password")
    with proxied(ftps, {}) as (proxy, remote):
        with pytest.raises(RemoteNotFound):
            remote.get_file("/missing.bin", tmp_path / "x")
        assert len(proxy.connections) == 1  # the control connection only: no reconnect, no second try
    control = int(endpoint.address.rsplit(":", 1)[1])
    with FaultProxy(("127.0.0.1", control), listen_host="127.0.0.2", ports=[control, *passive]) as proxy:
        with pytest.raises(AuthenticationFailed):
            xfer.connect(endpoint.url.replace(endpoint.address, f"127.0.0.2:{control}"),
                         identity=str(endpoint.identity), identity_password=endpoint.identity_password,
                         ca=str(endpoint.ca), username=endpoint.profile.get("username"), password="env:NOPE_WRONG",
                         retry_wait=0.01)
        assert len(proxy.connections) == 1


def test_untrusted_server_is_tried_once(ftps: tuple[Endpoint, list[int]], pki: TestPKI) -> None:
    """A server certificate from a CA we do not trust: exit 4 on the first control connection, no second."""
    endpoint, passive = ftps
    control = int(endpoint.address.rsplit(":", 1)[1])
    with FaultProxy(("127.0.0.1", control), listen_host="127.0.0.2", ports=[control, *passive]) as proxy:
        with pytest.raises(ServerCertificateUntrusted) as caught:
            xfer.connect(endpoint.url.replace(endpoint.address, f"127.0.0.2:{control}"),
                         identity=str(endpoint.identity), identity_password=endpoint.identity_password,
                         ca=str(pki.root_ca),  # another PKI's CA
                         username=endpoint.profile.get("username"), password=endpoint.profile.get("password"),
                         retry_wait=0.01)
        connections = len(proxy.connections)
    assert caught.value.exit_code == ExitCode.TLS
    assert connections == 1


def test_file_changed_between_tries_starts_over(ftps: tuple[Endpoint, list[int]], tmp_path: Path,
                                                caplog: pytest.LogCaptureFixture) -> None:
    endpoint, _ = ftps
    source = endpoint.root / "big.bin"
    source.write_bytes(DATA)
    changed = DATA[::-1]  # the same size: only MDTM tells
    caplog.set_level(logging.INFO, logger="xfer.retry")
    with proxied(ftps, with_control(data_cut("down", SIZE // 2), ftps)) as (_proxy, remote):
        def rewrite(seconds: float) -> None:
            source.write_bytes(changed)
            os.utime(source, (1_000_000_000, 1_000_000_000))

        remote.retry_policy = dataclasses.replace(remote.retry_policy, sleep=rewrite)
        result = remote.get_file("/big.bin", tmp_path / "big.bin")
    assert (tmp_path / "big.bin").read_bytes() == changed
    assert result.attempts == 2
    assert not any(line.startswith("REST ") for line in endpoint.server.commands)
    assert any("changed on the server" in r.getMessage() for r in caplog.records)


def test_a_stream_upload_on_a_connection_the_server_closed_while_idle_reconnects(
    xfer_serve: Callable[..., Endpoint],
) -> None:
    """The server ends idle control connections after 1 s (a 421, as pyftpdlib and load balancers
    do), well before the client's keepalive check.  Before: ``open_write`` on that connection
    failed with ConnectionDropped, with nothing sent (``ls`` was retried)."""
    import time

    endpoint = xfer_serve("ftpes", handler_attrs={"timeout": 1})
    with xfer.connect(endpoint.profile, retries=1, retry_wait=0.1) as remote:
        remote.ls("/")
        time.sleep(2)
        with remote.open_write("/c.txt") as writer:
            writer.write(b"hello")
    assert (endpoint.root / "c.txt").read_bytes() == b"hello"
    assert sorted(p.name for p in endpoint.root.iterdir()) == ["c.txt"]
