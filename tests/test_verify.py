"""End-to-end verification (issue 13): the parsers, the verdict, and every server variant in-process.

The FTPS server hashes as proftpd's mod_digest does (``hashing_handler``: HASH with OPTS
HASH, XSHA256, XMD5, XCRC), the HTTPS server sends each digest header; each also has a
lying variant whose hash is of other bytes: exit 7, and nothing installed on either side.
"""

from __future__ import annotations

import base64
import hashlib
import json
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import one_error, run, save_ftps_profile
from xfer.errors import ExitCode, IntegrityError
from xfer.testing.ftps_server import FTPSServer, hashing_handler
from xfer.testing.https_server import HTTPSServer
from xfer.testing.pki import TestPKI
from xfer.verify import (
    FTPHashCommand,
    ServerHash,
    StreamHash,
    conclude,
    ftp_hash_command,
    ftp_hash_reply,
    http_digest,
)

DATA = bytes(range(256)) * 600 + b"tail"  # 153604 bytes: several blocks, not a multiple of any
SHA256 = hashlib.sha256(DATA).hexdigest()
MD5 = hashlib.md5(DATA).hexdigest()
B64_SHA256 = base64.b64encode(hashlib.sha256(DATA).digest()).decode()
B64_MD5 = base64.b64encode(hashlib.md5(DATA).digest()).decode()


# -- the parsers and the verdict ---------------------------------------------------------------


def test_stream_hash_computes_sha256_always_and_one_extra_on_request() -> None:
    for also, expected in [(None, None), ("md5", MD5), ("crc32", f"{zlib.crc32(DATA):08x}")]:
        stream = StreamHash(also)
        for start in range(0, len(DATA), 10000):
            stream.update(memoryview(DATA)[start:start + 10000])
        assert stream.hexdigest() == SHA256
        assert stream.hexdigest(also or "md5") == expected
    assert StreamHash().hexdigest("crc32") is None


@pytest.mark.parametrize(
    ("headers", "content", "expected"),
    [
        ({"Repr-Digest": f"sha-256=:{B64_SHA256}:"}, False, ("sha256", SHA256, "Repr-Digest")),
        ({"Repr-Digest": f"sha-512=:AAAA:, sha-256=:{B64_SHA256}:;x=1"}, False, ("sha256", SHA256, "Repr-Digest")),
        ({"Content-Digest": f"sha-256=:{B64_SHA256}:"}, True, ("sha256", SHA256, "Content-Digest")),
        ({"Content-Digest": f"sha-256=:{B64_SHA256}:"}, False, None),  # a PUT/HEAD body is not the file
        ({"Digest": f"SHA-256={B64_SHA256}"}, False, ("sha256", SHA256, "Digest")),
        ({"Digest": f"md5={B64_MD5},SHA-256={B64_SHA256}"}, False, ("sha256", SHA256, "Digest")),
        ({"Digest": f"MD5={B64_MD5}"}, False, ("md5", MD5, "Digest")),
        ({"Digest": f"MD5={MD5}"}, False, ("md5", MD5, "Digest")),  # hex, as some servers send it
        ({"Content-MD5": B64_MD5}, True, ("md5", MD5, "Content-MD5")),
        ({"Content-MD5": B64_MD5}, False, None),
        ({"Content-MD5": B64_MD5, "Repr-Digest": f"sha-256=:{B64_SHA256}:"}, True, ("sha256", SHA256, "Repr-Digest")),
        ({"Repr-Digest": "sha-256=:not base64!:"}, False, None),
        ({"Repr-Digest": "sha-256=:AAAA:"}, False, None),  # wrong length
        ({"Digest": "UNIXsum=30637"}, False, None),
        ({}, True, None),
    ],
)
def test_http_digest_headers(headers: dict[str, str], content: bool, expected: tuple[str, str, str] | None) -> None:
    found = http_digest(headers, content=content)
    assert (None if found is None else (found.algorithm, found.value, found.source)) == expected


