"""The bench's own helpers (bench/_harness.py): the fsynced anchors and the summary table."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from bench import _harness as h


@pytest.mark.parametrize("file_system", [False, True])
def test_then_sync_runs_the_command_then_sync_and_keeps_its_failure(tmp_path: Path, file_system: bool) -> None:
    target = tmp_path / "a name with 'quotes' and $HOME"
    written = h.then_sync(["sh", "-c", 'printf x > "$1"', "sh", str(target)], target, file_system=file_system)
    assert subprocess.run(written, check=False).returncode == 0 and target.read_text() == "x"
    assert written[2] == ('"$@" && exec sync -f -- "$0"' if file_system else '"$@" && exec sync -- "$0"')
    # A failed download is not made a success by the sync after it (which does not run).
    failed = h.then_sync(["sh", "-c", "exit 3"], tmp_path / "missing", file_system=file_system)
    assert subprocess.run(failed, check=False).returncode == 3


def _results(walls: dict[str, float]) -> h.Results:
    results = h.Results(1 << 30, 1)
    for name, wall in walls.items():
        for direction in ("put", "get"):
            results.samples[(name, direction)] = [h.Sample(wall, wall / 2, "", 40 << 20)]
            results.startup[(name, direction)] = 0.1
    return results


def test_the_summary_compares_downloads_with_the_fsynced_anchor_too(capsys: pytest.CaptureFixture[str]) -> None:
    anchor = h.Client("openssh", lambda local, remote: ["put"], lambda remote, local: ["get"])
    synced = h.durable(anchor)
    assert synced.name == "openssh+sync" and synced.put is anchor.put
    assert synced.get("r", Path("/x"))[-1] == "get"
    measured = h.Measured("SFTP OpenSSH", "t", _results({"openssh": 4.0, "openssh+sync": 5.0, "xfer-cli": 5.0}),
                          ("openssh",), (synced.name,))
    h.print_summary([measured])
    lines = capsys.readouterr().out.splitlines()
    header = next(line for line in lines if line.startswith("row"))
    column = header.index("best anchor")  # every row's anchor starts under its header: the columns line up
    ratio = slice(header.index("ratio") - 1, header.index("ratio") + len("ratio"))  # right-aligned under it
    rows = {line[:column].strip(): [line[column:ratio.start].strip(), line[ratio].strip()]
            for line in lines if line.startswith("SFTP")}
    assert rows == {"SFTP OpenSSH up": ["openssh", "0.80"], "SFTP OpenSSH down": ["openssh", "0.80"],
                    "SFTP OpenSSH down, fsynced": ["openssh+sync", "1.00"]}


def test_free_memory_reads_meminfo_and_drops_nothing_when_enough_is_free(monkeypatch: pytest.MonkeyPatch) -> None:
    free = h._meminfo("MemFree")
    assert 0 < free <= h._meminfo("MemTotal")
    assert h._meminfo("NoSuchField") == 0
    written: list[str] = []
    monkeypatch.setattr(Path, "write_text", lambda self, text: written.append(str(self)))
    assert h.free_memory(needed=0).endswith("free, enough") and written == []
    # Short of memory: the clean page cache is dropped (here: the write is recorded, not made),
    # and a drop that could not free enough says so.
    said = h.free_memory(needed=1 << 60)
    assert "clean page cache of the whole machine dropped" in said and "still short of" in said
    assert written == ["/proc/sys/vm/drop_caches"]


def test_free_memory_without_meminfo_drops_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(h, "_meminfo", lambda field: 0)
    monkeypatch.setattr(Path, "write_text", lambda self, text: pytest.fail("nothing may be dropped"))
    assert h.free_memory(needed=1 << 30) == "memory: /proc/meminfo unreadable, page cache kept"


def test_free_memory_says_so_when_the_cache_cannot_be_dropped(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(self: Path, text: str) -> int:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(Path, "write_text", refuse)
    said = h.free_memory(needed=1 << 60)
    assert "page cache kept (Permission denied)" in said and "reclaiming" in said
