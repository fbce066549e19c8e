"""FTP listings that servers send in legal but unusual ways (review D, findings 2-4).

For each server fact the listing code relies on, the other legal variant is built as a knob of
:class:`~xfer.testing.ftps_fake.FakeFTPSServer`, and xfer is shown to handle both: a folder the
server cannot read (vsftpd: an empty listing and a ``226``), LIST lines in other layouts and
languages, LIST times in the server's local zone.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from xfer.errors import RemotePermissionDenied
from xfer.testing.ftps_fake import FakeFTPSServer
from xfer.testing.pki import TestPKI
from xfer.tls import XferSSLContext

from .helpers import run, save_ftps_profile
from .test_sync import make_tree, tree

ContextFactory = Callable[..., XferSSLContext]

#: A mirror: public files, and two in a folder the server account may enter but not read.
MIRROR = {
    **{f"pub/f{i}.txt": b"x" * i for i in range(1, 9)},
    "private/secret1.txt": b"s1",
    "private/secret2.txt": b"s2",
}


# -- finding 2: a folder the server cannot read is no empty folder ---------------------------------


@pytest.mark.parametrize("mlst", [False, True], ids=["list", "mlsd"])
def test_ls_of_a_folder_the_server_cannot_open_is_permission_denied(
    pki: TestPKI, client_context: ContextFactory, tmp_path: Path, mlst: bool
) -> None:
    """vsftpd: an empty listing and "226 Transfer done (but failed to open directory).\""""
    make_tree(tmp_path / "srv" / "out", MIRROR)
    with FakeFTPSServer(pki, root=tmp_path / "srv", mlst=mlst, unlistable=["/out/private"]) as srv, \
            srv.adapter(client_context()) as remote:
        with pytest.raises(RemotePermissionDenied, match="failed to open directory") as caught:
            remote.ls("/out/private")
        assert caught.value.path == "/out/private"
        # The session stays in step: the next listing works.
        assert [e.name for e in remote.ls("/out")] == ["private", "pub"]


@pytest.mark.parametrize("variant", ["226-empty", "550"])
def test_sync_delete_keeps_local_copies_under_a_folder_the_server_cannot_open(
    pki: TestPKI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
    variant: str,
) -> None:
    """The local mirror already holds everything; the server can no longer read ``private``:
    the run fails naming that folder, and nothing local is deleted (review D, finding 2)."""
    make_tree(tmp_path / "srv" / "out", MIRROR)
    make_tree(tmp_path / "inbox", MIRROR)
    knobs: dict[str, object] = (
        {"unlistable": ["/out/private"]} if variant == "226-empty"
        else {"replies": {"LIST /out/private": "550 Failed to open directory."}}
    )
    with FakeFTPSServer(pki, root=tmp_path / "srv", mlst=False, **knobs) as srv:  # type: ignore[arg-type]
        name = save_ftps_profile(srv, pki, tmp_path / "profiles", monkeypatch)  # type: ignore[arg-type]
        code, out, err = run(capsys, "ls", f"{name}:/out/private")
        assert code == 6, err
        assert "permission denied" in err and "/out/private" in err
        code, out, err = run(capsys, "sync", f"{name}:/out", str(tmp_path / "inbox"), "--delete", "--json")
    assert code == 6, err
    assert "/out/private" in err
    result = json.loads(out) if out.strip() else {}
    assert not result.get("deleted")
    assert tree(tmp_path / "inbox") == MIRROR