@pytest.mark.parametrize(
    ("feat", "expected"),
    [
        ([" HASH SHA-1*;SHA-256;SHA-512;MD5;CRC32", " XSHA256", " SIZE"],
         FTPHashCommand("sha256", "HASH", "OPTS HASH SHA-256")),
        ([" HASH SHA-256*;MD5"], FTPHashCommand("sha256", "HASH", None)),
        ([" HASH SHA-1*;MD5", " XSHA256"], FTPHashCommand("sha256", "XSHA256")),
        ([" HASH SHA-1*;MD5"], FTPHashCommand("md5", "HASH", "OPTS HASH MD5")),
        ([" XCRC", " XMD5", " XSHA1"], FTPHashCommand("md5", "XMD5")),
        ([" XCRC"], FTPHashCommand("crc32", "XCRC")),
        ([" XSHA1", " MDTM", " SIZE"], None),  # SHA-1 only: not a check xfer reports
        ([], None),
    ],
)
def test_ftp_hash_command_picks_the_strongest(feat: list[str], expected: FTPHashCommand | None) -> None:
    assert ftp_hash_command(feat) == expected


def test_ftp_hash_replies() -> None:
    sha = FTPHashCommand("sha256", "HASH")
    reply = f"213 SHA-256 0-153604 {SHA256.upper()} /in/a b.bin"
    assert ftp_hash_reply(reply, sha) == ServerHash("sha256", SHA256, "HASH")
    assert ftp_hash_reply(f"213 SHA-1 0-153604 {SHA256} /a", sha) is None  # another algorithm
    assert ftp_hash_reply(f"213 SHA-256 100-153604 {SHA256} /a", sha) is None  # not the whole file
    assert ftp_hash_reply("213 SHA-256 0-1 nothex /a", sha) is None
    legacy = FTPHashCommand("sha256", "XSHA256")
    assert ftp_hash_reply(f"250 {SHA256}", legacy) == ServerHash("sha256", SHA256, "XSHA256")
    assert ftp_hash_reply(f"250 {MD5}", FTPHashCommand("sha256", "XSHA256")) is None  # wrong length
    assert ftp_hash_reply(f"213 {MD5}", FTPHashCommand("md5", "XMD5")) == ServerHash("md5", MD5, "XMD5")
    assert ftp_hash_reply("250 1A2B", FTPHashCommand("crc32", "XCRC")) == ServerHash("crc32", "00001a2b", "XCRC")


def test_ftp_hash_reply_takes_only_a_range_covering_the_whole_file() -> None:
    """Where the size is known, ``0-N`` must end at its last byte (N = size - 1) or at its size:
    a hash of the first bytes only would let sync skip a file changed past them."""
    sha = FTPHashCommand("sha256", "HASH")
    whole = ServerHash("sha256", SHA256, "HASH")
    assert ftp_hash_reply(f"213 SHA-256 0-153604 {SHA256} /a", sha, size=153604) == whole
    assert ftp_hash_reply(f"213 SHA-256 0-153603 {SHA256} /a", sha, size=153604) == whole
    assert ftp_hash_reply(f"213 SHA-256 0-1048575 {SHA256} /a", sha, size=2_000_000) is None  # the first MiB
    assert ftp_hash_reply(f"213 SHA-256 0-99 {SHA256} /a", sha, size=153604) is None
    assert ftp_hash_reply(f"213 SHA-256 0-x {SHA256} /a", sha, size=153604) is None
    assert ftp_hash_reply(f"213 SHA-256 0-0 {SHA256} /a", sha, size=0) == whole
    assert ftp_hash_reply(f"213 SHA-256 0-99 {SHA256} /a", sha) == whole  # size unknown: as before


def _local() -> StreamHash:
    stream = StreamHash("md5")
    stream.update(DATA)
    return stream


def _conclude(offered: ServerHash | None, *, size_checked: bool = True, required: bool = False) -> str:
    return conclude(offered, _local(), server="h:21", what="the download of /a", size_checked=size_checked,
                    required=required, consequence="nothing was saved", looked_for="XSHA256")


