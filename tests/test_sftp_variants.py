"""SFTP against servers that differ from OpenSSH's sftp-server in ways the protocol allows (review G).

Each fake is a :class:`~xfer.testing.sftp_server.VariantServer` with one knob turned (or a
subclass doing one thing otherwise): WRITEs carried out in parallel, a listing without
attributes, STAT without a size, no ``posix-rename@openssh.com`` (RENAME never replaces),
an account that may rename but not remove, a case-insensitive file system, a server that
refuses dot files or long names.  For each, xfer must neither report a success it did not
have, nor a failure it did not have.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import random
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, ClassVar

import asyncssh
import pytest

import xfer
from tests.test_sftp import profile_of
from xfer.errors import RemotePermissionDenied, ServerError
from xfer.testing.sftp_server import CheckFileServer, SFTPServer, SSHTestKeys, VariantServer, create_ssh_keys


@pytest.fixture(scope="module")
def ssh_keys(tmp_path_factory: pytest.TempPathFactory) -> SSHTestKeys:
    return create_ssh_keys(tmp_path_factory.mktemp("ssh-pki"))


@pytest.fixture
def root(tmp_path: Path) -> Path:
    folder = tmp_path / "srv"
    folder.mkdir()
    return folder


def serve(ssh_keys: SSHTestKeys, root: Path, kind: type[asyncssh.SFTPServer]) -> SFTPServer:
    return SFTPServer(ssh_keys, root=root, sftp_class=kind)


def listing(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


# -- finding 1: a resumed upload trusts only what the server confirmed, in order --------------


class _SecondWriteNeverLands(VariantServer):
    """WRITEs in parallel (legal); the second is slow (a stalled disk) and still in progress when
    the connection breaks, right after the sixth landed: the temporary file then has a hole below
    its size, and nothing (no check-file) can tell."""

    parallel_writes = True
    writes: ClassVar[int] = 0
    cut: ClassVar[bool] = False

    async def write(self, file_obj: Any, offset: int, data: bytes) -> int:
        cls = type(self)
        cls.writes += 1
        number = cls.writes
        if number == 2 and not cls.cut:
            await asyncio.sleep(1.0)
        if file_obj.closed:  # the connection's end closed the file under the stalled write
            raise asyncssh.SFTPFailure("aborted")
        file_obj.seek(offset)
        written: int = file_obj.write(data)
        file_obj.flush()
        if number == 6 and not cls.cut:
            cls.cut = True
            self._chan.get_connection().abort()  # the link breaks
        return written


def test_a_cut_upload_resumes_from_what_was_confirmed_in_order_not_from_the_size(
    ssh_keys: SSHTestKeys, root: Path, tmp_path: Path
) -> None:
    _SecondWriteNeverLands.writes, _SecondWriteNeverLands.cut = 0, False
    data = random.Random(12).randbytes(4 << 20)
    (tmp_path / "big.bin").write_bytes(data)
    with serve(ssh_keys, root, _SecondWriteNeverLands) as srv:
        with xfer.connect(profile_of(srv, ssh_keys), retries=3, retry_wait=0.01) as remote:
            result = remote.put_file(tmp_path / "big.bin", "/big.bin")
    assert _SecondWriteNeverLands.cut and result.attempts == 2
    stored = (root / "big.bin").read_bytes()
    assert hashlib.sha256(stored).hexdigest() == hashlib.sha256(data).hexdigest(), "a hole was installed"
    assert listing(root) == ["big.bin"]


# -- finding 2: a listing without attributes ----------------------------------------------------


class _NoAttrsInListing(VariantServer):
    listing_attrs = False


def _tree(root: Path) -> None:
    (root / "dir" / "sub").mkdir(parents=True)
    (root / "dir" / "a.txt").write_bytes(b"A" * 10)
    (root / "dir" / "sub" / "b.txt").write_bytes(b"B" * 20)


def test_entries_listed_without_attributes_are_looked_up(ssh_keys: SSHTestKeys, root: Path, tmp_path: Path) -> None:
    """SFTP v3 lets READDIR names carry no attributes: each is looked up (STAT), never taken for
    "other" (which ``get -r`` skipped with exit 0, and ``rm -r`` sent a REMOVE of a folder)."""
    _tree(root)
    with serve(ssh_keys, root, _NoAttrsInListing) as srv, xfer.connect(profile_of(srv, ssh_keys)) as remote:
        shown = {entry.name: (entry.type, entry.size) for entry in remote.ls("/dir")}
        assert shown == {"a.txt": ("file", 10), "sub": ("directory", None)}
        remote.get(["/dir"], tmp_path / "out", recursive=True)
        assert listing(tmp_path / "out") == ["a.txt", "sub", "sub/b.txt"]
        assert (tmp_path / "out" / "sub" / "b.txt").read_bytes() == b"B" * 20
        remote.rm("/dir", recursive=True)
    assert listing(root) == []


# -- findings 3 and 4: replacing a file where RENAME never replaces ------------------------------


class _V3Rename(VariantServer):
    """No extensions (no posix-rename): RENAME refuses an existing target, as SFTP v3 says."""

    extensions = ()


class _CutAfterAside(_V3Rename):
    """The connection breaks right after the old file was renamed aside (once per test); with
    :attr:`keep_aside`, the server refuses afterwards to rename the aside file back."""

    cut: ClassVar[bool] = False
    keep_aside: ClassVar[bool] = False

    def rename(self, oldpath: bytes, newpath: bytes) -> None:
        cls = type(self)
        if cls.keep_aside and cls.cut and oldpath.endswith(b".xfer-old"):
            raise asyncssh.SFTPPermissionDenied("not that one")
        super().rename(oldpath, newpath)
        if newpath.endswith(b".xfer-old") and not cls.cut:
            cls.cut = True
            self._chan.get_connection().abort()


class _NoRemove(_V3Rename):
    """An account that may write and rename but not remove (a drop folder)."""

    def remove(self, path: bytes) -> None:
        raise asyncssh.SFTPPermissionDenied("Permission denied")


def _old_and_new(root: Path, tmp_path: Path) -> Path:
    (root / "target.bin").write_bytes(b"OLD")
    (tmp_path / "new.bin").write_bytes(b"NEW" * 100_000)
    return tmp_path / "new.bin"


@pytest.mark.parametrize("retries", [0, 2])
def test_a_cut_between_the_renames_puts_the_old_file_back_or_finishes(
    ssh_keys: SSHTestKeys, root: Path, tmp_path: Path, retries: int
) -> None:
    """Retried: the new file is in place and no ``.xfer-old`` is left.  Not retried: the old file
    is back under its name (put back on a new connection), nothing hidden is left."""
    _CutAfterAside.cut, _CutAfterAside.keep_aside = False, False
    new = _old_and_new(root, tmp_path)
    with serve(ssh_keys, root, _CutAfterAside) as srv:
        with xfer.connect(profile_of(srv, ssh_keys), retries=retries, retry_wait=0.01) as remote:
            if retries:
                remote.put_file(new, "/target.bin")
            else:
                with pytest.raises(xfer.XferError) as caught:
                    remote.put_file(new, "/target.bin")
                assert caught.value.exit_code == 5
    assert _CutAfterAside.cut
    assert listing(root) == ["target.bin"]
    assert (root / "target.bin").read_bytes() == (new.read_bytes() if retries else b"OLD")


def test_an_old_file_that_cannot_be_put_back_is_named_in_the_error(
    ssh_keys: SSHTestKeys, root: Path, tmp_path: Path
) -> None:
    _CutAfterAside.cut, _CutAfterAside.keep_aside = False, True
    new = _old_and_new(root, tmp_path)
    with serve(ssh_keys, root, _CutAfterAside) as srv:
        with xfer.connect(profile_of(srv, ssh_keys), retries=0) as remote:
            with pytest.raises(xfer.XferError) as caught:
                remote.put_file(new, "/target.bin")
    asides = [name for name in listing(root) if name.endswith(".xfer-old")]
    assert len(asides) == 1 and (root / asides[0]).read_bytes() == b"OLD"
    assert f"/{asides[0]}" in f"{caught.value.message} {caught.value.hint}", caught.value


def test_an_old_file_that_cannot_be_removed_is_a_warning_not_a_failure(
    ssh_keys: SSHTestKeys, root: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The new file is in place: the upload succeeded; the old copy left over is named once."""
    new = _old_and_new(root, tmp_path)
    with serve(ssh_keys, root, _NoRemove) as srv, xfer.connect(profile_of(srv, ssh_keys)) as remote:
        result = remote.put_file(new, "/target.bin")
    assert (root / "target.bin").read_bytes() == new.read_bytes()
    asides = [name for name in listing(root) if name.endswith(".xfer-old")]
    assert len(asides) == 1 and (root / asides[0]).read_bytes() == b"OLD"
    assert result.details["previous_version_left_at"] == f"/{asides[0]}"
    warned = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert len(warned) == 1 and asides[0] in warned[0], warned


