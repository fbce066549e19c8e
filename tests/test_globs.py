"""Glob matching (xfer.globs) and remote globs on ``get``/``rm``, against the in-process FTPS server."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from xfer.errors import ExitCode, RemoteNotFound, UsageError
from xfer.globs import Filters, Rule, expand, match, split_glob
from xfer.testing.ftps_server import FTPSServer
from xfer.testing.pki import TestPKI
from xfer.types import Entry

from .helpers import one_error, run, save_ftps_profile


@pytest.mark.parametrize(
    ("pattern", "path", "expected"),
    [
        ("*.csv", "a.csv", True),
        ("*.csv", "dir/a.csv", False),  # * stays within one name
        ("?.csv", "ab.csv", False),
        ("?.csv", "a.csv", True),
        ("[ab].csv", "b.csv", True),
        ("[!ab].csv", "b.csv", False),
        ("[^ab].csv", "c.csv", True),
        ("[a-c]x", "bx", True),
        ("[]]x", "]x", True),
        ("[*].csv", "*.csv", True),  # the escape: a set of one
        ("[*].csv", "a.csv", False),
        ("a/**/b.csv", "a/b.csv", True),  # ** is zero folders too
        ("a/**/b.csv", "a/x/y/b.csv", True),
        ("a/**/b.csv", "ab.csv", False),
        ("**/*.csv", "x/y/z.csv", True),
        ("a.c?v", "a.c/v", False),
        ("data[", "data[", True),  # an unclosed [ is a character
        ("a+b(1).csv", "a+b(1).csv", True),  # regex characters are literal
    ],
)
def test_match(pattern: str, path: str, expected: bool) -> None:
    assert match(pattern, path) is expected


def test_split_glob() -> None:
    assert split_glob("/outbox/2026-*/*.csv") == ("/outbox", "2026-*/*.csv")
    assert split_glob("/*.csv") == ("/", "*.csv")
    assert split_glob("/plain/path") == ("/plain/path", "")


def test_filters_last_matching_rule_wins() -> None:
    rules = Filters([Rule("*.tmp", include=False), Rule("keep.tmp", include=True)])
    assert [rules.included(p) for p in ("a.tmp", "d/keep.tmp", "a.csv")] == [False, True, True]
    # Reversed order: the exclude comes last and wins.
    rules = Filters([Rule("keep.tmp", include=True), Rule("*.tmp", include=False)])
    assert rules.included("keep.tmp") is False


def test_filters_anchoring_folders_and_whitelists() -> None:
    rules = Filters([Rule("*.csv", include=True), Rule("/old/", include=False)])
    assert rules.included("a.csv") is True
    assert rules.included("x/b.csv") is True  # no / in the pattern: any depth
    assert rules.included("old/a.csv") is False  # anchored folder rule covers everything in it
    assert rules.included("x/old/a.csv") is True  # anchored: only the top-level old/
    assert rules.included("a.txt") is False  # the first rule is an include: a whitelist
    assert Filters([Rule("logs/", include=False)]).included("logs") is True  # a file named logs is no folder
    assert Filters([Rule("sub/*.csv", include=False)]).included("sub/a.csv") is False
    assert Filters([Rule("sub/*.csv", include=False)]).included("x/sub/a.csv") is True
    assert Filters().included("anything/at/all") is True


def _tree(paths: list[str]) -> dict[str, list[Entry]]:
    """A fake server's listings: folder -> entries, from file paths."""
    listing: dict[str, dict[str, Entry]] = {"/": {}}
    for path in paths:
        parts = path.strip("/").split("/")
        for depth in range(len(parts)):
            folder = "/" + "/".join(parts[:depth]) if depth else "/"
            child = "/" + "/".join(parts[: depth + 1])
            kind = "file" if depth == len(parts) - 1 else "directory"
            listing.setdefault(folder, {})[parts[depth]] = Entry(parts[depth], child, kind)  # type: ignore[arg-type]
            if kind == "directory":
                listing.setdefault(child, {})
    return {folder: sorted(entries.values(), key=lambda e: e.name) for folder, entries in listing.items()}


