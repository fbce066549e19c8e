"""Issue 13's acceptance run: 125 transfers, each cut once by the fault proxy, all byte-exact.

Put and get over HTTPS, FTPS, WebDAV and SFTP, and AS2 sends (25 per protocol), sizes drawn
log-uniformly from 1 KiB to 64 MiB (AS2 to 8 MiB: its message is built and signed in memory
on both sides of the in-process partner; SFTP to 16 MiB, asyncssh on both ends), a cut at a
seeded random byte of the transfer's direction, ``retries=5``.  Each must arrive byte-identical,
leave no part or temporary file on either side, and — for every get and every FTPS put —
cost at most 1.3 times its size in bytes through the proxy (resumed, not restarted), plus
64 KiB per connection for handshakes, headers and listings (a 1 KiB file's handshake alone is bigger than the file).

The cut falls anywhere from the first byte (in the TLS handshake) to the last one of the
file's size: handshakes, requests, bodies and answers all get cut somewhere in the run.
SFTP resumes both ways (a get from the part file, a put from the temporary file's size), but
what was in flight when the cut came is moved again: up to the SSH channel window (2 MiB) of
pipelined answers or writes that the proxy passed on and the other end had not yet read.  An
SFTP transfer is held to 1.3 times its size plus that window.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

import xfer
from xfer.testing.faults import Cut, FaultProxy
from xfer.testing.pytest_plugin import FaultyServer
from xfer.types import TransferResult

TRANSFERS_PER_PROTOCOL = 25
MIN_LOG2, MAX_LOG2 = 10, 26  # 1 KiB .. 64 MiB
AS2_MAX_LOG2 = 23  # 8 MiB
#: SFTP to 16 MiB: both ends of the in-process run are asyncssh, in one interpreter (about
#: 25 MB/s here); up to 64 MiB the SFTP case alone took 95 s of the suite.
SFTP_MAX_LOG2 = 24
RATIO = 1.3
OVERHEAD_PER_CONNECTION = 64 * 1024
#: asyncssh's channel window: what can be in flight, unread, at an SFTP cut.
SSH_WINDOW = 2 << 20


@dataclass(frozen=True)
class Case:
    number: int
    direction: str  # "put" or "get"
    size: int
    cut_at: int  # bytes into the cut connection, in the data's direction


def cases(protocol: str) -> list[Case]:
    rng = random.Random(f"hundred-cuts-{protocol}")
    top = {"as2": AS2_MAX_LOG2, "sftp": SFTP_MAX_LOG2}.get(protocol, MAX_LOG2)
    result = []
    for number in range(TRANSFERS_PER_PROTOCOL):
        direction = "put" if protocol == "as2" or number % 2 else "get"
        size = int(2 ** rng.uniform(MIN_LOG2, top))
        result.append(Case(number, direction, size, rng.randint(1, size)))
    return result


def cut_once(case: Case, passive: list[int]) -> Callable[[int, int], Cut | None]:
    """Cut the first connection that carries the file: a passive data connection for FTP,
    else the first connection (the HTTP request and its answer)."""
    done: list[int] = []

    def plan(number: int, port: int) -> Cut | None:
        if done or (passive and port not in passive):
            return None
        done.append(number)
        return Cut("down" if case.direction == "get" else "up", after=case.cut_at)

    return plan


def problems(
    label: str, case: Case, data: bytes, arrived: bytes, result: TransferResult, proxy: FaultProxy, *, bounded: bool,
    in_flight: int = 0,
) -> list[str]:
    """What is wrong with one cut transfer: its content, its hash, no cut, or (``bounded``) a restart.

    ``in_flight``: bytes the protocol may have had on the way, unread, when the cut came."""
    what = f"{label} #{case.number} of {case.size} B cut at {case.cut_at}"
    found = []
    if arrived != data:
        found.append(f"{what}: content differs ({len(arrived)} B arrived)")
    if not any(c.was_cut for c in proxy.connections):
        found.append(f"{what}: the proxy never cut it")
    if result.sha256 != hashlib.sha256(data).hexdigest():
        found.append(f"{what}: result sha256 is not the file's")
    moved = sum(c.bytes_down if case.direction == "get" else c.bytes_up for c in proxy.connections)
    allowed = RATIO * case.size + OVERHEAD_PER_CONNECTION * len(proxy.connections) + in_flight
    if bounded and moved > allowed:
        found.append(f"{what}: {moved} B through the proxy, more than {allowed:.0f} (restarted?)")
    return found


def hidden(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob(".*"))


@pytest.mark.parametrize("protocol", ["https", "ftpes", "davs", "as2", "sftp"])
def test_every_cut_transfer_arrives_byte_exact(
    protocol: str, xfer_faulty: Callable[..., FaultyServer], tmp_path: Path
) -> None:
    server = xfer_faulty(protocol)
    root = server.endpoint.root
    failures: list[str] = []
    for case in cases(protocol):
        data = random.Random(case.number).randbytes(case.size)
        name = f"f{case.number:03d}.bin"
        local = tmp_path / name
        if case.direction == "get":
            (root / name).write_bytes(data)
        else:
            local.write_bytes(data)
        with server.through(cut_once(case, server.passive_ports)) as (proxy, profile):
            with xfer.connect(profile, retries=5, retry_wait=0.01) as remote:
                if case.direction == "get":
                    result = remote.get_file(f"/{name}", local)
                else:
                    result = remote.put_file(local, "/" if protocol == "as2" else f"/{name}")
        arrived = (local if case.direction == "get" else root / name).read_bytes()
        failures += problems(f"{protocol} {case.direction}", case, data, arrived, result, proxy,
                             bounded=case.direction == "get" or protocol.startswith(("ftp", "sftp")),
                             in_flight=SSH_WINDOW if protocol == "sftp" else 0)
        (root / name).unlink()
        local.unlink()
    left = hidden(root) + hidden(tmp_path)
    assert not left, f"part or temporary files left: {left}"
    assert not failures, "\n".join(failures)


def test_readme_fault_proxy_example(xfer_faulty: Callable[..., FaultyServer], tmp_path: Path) -> None:
    """The README's example, as written there."""
    server = xfer_faulty("ftpes")
    (server.endpoint.root / "big.csv").write_bytes(b"x" * 5_000_000)
    with server.through({1: Cut("down", after=2_000_000)}) as (proxy, profile):
        with xfer.connect(profile, retries=3, retry_wait=0.01) as remote:
            result = remote.get_file("/big.csv", tmp_path / "big.csv")
    assert result.attempts == 2 and proxy.connections[1].was_cut
    assert sum(c.bytes_down for c in proxy.connections) < 1.3 * 5_000_000
    assert (tmp_path / "big.csv").read_bytes() == b"x" * 5_000_000
