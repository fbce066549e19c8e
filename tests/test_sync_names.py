"""``sync --delete`` and names alike but for case or Unicode form (review D, finding 1).

A case-insensitive destination (IIS, an FTP server on NTFS or APFS; locally Windows and macOS)
holds ``Report.CSV`` and ``report.csv`` as one file, under the name it was created with.  The
source's ``report.csv`` is written into that file; deleting the destination's ``Report.CSV`` as
"not in source" would then delete the copy just made (with ``--remove-source-files``, the only one).
"""

from __future__ import annotations

import logging
import unicodedata
from collections.abc import Callable
from pathlib import Path

import pytest

from xfer.sync import FileState, Plan, name_twins, plan_sync, sync
from xfer.testing import ftps_fake
from xfer.testing.ftps_fake import FakeFTPSServer
from xfer.testing.pki import TestPKI
from xfer.tls import XferSSLContext

from .test_sync import make_tree, tree

ContextFactory = Callable[..., XferSSLContext]
T = 1_790_000_017.4


def states(*names: str) -> dict[str, FileState]:
    return {name: FileState(name, 10, T) for name in names}


def deleted(plan: Plan) -> list[str]:
    return [action.path for action in plan.deletes]


@pytest.mark.parametrize(("source", "destination"), [
    ("report.csv", "Report.CSV"),  # upload: renamed locally, case only; the server keeps the old case
    ("Report.CSV", "report.csv"),  # download onto a case-insensitive disk: the same comparison
    ("sub/a.txt", "Sub/a.txt"),  # a folder's case
    (unicodedata.normalize("NFD", "café.txt"), unicodedata.normalize("NFC", "café.txt")),  # macOS names
    (unicodedata.normalize("NFC", "CAFÉ.txt"), unicodedata.normalize("NFD", "café.txt")),
])
def test_delete_keeps_a_destination_name_alike_but_for_case_or_form(
    source: str, destination: str, caplog: pytest.LogCaptureFixture
) -> None:
    others = ("x1", "x2", "x3")
    with caplog.at_level(logging.WARNING, logger="xfer.sync"):
        plan = plan_sync(states(source, *others), states(destination, *others, "gone"), delete=True)
    assert deleted(plan) == ["gone"]  # a name really not in the source still goes
    [kept] = plan.kept
    assert kept.path == destination and source in kept.reason and "case" in kept.reason
    assert [action.path for action in plan.transfers] == [source]  # (sent as new: the destination may fold or not)
    assert destination in caplog.text and "not deleted" in caplog.text


def test_a_case_insensitive_server_keeps_the_file_just_uploaded(
    pki: TestPKI, client_context: ContextFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The fake FTP server made case-insensitive as IIS is: a name finds the file whatever its case,
    and keeps the case it was created with.  Before: ``report.csv`` was uploaded into ``Report.CSV``,
    then ``DELE Report.CSV`` removed it, and ``--remove-source-files`` had removed the local one:
    the report existed nowhere, exit 0."""

    def case_insensitive(self: ftps_fake._Session, arg: str) -> Path:
        parts = [p for p in arg.split("/") if p not in ("", ".")]
        if ".." in parts:
            raise PermissionError(arg)
        here: Path = self.server.root
        for part in parts:
            found = next((c for c in here.iterdir() if c.name.lower() == part.lower()), None) if here.is_dir() else None
            here = found if found is not None else here / part
        return here

    monkeypatch.setattr(ftps_fake._Session, "path", case_insensitive)
    others = {"x1.txt": b"1", "x2.txt": b"22", "x3.txt": b"333"}
    make_tree(tmp_path / "fake" / "in", {**others, "Report.CSV": b"old report\n"}, age=7200)
    make_tree(tmp_path / "outbox", {**others, "report.csv": b"new report!\n"})
    with FakeFTPSServer(pki, root=tmp_path / "fake") as srv, srv.adapter(client_context()) as remote:
        result = sync(remote, "/in", tmp_path / "outbox", upload=True, delete=True, remove_source=True)
    assert result.error is None and result.deleted == []
    assert [(a.path, a.kind) for a in result.plan.kept] == [("Report.CSV", "skip")]
    assert tree(tmp_path / "fake" / "in") == {**others, "Report.CSV": b"new report!\n"}


def test_delete_keeps_a_destination_name_alike_but_for_trailing_dots_or_spaces() -> None:
    plan = plan_sync(states("report.", "sub /a.txt", "x1", "x2"), states("report", "sub/a.txt", "x1", "x2", "gone"),
                     delete=True)
    assert deleted(plan) == ["gone"]
    assert [(a.path, "trailing dots or spaces" in a.reason) for a in plan.kept] == [("report", True),
                                                                                     ("sub/a.txt", True)]


def test_a_win32_server_keeps_the_file_just_uploaded_under_a_name_with_a_trailing_dot(
    pki: TestPKI, client_context: ContextFactory, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Review S, finding 1: a server on Win32 paths (IIS) stores ``report.`` as ``report``.  Before:
    ``report.`` was sent as new into ``report``, then ``DELE report`` removed it as "not in source", and
    ``--remove-source-files`` had removed the local one: the report existed nowhere, exit 0."""
    others = {"x1.txt": b"1", "x2.txt": b"22", "x3.txt": b"333"}
    make_tree(tmp_path / "fake" / "in", {**others, "report": b"old report\n"}, age=7200)
    make_tree(tmp_path / "outbox", {**others, "report.": b"new report!\n"})
    with (caplog.at_level(logging.WARNING, logger="xfer.sync"),
          FakeFTPSServer(pki, root=tmp_path / "fake", win32_names=True) as srv,
          srv.adapter(client_context()) as remote):
        result = sync(remote, "/in", tmp_path / "outbox", upload=True, delete=True, remove_source=True)
    assert result.error is None and result.deleted == []
    assert [(a.path, a.kind) for a in result.plan.kept] == [("report", "skip")]
    assert tree(tmp_path / "fake" / "in") == {**others, "report": b"new report!\n"}
    assert "report is not deleted" in caplog.text and "trailing dots or spaces" in caplog.text


def test_names_alike_but_for_trailing_dots_or_spaces_are_twins() -> None:
    """``--remove-source-files`` up to a Win32 server keeps both sources of ``a.txt`` and ``a.txt.``: it holds one."""
    assert name_twins(["a.txt", "a.txt.", "b/c", "b /c", ".d", "e"]) == {
        "a.txt": "a.txt.", "a.txt.": "a.txt", "b/c": "b /c", "b /c": "b/c"}
