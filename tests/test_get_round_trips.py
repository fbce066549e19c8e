"""Requests per file of a recursive get (issue 14): what a listing said is not asked again.

``get -r 'p:/out/*'`` lists ``/out`` to match the pattern; the listing already says which
matches are files and which are folders.  The old code then asked the server about each
match once more (``info``: a HEAD or PROPFIND per file) before downloading it.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import run
from xfer.profiles import save_profile
from xfer.testing import Endpoint

FILES = 12


@pytest.mark.parametrize("protocol", ["https", "davs"])
def test_get_r_of_a_pattern_asks_nothing_more_about_each_match(
    protocol: str, xfer_serve: object, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    endpoint: Endpoint = xfer_serve(protocol)  # type: ignore[operator]
    out = endpoint.root / "out"
    (out / "sub").mkdir(parents=True)
    for n in range(FILES):
        (out / f"f{n:02d}.csv").write_bytes(b"x" * n)
    (out / "sub" / "inner.csv").write_bytes(b"inner")
    monkeypatch.setenv("XFER_CONFIG_DIR", str(tmp_path / "config"))
    save_profile(endpoint.profile)
    before = len(endpoint.server.requests)

    code, _out, err = run(capsys, "get", "-r", "--quiet", f"{endpoint.profile.name}:/out/*", str(tmp_path / "down"))

    assert code == 0, err
    got = sorted(p.relative_to(tmp_path / "down").as_posix() for p in (tmp_path / "down").rglob("*") if p.is_file())
    assert got == sorted([f"f{n:02d}.csv" for n in range(FILES)] + ["sub/inner.csv"])
    assert (tmp_path / "down" / "f05.csv").read_bytes() == b"xxxxx"
    asked = [r for r in endpoint.server.requests[before:] if r.method in ("HEAD", "PROPFIND")]
    per_file = [r for r in asked if r.path.rstrip("/").endswith(".csv")]
    # Every file is fetched (GET); none is looked at first.  (Old code: one HEAD/PROPFIND each.)
    assert per_file == [], [f"{r.method} {r.path}" for r in per_file]
    assert len([r for r in endpoint.server.requests[before:] if r.method == "GET" and r.path.endswith(".csv")]) \
        >= FILES + 1
