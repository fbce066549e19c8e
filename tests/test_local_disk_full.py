"""A download onto a full local disk: one clear line, exit 1, the old file kept, nothing partial."""

from __future__ import annotations

from pathlib import Path

import pytest

from xfer.errors import ExitCode
from xfer.testing import serve
from xfer.testing.contract import make_file
from xfer.testing.pki import TestPKI

from .helpers import one_error, run


def test_download_onto_a_full_disk(
    capsys: pytest.CaptureFixture[str], pki: TestPKI, tiny_disk: Path, tmp_path: Path
) -> None:
    (tiny_disk / "report.csv").write_text("the old report")
    with serve("https", pki, root=tmp_path / "srv") as endpoint:
        make_file(endpoint.root / "report.csv", 5 << 20)
        code, _, err = run(capsys, "get", endpoint.url + "report.csv", str(tiny_disk / "report.csv"),
                           "--identity", str(pki.client_p12), "--identity-password", f"file:{pki.password_file}",
                           "--ca", str(pki.root_ca))
    assert code == ExitCode.ERROR
    one_error(err, "disk full while writing", "the partial download was removed")
    assert "hint: free some space and run the command again" in err
    assert sorted(p.name for p in tiny_disk.iterdir()) == ["report.csv"]
    assert (tiny_disk / "report.csv").read_text() == "the old report"
