"""An upload of a file whose name is legal but long (236-255 bytes): FTPS and WebDAV write it under
``.NAME.RANDOM.xfer-part`` first, 20 bytes longer, and the server refused that ("permission
denied" over FTPS, a retried HTTP 500 over WebDAV) for a name it would take.  The temporary name
now keeps within 255 bytes, NAME cut short, as SFTP's and downloads' do."""

from __future__ import annotations

from pathlib import Path

import pytest

import xfer
from xfer.testing.endpoints import Endpoint
from xfer.transfer import NAME_MAX, hidden_beside, is_temporary


@pytest.fixture(params=["ftpes", "davs"])
def endpoint(request: pytest.FixtureRequest) -> Endpoint:
    fixture = {"ftpes": "xfer_ftps_server", "davs": "xfer_webdav_server"}[request.param]
    served: Endpoint = request.getfixturevalue(fixture)
    return served


@pytest.mark.parametrize("length", [240, 255])
def test_a_long_name_is_uploaded_under_a_temporary_name_that_fits(
    endpoint: Endpoint, tmp_path: Path, length: int,
) -> None:
    name = "k" * length
    (tmp_path / name).write_bytes(b"long")
    with xfer.connect(endpoint.profile) as remote:
        result = remote.put_file(tmp_path / name, f"/{name}")
    assert (endpoint.root / name).read_bytes() == b"long"
    assert result.temp_name is not None and len(result.temp_name.encode()) <= NAME_MAX
    assert sorted(path.name for path in endpoint.root.iterdir()) == [name]


def test_the_name_is_cut_at_a_whole_character() -> None:
    temp = hidden_beside("/in/" + "é" * 120, "xfer-part")  # 240 bytes of two-byte characters
    folder, _, base = temp.rpartition("/")
    assert folder == "/in" and len(base.encode()) <= NAME_MAX and is_temporary(base)
    assert base.startswith("." + "é" * 117 + ".")  # 234 bytes are left for NAME: 117 characters
    short = hidden_beside("/in/report.csv", "xfer-old")
    assert short.startswith("/in/.report.csv.") and short.endswith(".xfer-old") and len(short) == len("/in/") + 29


def test_a_long_name_that_is_not_utf8_keeps_its_bytes_in_the_temporary_name() -> None:
    """Review O (the nits): decoding the cut name with "ignore" dropped every byte that was not
    UTF-8, not just a character cut in two: Latin-1 ``café`` × 80 became ``.cafcafcaf…``."""
    import os

    from xfer.transfer import hidden_beside

    latin = os.fsdecode(b"caf\xe9" * 80)
    temp = os.fsencode(hidden_beside("/in/" + latin).rsplit("/", 1)[1])
    assert len(temp) <= 255 and temp.startswith(b".caf\xe9caf\xe9")
    utf8 = hidden_beside("/in/" + "é" * 200).rsplit("/", 1)[1]
    assert len(utf8.encode()) <= 255 and utf8.encode().decode("utf-8")  # no character cut in two
