"""``--limit-rate``: the token bucket (injected clock), and real transfers taking the time the rate says."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from tests.helpers import one_error, run, save_ftps_profile
from xfer.errors import ExitCode, UsageError
from xfer.testing.ftps_server import FTPSServer
from xfer.testing.https_server import HTTPSServer
from xfer.testing.pki import TestPKI
from xfer.throttle import TokenBucket, parse_rate

MIB = 1024 * 1024


class FakeClock:
    """A clock that moves only when the bucket sleeps (or a test says so)."""

    def __init__(self) -> None:
        self.now = 100.0
        self.slept: list[float] = []
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            return self.now

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.slept.append(seconds)
            self.now += seconds


def test_parse_rate() -> None:
    assert parse_rate("10M") == 10 * MIB
    assert parse_rate("512k") == 512 * 1024
    assert parse_rate("1.5M") == int(1.5 * MIB)
    assert parse_rate("2G") == 2 * 1024**3
    assert parse_rate("4096") == 4096
    assert parse_rate("10MiB") == 10 * MIB
    for bad in ("fast", "10X", "-1M", "", "100"):
        with pytest.raises(UsageError):
            parse_rate(bad)


def test_bucket_paces_to_the_rate_whatever_the_block_size() -> None:
    clock = FakeClock()
    bucket = TokenBucket(MIB, clock=clock, sleep=clock.sleep)
    for size in [64 * 1024] * 16 + [256 * 1024] * 4 + [1000] * 1000:
        bucket.take(size)
    total = 16 * 64 * 1024 + 4 * 256 * 1024 + 1000 * 1000
    # Starts empty: N bytes take N / rate, not less by a free burst.
    assert clock.now - 100.0 == pytest.approx(total / MIB, rel=1e-9)


def test_bucket_refills_while_idle_up_to_the_burst_only() -> None:
    clock = FakeClock()
    bucket = TokenBucket(MIB, burst=256 * 1024, clock=clock, sleep=clock.sleep)
    clock.now += 60.0  # a minute idle: at most one burst is saved up
    assert bucket.take(256 * 1024) == 0.0
    assert bucket.take(MIB) == pytest.approx(1.0)


def test_bucket_is_shared_by_threads() -> None:
    """Four threads taking through one bucket move the rate together, not four times it."""
    clock = FakeClock()
    bucket = TokenBucket(4 * MIB, clock=clock, sleep=clock.sleep)

    def worker() -> None:
        for _ in range(64):
            bucket.take(64 * 1024)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # 16 MiB at 4 MiB/s: the sleeps the threads took add up to (at least) the 4 s the rate demands;
    # the fake clock advances by every sleep, so concurrent sleeps are counted once each.
    assert sum(clock.slept) >= 4.0 - 1e-6
    assert clock.now - 100.0 >= 4.0 - 1e-6


def test_limit_rate_https_get_takes_the_time_the_rate_says(
    capsys: pytest.CaptureFixture[str], pki: TestPKI, tmp_path: Path
) -> None:
    tls = ["--ca", str(pki.root_ca), "--identity", str(pki.client_p12),
           "--identity-password", f"file:{pki.password_file}"]
    with HTTPSServer(pki, root=tmp_path / "srv") as srv:
        (srv.root / "a.bin").write_bytes(b"x" * (2 * MIB))
        code, out, err = run(capsys, "get", f"{srv.url}/a.bin", str(tmp_path / "a.bin"), "--limit-rate", "1M",
                             "--json", *tls)
    assert code == 0, err
    result = json.loads(out)[0]
    assert result["size"] == 2 * MIB
    # The transfer's own time (loading the identity and the handshake come before it).
    # A throttle can only slow a transfer down: the lower bound is the proof.  The upper one
    # leaves room for a loaded CI machine (the ±10 % measurement is the bed's 50 MiB test).
    assert 1.8 <= result["elapsed"] <= 3.0


def test_limit_rate_ftps_parallel_uploads_share_one_bucket(
    capsys: pytest.CaptureFixture[str], pki: TestPKI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two files of 1 MiB over two connections at 1M/s: 2 s together (one bucket), not 1 s."""
    folder = tmp_path / "up"
    folder.mkdir()
    for name in ("a.bin", "b.bin"):
        (folder / name).write_bytes(b"y" * MIB)
    with FTPSServer(pki, root=tmp_path / "served") as srv:
        profile = save_ftps_profile(srv, pki, tmp_path / "profiles", monkeypatch)
        code, out, err = run(capsys, "put", str(folder / "a.bin"), str(folder / "b.bin"), f"{profile}:/in/",
                             "-P", "2", "--limit-rate", "1M", "--json")
    assert code == 0, err
    results = json.loads(out)
    assert sorted(r["remote"] for r in results) == ["/in/a.bin", "/in/b.bin"]
    # The first upload starts alone (the second connection still logs in), then they share the
    # rate: it ends when all 2 MiB have gone, after 2 s.  Two buckets would end both after 1 s.
    assert 1.8 <= max(r["elapsed"] for r in results) <= 3.0


def test_bad_limit_rate_is_named_where_it_was_given(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "a").write_bytes(b"a")
    code, _, err = run(capsys, "put", str(tmp_path / "a"), "https://127.0.0.1:9/a", "--limit-rate", "fast")
    assert code == ExitCode.USAGE  # typed on the command line; in a profile (below) a config error
    one_error(err, "command line: --limit-rate 'fast' is not a rate")
    profiles = tmp_path / "profiles"
    profiles.mkdir()
    (profiles / "slow.toml").write_text('url = "https://127.0.0.1:9/"\nlimit_rate = "10 apples"\n')
    monkeypatch.setenv("XFER_PROFILE_PATH", str(profiles))
    code, _, err = run(capsys, "put", str(tmp_path / "a"), "slow:/a")
    assert code == ExitCode.CONFIG
    one_error(err, "slow.toml", "limit_rate '10 apples' is not a rate")


def test_settings_share_one_bucket_and_replace_keeps_it() -> None:
    """Review finding: dataclasses.replace of settings (the testing servers do it) raised TypeError."""
    import dataclasses

    from xfer.adapters.base import ConnectionSettings

    settings = ConnectionSettings("https", "127.0.0.1", 443, "/", limit_rate=MIB, checksum=True)
    assert settings.throttle is not None and settings.throttle.rate == MIB
    copy = dataclasses.replace(settings, max_listing=10)
    assert copy.throttle is settings.throttle and copy.checksum
    assert ConnectionSettings("https", "127.0.0.1", 443, "/").throttle is None