def test_expand_lists_only_what_the_pattern_reaches() -> None:
    listings = _tree(["/out/a.csv", "/out/b.txt", "/out/2026-01/c.csv", "/out/2026-02/d.csv", "/other/x.csv"])
    listed: list[str] = []

    def ls(folder: str) -> list[Entry]:
        listed.append(folder)
        if folder not in listings:
            raise RemoteNotFound(folder)
        return listings[folder]

    assert [e.path for e in expand("/out/*.csv", ls)] == ["/out/a.csv"]
    assert listed == ["/out"]
    assert [e.path for e in expand("/out/2026-*/*.csv", ls)] == ["/out/2026-01/c.csv", "/out/2026-02/d.csv"]
    assert [e.path for e in expand("/**/*.csv", ls, recursive=True)] == [
        "/other/x.csv", "/out/2026-01/c.csv", "/out/2026-02/d.csv", "/out/a.csv"]
    assert [e.path for e in expand("/out/2026-*", ls, recursive=True)] == ["/out/2026-01", "/out/2026-02"]
    # What lies in a matched folder goes with it, never twice.
    assert [e.path for e in expand("/out/**/*", ls, recursive=True)] == [
        "/out/2026-01", "/out/2026-02", "/out/a.csv", "/out/b.txt"]
    assert [e.path for e in expand("/out/*/", ls, recursive=True)] == ["/out/2026-01", "/out/2026-02"]
    with pytest.raises(UsageError, match="needs -r"):
        expand("/**/*.csv", ls)
    with pytest.raises(RemoteNotFound, match=r"p:/out/\*\.pdf"):
        expand("/out/*.pdf", ls, shown="p:/out/*.pdf")


# -- on the command line, against a real FTP server ---------------------------------------------


@pytest.fixture
def server(pki: TestPKI, tmp_path: Path) -> Iterator[FTPSServer]:
    with FTPSServer(pki, root=tmp_path / "served") as srv:
        for name, data in {"outbox/a.csv": b"a", "outbox/b.csv": b"bb", "outbox/c.txt": b"c",
                           "outbox/sub/d.csv": b"d", "staging/x.tmp": b"x", "staging/y.tmp": b"y",
                           "staging/keep.dat": b"k", "odd/a*.csv": b"literal", "odd/ab.csv": b"ab"}.items():
            path = srv.root / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        yield srv