def test_conclude_names_the_check_that_passed() -> None:
    assert _conclude(ServerHash("sha256", SHA256, "HASH")) == "sha256"
    assert _conclude(ServerHash("md5", MD5, "XMD5")) == "md5"
    assert _conclude(None) == "size"
    assert _conclude(None, size_checked=False) == "none"


def test_conclude_refuses_a_mismatch_and_a_missing_hash_when_required() -> None:
    with pytest.raises(IntegrityError, match=r"failed the SHA-256 check: the server's HASH says 0000000000000000…"):
        _conclude(ServerHash("sha256", "0" * 64, "HASH"))
    missing = r"h:21 gave no checksum for the download of /a \(looked for XSHA256\)"
    with pytest.raises(IntegrityError, match=missing) as caught:
        _conclude(None, required=True)
    assert caught.value.exit_code == ExitCode.INTEGRITY and "--checksum" in (caught.value.hint or "")


def test_conclude_takes_an_empty_transfer_whose_size_was_checked_as_proven() -> None:
    """Every empty file has the same hash: under --checksum a checked 0-byte size proves it (some
    servers refuse to hash a 0-byte range), and ``verified`` says what was compared: ``"size"``."""
    empty = StreamHash("md5")

    def required(size: int | None, *, size_checked: bool = True) -> str:
        return conclude(None, empty, server="h:22", what="the upload of /e", size_checked=size_checked,
                        required=True, consequence="the upload was removed", looked_for="check-file", size=size)

    assert required(0) == "size"
    with pytest.raises(IntegrityError, match="gave no checksum"):
        required(0, size_checked=False)
    with pytest.raises(IntegrityError, match="gave no checksum"):
        required(1)
    with pytest.raises(IntegrityError, match="gave no checksum"):
        required(None)


# -- FTPS: hashing servers, a lying one, and --checksum ---------------------------------------------


def _ftps(
    pki: TestPKI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, handler: Any = None
) -> Iterator[tuple[FTPSServer, str]]:
    kwargs = {"handler_class": handler} if handler is not None else {}
    with FTPSServer(pki, root=tmp_path / "served", **kwargs) as srv:
        yield srv, save_ftps_profile(srv, pki, tmp_path / "profiles", monkeypatch)


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob("*") if "xfer-part" in p.name)


@pytest.mark.parametrize(
    ("commands", "algorithms", "expected"),
    [
        (("HASH",), ("SHA-1", "SHA-256", "MD5", "CRC32"), "sha256"),  # needs OPTS HASH SHA-256
        (("XSHA256", "XMD5", "XCRC"), (), "sha256"),
        (("HASH", "XCRC"), ("MD5",), "md5"),
        (("XMD5",), (), "md5"),
        (("XCRC",), (), "crc32"),
        ((), (), "size"),
    ],
)
def test_ftps_put_and_get_report_the_strongest_check(
    capsys: pytest.CaptureFixture[str], pki: TestPKI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    commands: tuple[str, ...], algorithms: tuple[str, ...], expected: str,
) -> None:
    local = tmp_path / "a.bin"
    local.write_bytes(DATA)
    for srv, profile in _ftps(pki, tmp_path, monkeypatch, hashing_handler(commands, algorithms=algorithms)):
        code, out, err = run(capsys, "put", str(local), f"{profile}:/in/a.bin", "--json")
        assert code == 0, err
        put = json.loads(out)[0]
        assert (put["verified"], put["sha256"], put["size_verified"]) == (expected, SHA256, True)
        code, out, err = run(capsys, "get", f"{profile}:/in/a.bin", str(tmp_path / "back.bin"), "--json")
        assert code == 0, err
        got = json.loads(out)[0]
        assert (got["verified"], got["sha256"]) == (expected, SHA256)
        assert (tmp_path / "back.bin").read_bytes() == DATA
        if expected in ("sha256", "md5", "crc32"):
            # The upload was hashed under its temporary name, before the rename.
            hashed = [c for c in srv.commands if c.split()[0] in ("HASH", "XSHA256", "XMD5", "XCRC")]
            assert len(hashed) == 2 and ".xfer-part" in hashed[0] and hashed[1].endswith("/in/a.bin")


