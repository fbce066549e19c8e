"""AS2's end-to-end check: a signed MDN whose MIC matches proves the content (``verified``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import xfer.client
from xfer.adapters.as2 import AS2Adapter
from xfer.errors import IntegrityError
from xfer.profiles import Profile
from xfer.testing.as2_server import AS2Server
from xfer.testing.pki import TestPKI


@pytest.fixture(autouse=True)
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XFER_DATA_DIR", str(tmp_path / "data"))
    return tmp_path / "data"


@pytest.fixture
def server(pki: TestPKI, tmp_path: Path) -> Iterator[AS2Server]:
    with AS2Server(pki, root=tmp_path / "inbox") as srv:
        yield srv


def _connect(srv: AS2Server, pki: TestPKI, monkeypatch: pytest.MonkeyPatch, *, checksum: bool = False,
             **as2: Any) -> AS2Adapter:
    monkeypatch.setenv("XFER_T_PW", pki.password)
    table: dict[str, Any] = {
        "as2_from": "XFERCLIENT", "as2_to": srv.as2_id, "partner_cert": str(pki.partner_cert),
        "sign": "sha256", "encrypt": "aes256-cbc", "mdn": "signed-sync", **as2,
    }
    data: dict[str, Any] = {"url": srv.url, "protocol": "as2", "ca": str(pki.root_ca), "as2": table,
                            "identity": str(pki.client_p12), "identity_password": "env:XFER_T_PW",
                            "checksum": checksum}
    adapter = xfer.client.connect(Profile.from_mapping("partner", data))
    assert isinstance(adapter, AS2Adapter)
    return adapter


@pytest.mark.parametrize(
    ("as2", "expected"),
    [
        ({"sign": "sha256"}, "sha256"),
        ({"sign": "sha512"}, "sha256"),  # SHA-2 at least as strong
        ({"sign": "sha1"}, "none"),  # a SHA-1 MIC is not reported as a SHA-256 check
        ({"mdn": "none"}, "none"),  # no receipt: nothing is known about what arrived
    ],
)
def test_as2_verified_follows_the_mdn_mic(
    server: AS2Server, pki: TestPKI, monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
    as2: dict[str, Any], expected: str,
) -> None:
    payload = tmp_path / "invoice.edi"
    payload.write_bytes(b"UNA:+.? '" * 100)
    with _connect(server, pki, monkeypatch, **as2) as remote:
        result = remote.put_file(payload, "/")
    assert result.verified == expected
    assert result.to_dict()["verified"] == expected


def test_as2_checksum_requires_a_matching_mic(
    server: AS2Server, pki: TestPKI, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    payload = tmp_path / "invoice.edi"
    payload.write_bytes(b"UNA:+.? '" * 100)
    with _connect(server, pki, monkeypatch, checksum=True, mdn="none") as remote, pytest.raises(
        IntegrityError, match="does not prove the content"
    ):
        remote.put_file(payload, "/")
    with _connect(server, pki, monkeypatch, checksum=True) as remote:
        assert remote.put_file(payload, "/").verified == "sha256"