@pytest.fixture
def profile(server: FTPSServer, pki: TestPKI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    return save_ftps_profile(server, pki, tmp_path / "profiles", monkeypatch)


def test_get_with_a_glob_downloads_the_matches_into_the_folder(
    capsys: pytest.CaptureFixture[str], profile: str, tmp_path: Path
) -> None:
    code, out, err = run(capsys, "get", f"{profile}:/outbox/*.csv", str(tmp_path / "in"), "--json")
    assert code == 0, err
    assert [r["remote"] for r in json.loads(out)] == ["/outbox/a.csv", "/outbox/b.csv"]
    assert sorted(p.name for p in (tmp_path / "in").iterdir()) == ["a.csv", "b.csv"]

    code, _, err = run(capsys, "get", "-r", f"{profile}:/outbox/**/*.csv", str(tmp_path / "all"))
    assert code == 0, err
    assert sorted(p.name for p in (tmp_path / "all").iterdir()) == ["a.csv", "b.csv", "d.csv"]


def test_a_glob_matching_nothing_is_exit_6_naming_the_pattern(
    capsys: pytest.CaptureFixture[str], profile: str, tmp_path: Path
) -> None:
    code, _, err = run(capsys, "get", f"{profile}:/outbox/*.pdf", str(tmp_path / "in"))
    assert code == ExitCode.REMOTE
    one_error(err, f"{profile}:/outbox/*.pdf", "no remote file matches")
    assert not (tmp_path / "in").exists()
    code, _, err = run(capsys, "get", f"{profile}:/outbox/**/*.csv", str(tmp_path / "in"))
    assert code == ExitCode.USAGE
    one_error(err, "needs -r")


def test_a_literal_name_with_glob_characters_stays_reachable(
    capsys: pytest.CaptureFixture[str], profile: str, tmp_path: Path
) -> None:
    code, _, err = run(capsys, "get", f"{profile}:/odd/a*.csv", str(tmp_path / "lit"))
    assert code == 0, err
    assert (tmp_path / "lit").read_bytes() == b"literal"  # the file named a*.csv, not ab.csv
    code, _, err = run(capsys, "get", f"{profile}:/odd/[a]b.csv", str(tmp_path / "in") + "/")
    assert code == 0, err
    assert (tmp_path / "in" / "ab.csv").read_bytes() == b"ab"


def test_rm_with_a_glob_removes_only_the_matches(
    capsys: pytest.CaptureFixture[str], profile: str, server: FTPSServer
) -> None:
    code, out, err = run(capsys, "rm", f"{profile}:/staging/*.tmp", "--json")
    assert code == 0, err
    assert [r["path"] for r in json.loads(out)] == ["/staging/x.tmp", "/staging/y.tmp"]
    assert sorted(p.name for p in (server.root / "staging").iterdir()) == ["keep.dat"]
    code, _, err = run(capsys, "rm", f"{profile}:/staging/*.tmp")
    assert code == ExitCode.REMOTE
    one_error(err, "*.tmp")
    assert (server.root / "staging" / "keep.dat").exists()


def test_folders_a_glob_matches_without_r_are_said_not_passed_over(
    capsys: pytest.CaptureFixture[str], profile: str, server: FTPSServer
) -> None:
    """``rm 'p:/outbox/*'`` removes the files and names the folder it leaves (as ``rm *`` says "Is a
    directory"); a pattern that matches only folders hints at -r.  Before: left in silence, exit 0."""
    code, _, err = run(capsys, "rm", f"{profile}:/outbox/*")
    assert code == 0, err
    assert "xfer: warning: " in err and "also matches 1 folder(s), left out without -r: /outbox/sub" in err
    assert sorted(p.name for p in (server.root / "outbox").iterdir()) == ["sub"]
    code, _, err = run(capsys, "rm", f"{profile}:/out*")
    assert code == ExitCode.REMOTE
    assert "add -r to include them" in err
    assert (server.root / "outbox" / "sub" / "d.csv").exists()


def test_a_pattern_ending_in_a_slash_matches_folders_only(
    capsys: pytest.CaptureFixture[str], profile: str, server: FTPSServer
) -> None:
    """``rm -r 'p:/outbox/*/'`` removes the folders in ``/outbox`` and leaves its files, as a
    shell's ``rm -r */`` does.  Before: the trailing ``/`` was dropped and the files went too
    (review T, M1)."""
    code, out, err = run(capsys, "rm", "-r", f"{profile}:/outbox/*/", "--json")
    assert code == 0, err
    assert [r["path"] for r in json.loads(out)] == ["/outbox/sub"]
    assert sorted(p.name for p in (server.root / "outbox").iterdir()) == ["a.csv", "b.csv", "c.txt"]
    code, _, err = run(capsys, "rm", "-r", f"{profile}:/staging/*/")
    assert code == ExitCode.REMOTE  # only files there: nothing matches
    assert sorted(p.name for p in (server.root / "staging").iterdir()) == ["keep.dat", "x.tmp", "y.tmp"]


class _CountingEntry(Entry):
    """An Entry that counts how often it is asked whether it is a folder."""

    __slots__ = ()
    asked = 0

    @property
    def is_dir(self) -> bool:
        type(self).asked += 1
        return self.type == "directory"


def test_expand_of_many_matches_is_linear_not_quadratic() -> None:
    # Each match was checked against every match before it (is it inside a matched
    # folder?): 5,000 matches asked 12.5 million times, 100,000 about 5 billion (hours).
    count = 5000
    listing = [_CountingEntry(f"f{n:05d}.csv", f"/out/f{n:05d}.csv", "file", size=1) for n in range(count)]
    listing.append(_CountingEntry("sub", "/out/sub", "directory"))
    listings = {"/out": listing, "/out/sub": [_CountingEntry("in.csv", "/out/sub/in.csv", "file", size=1)]}
    _CountingEntry.asked = 0
    found = expand("/out/*", lambda folder: listings[folder], recursive=True)
    assert len(found) == count + 1 and found[-1].path == "/out/sub"
    assert _CountingEntry.asked < 10 * count, _CountingEntry.asked


def test_expand_drops_a_match_inside_a_matched_folder() -> None:
    # ** matches /a (a folder) and /a/x.csv, /a-b/y.csv: only what /a does not already hold stays.
    listings = {
        "/": [Entry("a", "/a", "directory"), Entry("a-b", "/a-b", "directory")],
        "/a": [Entry("x.csv", "/a/x.csv", "file", size=1)],
        "/a-b": [Entry("y.csv", "/a-b/y.csv", "file", size=1)],
    }
    found = expand("/*", lambda folder: listings[folder], recursive=True)
    assert [e.path for e in found] == ["/a", "/a-b"]
    found = expand("/**/*", lambda folder: listings[folder], recursive=True)
    assert [e.path for e in found] == ["/a", "/a-b"]  # /a/x.csv is in /a, /a-b/y.csv in /a-b