def test_ftps_lying_server_installs_nothing_on_either_side(
    capsys: pytest.CaptureFixture[str], pki: TestPKI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    local = tmp_path / "a.bin"
    local.write_bytes(DATA)
    for srv, profile in _ftps(pki, tmp_path, monkeypatch, hashing_handler(("HASH", "XSHA256"), lie=True)):
        (srv.root / "in").mkdir()
        (srv.root / "in" / "old.bin").write_bytes(b"old")
        code, _, err = run(capsys, "put", str(local), f"{profile}:/in/old.bin")
        assert code == ExitCode.INTEGRITY
        one_error(err, "failed the SHA-256 check", "the upload was removed")
        assert (srv.root / "in" / "old.bin").read_bytes() == b"old"  # the old file stays, no bad one installed
        assert _leftovers(srv.root) == []
        (srv.root / "in" / "good.bin").write_bytes(DATA)
        (tmp_path / "down").mkdir()
        (tmp_path / "down" / "good.bin").write_bytes(b"mine")
        code, _, err = run(capsys, "get", f"{profile}:/in/good.bin", str(tmp_path / "down") + "/")
        assert code == ExitCode.INTEGRITY
        one_error(err, "failed the SHA-256 check", "nothing was saved")
        assert (tmp_path / "down" / "good.bin").read_bytes() == b"mine"
        assert _leftovers(tmp_path / "down") == []


def test_ftps_checksum_flag_refuses_a_server_without_hashes(
    capsys: pytest.CaptureFixture[str], pki: TestPKI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    local = tmp_path / "a.bin"
    local.write_bytes(DATA)
    for srv, profile in _ftps(pki, tmp_path, monkeypatch):
        code, _, err = run(capsys, "put", str(local), f"{profile}:/in/a.bin", "--checksum")
        assert code == ExitCode.INTEGRITY
        one_error(err, "gave no checksum for the upload of /in/a.bin", "HASH, XSHA256, XMD5 or XCRC")
        assert not (srv.root / "in" / "a.bin").exists() and _leftovers(srv.root) == []
        (srv.root / "in" / "b.bin").write_bytes(DATA)
        code, _, err = run(capsys, "get", f"{profile}:/in/b.bin", str(tmp_path / "b.bin"), "--checksum")
        assert code == ExitCode.INTEGRITY
        one_error(err, "gave no checksum for the download of /in/b.bin")
        assert not (tmp_path / "b.bin").exists() and _leftovers(tmp_path) == []
        # Without the flag the same transfers pass on the size check.
        code, out, err = run(capsys, "get", f"{profile}:/in/b.bin", str(tmp_path / "b.bin"), "--json")
        assert code == 0, err
        assert json.loads(out)[0]["verified"] == "size"


# -- HTTPS: each digest header, a lying server, --checksum -----------------------------------------


def _tls(pki: TestPKI) -> list[str]:
    return ["--ca", str(pki.root_ca), "--identity", str(pki.client_p12),
            "--identity-password", f"file:{pki.password_file}"]


@pytest.mark.parametrize(
    ("digests", "expected"),
    [
        (("repr-digest",), "sha256"),
        (("content-digest",), "sha256"),
        (("digest",), "sha256"),
        (("digest-md5",), "md5"),
        (("content-md5",), "md5"),
        (("content-md5", "repr-digest"), "sha256"),
        ((), "size"),
    ],
)
def test_https_get_checks_each_digest_header(
    capsys: pytest.CaptureFixture[str], pki: TestPKI, tmp_path: Path, digests: tuple[str, ...], expected: str
) -> None:
    with HTTPSServer(pki, root=tmp_path / "srv", digests=digests) as srv:
        (srv.root / "a.bin").write_bytes(DATA)
        code, out, err = run(capsys, "get", f"{srv.url}/a.bin", str(tmp_path / "a.bin"), "--json", *_tls(pki))
    assert code == 0, err
    result = json.loads(out)[0]
    assert (result["verified"], result["sha256"]) == (expected, SHA256)


@pytest.mark.parametrize("digests", [("repr-digest",), ("digest",), ("digest-md5",), ("content-md5",),
                                     ("content-digest",)])
def test_https_lying_digest_saves_nothing(
    capsys: pytest.CaptureFixture[str], pki: TestPKI, tmp_path: Path, digests: tuple[str, ...]
) -> None:
    target = tmp_path / "down" / "a.bin"
    target.parent.mkdir()
    target.write_bytes(b"mine")
    with HTTPSServer(pki, root=tmp_path / "srv", digests=digests, lie_digests=True) as srv:
        (srv.root / "a.bin").write_bytes(DATA)
        code, _, err = run(capsys, "get", f"{srv.url}/a.bin", str(target), *_tls(pki))
    assert code == ExitCode.INTEGRITY
    one_error(err, "the download of /a.bin failed the", "nothing was saved")
    assert target.read_bytes() == b"mine"
    assert [p.name for p in target.parent.iterdir()] == ["a.bin"]


def test_https_put_digest_in_the_answer_or_the_head(
    capsys: pytest.CaptureFixture[str], pki: TestPKI, tmp_path: Path
) -> None:
    local = tmp_path / "a.bin"
    local.write_bytes(DATA)
    with HTTPSServer(pki, root=tmp_path / "srv", digests=("repr-digest",), digests_on_put=True) as srv:
        code, out, err = run(capsys, "put", str(local), f"{srv.url}/in/a.bin", "--json", *_tls(pki))
        assert code == 0, err
        assert json.loads(out)[0]["verified"] == "sha256"
    with HTTPSServer(pki, root=tmp_path / "srv2", digests=("digest",)) as srv:
        code, out, err = run(capsys, "put", str(local), f"{srv.url}/in/a.bin", "--json", *_tls(pki))
        assert code == 0, err
        result = json.loads(out)[0]
        assert (result["verified"], result["size_verified"], result["sha256"]) == ("sha256", True, SHA256)
    with HTTPSServer(pki, root=tmp_path / "srv3") as srv:
        code, out, err = run(capsys, "put", str(local), f"{srv.url}/in/a.bin", "--json", *_tls(pki))
        assert code == 0, err
        assert json.loads(out)[0]["verified"] == "size"


def test_https_put_lying_digest_removes_the_bad_copy(
    capsys: pytest.CaptureFixture[str], pki: TestPKI, tmp_path: Path
) -> None:
    local = tmp_path / "a.bin"
    local.write_bytes(DATA)
    with HTTPSServer(pki, root=tmp_path / "srv", digests=("repr-digest",), digests_on_put=True,
                     lie_digests=True) as srv:
        code, _, err = run(capsys, "put", str(local), f"{srv.url}/in/a.bin", *_tls(pki))
        assert code == ExitCode.INTEGRITY
        one_error(err, "the upload of /in/a.bin failed the SHA-256 check", "the server's copy was deleted")
        assert not (srv.root / "in" / "a.bin").exists()


def test_https_checksum_flag_refuses_a_server_without_digests(
    capsys: pytest.CaptureFixture[str], pki: TestPKI, tmp_path: Path
) -> None:
    with HTTPSServer(pki, root=tmp_path / "srv") as srv:
        (srv.root / "a.bin").write_bytes(DATA)
        code, _, err = run(capsys, "get", f"{srv.url}/a.bin", str(tmp_path / "a.bin"), "--checksum", *_tls(pki))
    assert code == ExitCode.INTEGRITY
    one_error(err, "gave no checksum for the download of /a.bin", "Repr-Digest")
    assert list(tmp_path.glob("*a.bin*")) == []


# -- the streaming side: FileBody and AtomicDownload --------------------------------------------


def test_file_body_hashes_what_it_hands_out(tmp_path: Path) -> None:
    from xfer.transfer import FileBody

    path = tmp_path / "a.bin"
    path.write_bytes(DATA)
    with open(path, "rb") as handle:
        body = FileBody(handle, len(DATA), blocksize=4096, also="md5")
        sent = b"".join(bytes(chunk) for chunk in body)
    assert sent == DATA
    assert (body.sha256, body.hash.hexdigest("md5")) == (SHA256, MD5)


def test_atomic_download_check_inside_the_block_saves_nothing_on_mismatch(tmp_path: Path) -> None:
    """Adapters compare inside the ``with``: a raised mismatch removes the part file, the old file stays."""
    from xfer.transfer import AtomicDownload

    target = tmp_path / "a.bin"
    target.write_bytes(b"old")
    with pytest.raises(IntegrityError), AtomicDownload(target, expected_size=len(DATA), also="crc32") as out:
        out.write(DATA)
        assert out.hash.hexdigest("crc32") == f"{zlib.crc32(DATA):08x}"
        conclude(ServerHash("crc32", "00000000", "XCRC"), out.hash, server="h:21", what="the download of /a",
                 size_checked=True, required=False, consequence="nothing was saved", looked_for="XCRC")
    assert target.read_bytes() == b"old" and sorted(p.name for p in tmp_path.iterdir()) == ["a.bin"]


def test_atomic_download_hash_covers_bytes_fed_before_writing(tmp_path: Path) -> None:
    """The contract resuming code relies on: a kept part's bytes go into ``_hash`` first."""
    from xfer.transfer import AtomicDownload

    with AtomicDownload(tmp_path / "a.bin") as out:
        out._hash.update(DATA[:1000])
        out.write(DATA[1000:])
    assert out.sha256 == SHA256


# -- a SHA-256 nothing shows is not computed; the server's check is never weaker ---------------------


def test_stream_hash_without_sha256_computes_only_what_the_server_compares() -> None:
    for also, computed in [(None, {}), ("md5", {"md5": MD5}), ("crc32", {"crc32": f"{zlib.crc32(DATA):08x}"}),
                           ("sha256", {"sha256": SHA256})]:
        stream = StreamHash(also, sha256=False)
        assert stream.idle is (also is None)
        stream.update(DATA)
        assert {name: stream.hexdigest(name) for name in ("sha256", "md5", "crc32")} == {
            name: computed.get(name) for name in ("sha256", "md5", "crc32")}
    assert not StreamHash().idle


def test_file_body_skips_unread_what_an_idle_hash_would_not_use(tmp_path: Path) -> None:
    """A resumed upload with nothing to hash seeks past the server's part instead of reading it."""
    from xfer.transfer import FileBody

    path = tmp_path / "a.bin"
    path.write_bytes(DATA)
    reads: list[int] = []
    with open(path, "rb") as handle:
        real_read = handle.read

        def counting_read(size: int = -1) -> bytes:
            reads.append(size)
            return real_read(size)

        handle.read = counting_read  # type: ignore[assignment]
        body = FileBody(handle, len(DATA) - 1000, sha256=False)
        body.skip(1000)
        assert reads == [] and handle.tell() == 1000
        assert b"".join(bytes(chunk) for chunk in body) == DATA[1000:]
    assert body.sha256 is None


@pytest.mark.parametrize(
    ("commands", "expected", "sha256"),
    [
        (("XSHA256",), "sha256", SHA256),  # the server compares SHA-256: it is computed anyway
        (("XMD5",), "md5", None),
        (("XCRC",), "crc32", None),
        ((), "size", None),
    ],
)
def test_ftps_without_a_wanted_sha256_still_proves_by_the_servers_hash(
    pki: TestPKI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, commands: tuple[str, ...], expected: str,
    sha256: str | None,
) -> None:
    import xfer

    local = tmp_path / "a.bin"
    local.write_bytes(DATA)
    for _, profile in _ftps(pki, tmp_path, monkeypatch, hashing_handler(commands)):
        with xfer.connect(profile, sha256=False) as remote:
            put = remote.put(str(local), "/in/a.bin")[0]
            got = remote.get("/in/a.bin", str(tmp_path / "back.bin"))[0]
        assert (put.verified, put.sha256) == (got.verified, got.sha256) == (expected, sha256)
        assert (tmp_path / "back.bin").read_bytes() == DATA


@pytest.mark.parametrize(
    ("commands", "expected", "sha256"),
    [(("XSHA256",), "sha256", SHA256), (("XMD5",), "md5", None), (("XCRC",), "crc32", None), ((), "size", None)],
)
def test_an_ftps_stream_upload_computes_the_hash_its_server_compares(
    pki: TestPKI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, commands: tuple[str, ...], expected: str,
    sha256: str | None,
) -> None:
    """``open_write`` (``put -``, fsspec writes) knows from FEAT which hash the server compares, as
    ``put`` does: that one is computed on the way, SHA-256 only where it is wanted (found: the
    stream always hashed SHA-256 alone, so an XMD5 or XCRC server's check was never made)."""
    import xfer

    for _, profile in _ftps(pki, tmp_path, monkeypatch, hashing_handler(commands)):
        with xfer.connect(profile, sha256=False) as remote, remote.open_write("/in/s.bin") as writer:
            writer.write(DATA)
        assert writer.result is not None
        assert (writer.result.verified, writer.result.sha256) == (expected, sha256)
        with xfer.connect(profile) as remote, remote.open_write("/in/t.bin") as writer:
            writer.write(DATA)
        assert writer.result is not None and (writer.result.verified, writer.result.sha256) == (expected, SHA256)


@pytest.mark.parametrize(("digests", "expected", "sha256"),
                         [(("repr-digest",), "sha256", SHA256), (("content-md5",), "md5", None), ((), "size", None)])
def test_https_get_without_a_wanted_sha256_still_proves_by_the_servers_digest(
    pki: TestPKI, tmp_path: Path, digests: tuple[str, ...], expected: str, sha256: str | None
) -> None:
    import xfer

    with HTTPSServer(pki, root=tmp_path / "srv", digests=digests) as srv:
        (srv.root / "a.bin").write_bytes(DATA)
        with xfer.connect(srv.url, ca=str(pki.root_ca), identity=str(pki.client_p12),
                          identity_password=f"file:{pki.password_file}", sha256=False) as remote:
            got = remote.get("/a.bin", str(tmp_path / "a.bin"))[0]
    assert (got.verified, got.sha256) == (expected, sha256)
    assert (tmp_path / "a.bin").read_bytes() == DATA


def test_https_put_compares_a_digest_stated_after_the_body_by_reading_the_file_again(
    pki: TestPKI, tmp_path: Path
) -> None:
    """Which digest a PUT's answer (or the HEAD after it) carries is known only once the body is
    sent: with no SHA-256 wanted nothing is hashed on the way, and the file is hashed only if a
    digest comes (the lying variant: tests/test_verify.py's CLI put without --json)."""
    import xfer

    local = tmp_path / "a.bin"
    local.write_bytes(DATA)
    for digests, on_put, expected in [(("repr-digest",), True, "sha256"), (("digest",), False, "sha256"),
                                      (("digest-md5",), True, "md5"), ((), False, "size")]:
        with HTTPSServer(pki, root=tmp_path / f"srv-{expected}-{on_put}", digests=digests,
                         digests_on_put=on_put) as srv, \
                xfer.connect(srv.url, ca=str(pki.root_ca), identity=str(pki.client_p12),
                             identity_password=f"file:{pki.password_file}", sha256=False) as remote:
            put = remote.put(str(local), "/in/a.bin")[0]
        assert (put.verified, put.sha256) == (expected, None), digests
        assert (srv.root / "in" / "a.bin").read_bytes() == DATA


def test_a_file_changed_after_its_put_is_named_not_blamed_on_the_server(pki: TestPKI, tmp_path: Path) -> None:
    """The late hash is of the file as it was sent: one changed since (same size, new bytes) is
    an integrity error that says so (exit 7), not a server whose copy differs (found in review:
    a mismatch then deleted the server's correct copy and blamed the server)."""
    import xfer
    from xfer.adapters.http_transfer import HTTPTransfer

    local = tmp_path / "a.bin"
    local.write_bytes(DATA)
    real_check = HTTPTransfer.check_upload

    def change_the_file(self: HTTPTransfer, *args: Any, **kwargs: Any) -> None:
        local.write_bytes(DATA[::-1])
        return real_check(self, *args, **kwargs)

    with HTTPSServer(pki, root=tmp_path / "srv", digests=("repr-digest",), digests_on_put=True) as srv, \
            xfer.connect(srv.url, ca=str(pki.root_ca), identity=str(pki.client_p12),
                         identity_password=f"file:{pki.password_file}", sha256=False, retries=0) as remote:
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(HTTPTransfer, "check_upload", change_the_file)
            with pytest.raises(IntegrityError, match="changed while or after it was uploaded") as caught:
                remote.put(str(local), "/in/a.bin")
        assert caught.value.exit_code == ExitCode.INTEGRITY
        assert (srv.root / "in" / "a.bin").read_bytes() == DATA  # what was sent, left in place


@pytest.mark.parametrize("command", ["put", "get", "sync"])
def test_the_cli_wants_the_sha256_only_where_it_shows_it(
    capsys: pytest.CaptureFixture[str], pki: TestPKI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, command: str,
) -> None:
    """One line per file shows no SHA-256, so none is computed for it; ``--json`` shows it."""
    import xfer.client

    asked: list[bool] = []
    real_connect = xfer.client.connect

    def recording_connect(*args: Any, sha256: bool = True, **kwargs: Any) -> Any:
        asked.append(sha256)
        return real_connect(*args, sha256=sha256, **kwargs)

    monkeypatch.setattr(xfer.client, "connect", recording_connect)
    (tmp_path / "up").mkdir()
    (tmp_path / "up" / "a.bin").write_bytes(DATA)
    with HTTPSServer(pki, root=tmp_path / "srv") as srv:
        (srv.root / "a.bin").write_bytes(DATA)
        args = {"put": ["put", str(tmp_path / "up" / "a.bin"), f"{srv.url}/b.bin"],
                "get": ["get", f"{srv.url}/a.bin", str(tmp_path / "a.bin")],
                "sync": ["sync", str(tmp_path / "up"), f"{srv.url}/"]}[command]
        for json_flag in ([], ["--json"]):
            for leftover in (tmp_path / "a.bin", srv.root / "b.bin"):
                leftover.unlink(missing_ok=True)
            code, out, err = run(capsys, *args, *json_flag, *_tls(pki))
            assert code == 0, err
            if json_flag and command != "sync":
                assert json.loads(out)[0]["sha256"] == SHA256
    assert asked == [False, True]


def test_a_stream_upload_never_hashes_a_local_file_named_like_its_source(
    pki: TestPKI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``open_write`` (``put -``, fsspec) sends no file: a digest it did not compute cannot be made
    up afterwards by reading a file named ``-`` in the working folder (found in review: it read
    one, and deleted the server's good copy on the "mismatch")."""
    import xfer
    from xfer.adapters.http_transfer import HTTPTransfer
    from xfer.testing.webdav_server import WebDAVServer

    monkeypatch.chdir(tmp_path)
    (tmp_path / "-").write_bytes(b"not what was sent")
    real_check = HTTPTransfer.check_stored

    def stating_md5(self: HTTPTransfer, remote: str, size: int, **kwargs: Any) -> tuple[bool, ServerHash | None]:
        stored, _ = real_check(self, remote, size, **kwargs)
        return stored, ServerHash("md5", MD5, "Digest")

    monkeypatch.setattr(HTTPTransfer, "check_stored", stating_md5)
    with WebDAVServer(pki, root=tmp_path / "dav") as srv, \
            xfer.connect(srv.url, ca=str(pki.root_ca), identity=str(pki.client_p12),
                         identity_password=f"file:{pki.password_file}", sha256=False) as remote, \
            remote.open_write("/in.bin") as writer:
        writer.write(DATA)
    assert writer.result is not None and writer.result.verified == "size"
    assert (srv.root / "in.bin").read_bytes() == DATA
