"""A cut FTPS upload continues the temporary file only if the server's hash of it is that of the
file's first bytes (issue 13); a part that differs is written again from 0 and the retry log says
so.  The fake (proftpd's mod_digest commands, :func:`~xfer.testing.ftps_server.hashing_handler`)
keeps a corrupted part: a byte of it is flipped between the tries."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from pathlib import Path

import pytest

import xfer.retry
from tests.helpers import flip_a_byte_of_the_part
from tests.test_retry_ftps import DATA, SIZE, data_bytes, data_cut, proxied, with_control
from xfer.testing.endpoints import Endpoint
from xfer.testing.faults import free_ports
from xfer.testing.ftps_server import hashing_handler


@pytest.fixture
def ftps(xfer_serve: Callable[..., Endpoint]) -> tuple[Endpoint, list[int]]:
    passive = free_ports(4)
    return xfer_serve("ftpes", handler_class=hashing_handler(), handler_attrs={"passive_ports": passive}), passive


def test_a_proven_part_is_continued(ftps: tuple[Endpoint, list[int]], tmp_path: Path) -> None:
    endpoint, _ = ftps
    source = tmp_path / "big.bin"
    source.write_bytes(DATA)
    with proxied(ftps, with_control(data_cut("up", SIZE // 2), ftps)) as (proxy, remote):
        result = remote.put_file(source, "/big.bin")
    assert result.attempts == 2 and result.verified == "sha256"
    assert (endpoint.root / "big.bin").read_bytes() == DATA
    hashed = [line for line in endpoint.server.commands if line.startswith("HASH ") and ".xfer-part" in line]
    assert len(hashed) == 2  # the kept part before continuing it, and the whole upload
    # Continued from what the server had stored when asked (under load pyftpdlib may not have
    # written all it received yet): the second try sends the rest, not the whole file.
    [kept] = [int(line.split()[1]) for line in endpoint.server.commands if line.startswith("REST ")]
    assert kept > 0
    assert data_bytes(proxy, ftps, "up") <= 1.1 * (SIZE // 2 + SIZE - kept)


def test_a_kept_part_that_differs_is_started_over(
    ftps: tuple[Endpoint, list[int]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    endpoint, _ = ftps
    source = tmp_path / "big.bin"
    source.write_bytes(DATA)
    monkeypatch.setattr(xfer.retry, "_sleep", flip_a_byte_of_the_part(endpoint.root))
    with caplog.at_level(logging.WARNING, logger="xfer.retry"):
        with proxied(ftps, with_control(data_cut("up", SIZE // 2), ftps)) as (proxy, remote):
            result = remote.put_file(source, "/big.bin")
    assert result.attempts == 2 and result.verified == "sha256"
    assert result.sha256 == hashlib.sha256(DATA).hexdigest()
    assert (endpoint.root / "big.bin").read_bytes() == DATA
    assert any("differ from the file" in r.getMessage() and "starting over from 0" in r.getMessage()
               for r in caplog.records), caplog.text
    assert data_bytes(proxy, ftps, "up") > 1.3 * SIZE  # all of it again
    assert [p.name for p in endpoint.root.iterdir()] == ["big.bin"]