class _OutageAfterSecondAside(_V3Rename):
    """Several small files replaced together: the connection breaks right after the second old
    file was renamed aside, and the server then drops every new session (an outage)."""

    asides: ClassVar[int] = 0
    down: ClassVar[bool] = False

    def __init__(self, chan: Any, *args: Any, **kwargs: Any) -> None:
        super().__init__(chan, *args, **kwargs)
        if type(self).down:
            chan.get_connection().abort()

    def rename(self, oldpath: bytes, newpath: bytes) -> None:
        super().rename(oldpath, newpath)
        cls = type(self)
        if newpath.endswith(b".xfer-old"):
            cls.asides += 1
            if cls.asides == 2:
                cls.down = True
                self._chan.get_connection().abort()
                raise asyncssh.SFTPConnectionLost("cut")


def test_every_old_file_a_cut_group_upload_left_aside_is_put_back_or_named(
    ssh_keys: SSHTestKeys, root: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Review H: only the file the batch reported was put back or named; the others' old versions
    stayed under .xfer-old names nobody was told, their names empty."""
    _OutageAfterSecondAside.asides, _OutageAfterSecondAside.down = 0, False
    names = [f"{letter}.txt" for letter in "abcdef"]
    for name in names:
        (root / name).write_bytes(b"OLD " + name.encode())
        (tmp_path / name).write_bytes(b"NEW " + name.encode())
    with serve(ssh_keys, root, _OutageAfterSecondAside) as srv:
        remote = xfer.connect(profile_of(srv, ssh_keys), retries=1, retry_wait=0.01)
        with pytest.raises(xfer.XferError) as caught:
            remote.put([str(tmp_path / name) for name in names], "/")
        remote.close()
    told = f"{caught.value.message} {caught.value.hint} " + " ".join(r.getMessage() for r in caplog.records)
    asides = [name for name in listing(root) if name.endswith(".xfer-old")]
    assert len(asides) >= 2
    for aside in asides:
        assert f"/{aside}" in told, (aside, told)  # each old version's place is said
        assert (root / aside).read_bytes().startswith(b"OLD ")


# -- finding 5: STAT without a size ----------------------------------------------------------------


class _NoSizes(VariantServer):
    stat_size = False


class _NoSizesButCheckFile(CheckFileServer):
    stat_size = False


def test_an_upload_whose_size_the_server_does_not_state_is_not_verified_not_refused(
    ssh_keys: SSHTestKeys, root: Path, tmp_path: Path
) -> None:
    """The SIZE attribute is optional in SFTP v3: no size to compare is ``verified: "none"`` (as a
    download of such a file is), never "stored None bytes ... check the server's disk space"."""
    (tmp_path / "a.bin").write_bytes(b"x" * 50_000)
    with serve(ssh_keys, root, _NoSizes) as srv, xfer.connect(profile_of(srv, ssh_keys)) as remote:
        result = remote.put_file(tmp_path / "a.bin", "/a.bin")
    assert (root / "a.bin").read_bytes() == b"x" * 50_000
    assert result.verified == "none" and not result.size_verified
    assert listing(root) == ["a.bin"]


def test_an_upload_whose_size_is_not_stated_is_proven_by_the_servers_hash(
    ssh_keys: SSHTestKeys, root: Path, tmp_path: Path
) -> None:
    (tmp_path / "a.bin").write_bytes(b"x" * 50_000)
    with serve(ssh_keys, root, _NoSizesButCheckFile) as srv, xfer.connect(profile_of(srv, ssh_keys)) as remote:
        result = remote.put_file(tmp_path / "a.bin", "/a.bin")
    assert result.verified == "sha256"
    assert (root / "a.bin").read_bytes() == b"x" * 50_000


# -- finding 6: a change of case on a case-insensitive server ----------------------------------


class _CaseInsensitiveV3(VariantServer):
    """Windows-backed: case-insensitive and case-preserving, no posix-rename."""

    case_insensitive = True
    extensions = ()


def test_a_case_only_rename_on_a_case_insensitive_server_renames(
    ssh_keys: SSHTestKeys, root: Path
) -> None:
    """The destination is the source itself: not a file to replace (moved aside, then "does not
    exist"), a plain rename."""
    (root / "REPORT.txt").write_bytes(b"the report")
    with serve(ssh_keys, root, _CaseInsensitiveV3) as srv, xfer.connect(profile_of(srv, ssh_keys)) as remote:
        remote.mv("/REPORT.txt", "/report.txt")
    assert listing(root) == ["report.txt"]
    assert (root / "report.txt").read_bytes() == b"the report"


def test_a_file_differing_only_in_case_on_a_case_sensitive_server_is_replaced(
    ssh_keys: SSHTestKeys, root: Path
) -> None:
    (root / "REPORT.txt").write_bytes(b"the report")
    (root / "report.txt").write_bytes(b"the report")  # the same size and time, another file
    first = os.stat(root / "REPORT.txt")
    os.utime(root / "report.txt", ns=(first.st_atime_ns, first.st_mtime_ns))
    with serve(ssh_keys, root, _V3Rename) as srv, xfer.connect(profile_of(srv, ssh_keys)) as remote:
        remote.mv("/REPORT.txt", "/report.txt")
    assert listing(root) == ["report.txt"]


# -- finding 7: the temporary name is the one refused -----------------------------------------


class _NoDotFiles(VariantServer):
    """Refuses to create names that start with a dot (MFT servers that hide or forbid them)."""

    def open(self, path: bytes, pflags: int, attrs: asyncssh.SFTPAttrs) -> object:
        if os.path.basename(path).startswith(b".") and pflags & asyncssh.FXF_CREAT:
            raise asyncssh.SFTPPermissionDenied("Permission denied")
        return super().open(path, pflags, attrs)


def test_a_long_name_gets_a_temporary_name_that_fits(ssh_keys: SSHTestKeys, root: Path, tmp_path: Path) -> None:
    """A 240-byte name is legal (NAME_MAX 255); ``.NAME.RANDOM.xfer-part`` would be 260 bytes."""
    name = "r" * 236 + ".csv"
    (tmp_path / "a.csv").write_bytes(b"x" * 1000)
    with serve(ssh_keys, root, VariantServer) as srv, xfer.connect(profile_of(srv, ssh_keys)) as remote:
        result = remote.put_file(tmp_path / "a.csv", f"/{name}")
    assert listing(root) == [name]
    assert result.temp_name is not None and len(result.temp_name.encode()) <= 255


def test_a_refused_temporary_name_is_named_with_the_option_that_avoids_it(
    ssh_keys: SSHTestKeys, root: Path, tmp_path: Path
) -> None:
    (tmp_path / "invoice.csv").write_bytes(b"x" * 1000)
    with serve(ssh_keys, root, _NoDotFiles) as srv:
        with xfer.connect(profile_of(srv, ssh_keys)) as remote:
            with pytest.raises(xfer.XferError) as caught:
                remote.put_file(tmp_path / "invoice.csv", "/invoice.csv")
        assert "temporary" in caught.value.message and "/.invoice.csv." in caught.value.message, caught.value
        assert "upload_temp_name = false" in (caught.value.hint or "")
        with xfer.connect(profile_of(srv, ssh_keys, sftp={"upload_temp_name": False})) as remote:
            remote.put_file(tmp_path / "invoice.csv", "/invoice.csv")
    assert listing(root) == ["invoice.csv"]


# -- finding 9: a listing that repeats names ------------------------------------------------------


class _ListsTwice(VariantServer):
    """READDIR answers each entry twice (a paging bug)."""

    async def scandir(self, path: bytes) -> AsyncIterator[asyncssh.SFTPName]:
        async for name in super().scandir(path):
            yield name
            yield name


def test_rm_r_removes_a_tree_whose_listing_repeats_names(ssh_keys: SSHTestKeys, root: Path) -> None:
    _tree(root)
    with serve(ssh_keys, root, _ListsTwice) as srv, xfer.connect(profile_of(srv, ssh_keys)) as remote:
        remote.rm("/dir", recursive=True)
    assert listing(root) == []


# -- finding 10: a stated size smaller than the file ---------------------------------------------


class _SaysEmpty(VariantServer):
    """STAT states size 0 for every file (a lazily sized, or growing, file)."""

    def stat(self, path: bytes) -> Any:
        attrs = asyncssh.SFTPAttrs.from_local(super().stat(path))
        if attrs.type == asyncssh.FILEXFER_TYPE_REGULAR or (attrs.permissions or 0) & 0o100000:
            attrs.size = 0
        return attrs


def test_a_file_longer_than_its_stated_size_is_refused_as_such(
    ssh_keys: SSHTestKeys, root: Path, tmp_path: Path
) -> None:
    (root / "out.bin").write_bytes(b"x" * 100_000)
    with serve(ssh_keys, root, _SaysEmpty) as srv, xfer.connect(profile_of(srv, ssh_keys)) as remote:
        with pytest.raises(xfer.XferError) as caught:
            remote.get_file("/out.bin", tmp_path / "out.bin")
    assert caught.value.exit_code == 7
    assert "longer than" in caught.value.message and "incomplete" not in caught.value.message, caught.value
    assert "cut" not in (caught.value.hint or "")
    assert not (tmp_path / "out.bin").exists()


# -- review 26: an upload without a temporary name refused at its open ----------------------------


class _ExistingReadOnly(VariantServer):
    """An existing file this login may read but not write (0444, as another user's file): opening it
    for writing is refused; new names may be made."""

    def open(self, path: bytes, pflags: int, attrs: asyncssh.SFTPAttrs) -> object:
        if pflags & asyncssh.FXF_WRITE and os.path.exists(self.map_path(path)):
            raise asyncssh.SFTPPermissionDenied("Permission denied")
        return super().open(path, pflags, attrs)


def test_a_refused_direct_write_leaves_the_existing_file(ssh_keys: SSHTestKeys, root: Path, tmp_path: Path) -> None:
    """With upload_temp_name = false the upload opens the real name.  A refused open wrote nothing,
    yet the failure removed the file it was refused, alone and in a group (review 26, finding 1)."""
    (root / "report.csv").write_bytes(b"yesterday's report\n")
    (tmp_path / "report.csv").write_bytes(b"today's report\n")
    with serve(ssh_keys, root, _ExistingReadOnly) as srv, \
            xfer.connect(profile_of(srv, ssh_keys, sftp={"upload_temp_name": False}), retries=0) as remote:
        with pytest.raises(RemotePermissionDenied):
            remote.put_file(tmp_path / "report.csv", "/report.csv")
        assert (root / "report.csv").read_bytes() == b"yesterday's report\n"
        assert remote.put_together([(tmp_path / "report.csv", "/report.csv", None)]) == [None]
    assert listing(root) == ["report.csv"]
    assert (root / "report.csv").read_bytes() == b"yesterday's report\n"


# -- review 26: a listing that describes a link by what it points to ------------------------------


class _ListsLinkTargets(VariantServer):
    """READDIR names carry the attributes of what a link points to (stat, not lstat), as some
    servers' listings do; LSTAT still tells a link."""

    async def scandir(self, path: bytes) -> AsyncIterator[asyncssh.SFTPName]:
        async for name in super().scandir(path):
            local = os.path.join(self.map_path(path), os.fsencode(name.filename))
            if name.filename in (b".", b"..") or not os.path.islink(local):
                yield name
                continue
            yield asyncssh.SFTPName(name.filename, name.longname, asyncssh.SFTPAttrs.from_local(os.stat(local)))


def test_rm_r_never_goes_through_a_link_listed_as_a_folder(ssh_keys: SSHTestKeys, root: Path) -> None:
    """``rm -r /tree`` with ``/tree/link -> ../precious``: the listing called the link a folder, and
    the walk went through it and removed what ``precious`` held (review 26, finding 3)."""
    (root / "precious").mkdir()
    (root / "precious" / "keep.txt").write_bytes(b"outside the tree\n")
    _tree(root)
    os.symlink("../precious", root / "dir" / "link")
    with serve(ssh_keys, root, _ListsLinkTargets) as srv, xfer.connect(profile_of(srv, ssh_keys)) as remote:
        remote.rm("/dir", recursive=True)
    assert listing(root) == ["precious", "precious/keep.txt"]


# -- review 26: a READ answered with more than it asked for ---------------------------------------


class _ReadsTooMuch(VariantServer):
    """The READ at offset 0 is answered with 1000 bytes more than asked, and the file's last 1000 bytes
    are never served: what is sent adds up to the stated size, the surplus in the next block's place."""

    def read(self, file_obj: Any, offset: int, size: int) -> bytes:
        end = os.fstat(file_obj.fileno()).st_size - 1000
        data = super().read(file_obj, offset, size + 1000 if offset == 0 else max(0, min(size, end - offset)))
        assert isinstance(data, bytes)  # (asyncssh's own server reads at once)
        return data


def test_a_read_answered_with_more_than_asked_is_refused(ssh_keys: SSHTestKeys, root: Path, tmp_path: Path) -> None:
    """Taken as is, the surplus stood in for the next block's first bytes: the download was saved
    with 1000 bytes repeated, verified by its size (review 26, finding 4)."""
    data = random.Random(26).randbytes(1 << 20)
    (root / "f.bin").write_bytes(data)
    with serve(ssh_keys, root, _ReadsTooMuch) as srv, xfer.connect(profile_of(srv, ssh_keys), retries=0) as remote:
        with pytest.raises(ServerError, match=r"broke the SFTP protocol \(a read of \d+ bytes at offset 0 was "
                                              r"answered with \d+\)"):
            remote.get_file("/f.bin", tmp_path / "f.bin")
        with pytest.raises(ServerError, match="broke the SFTP protocol"):
            remote.read_range("/f.bin", 0, 1 << 20)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["srv"]
