"""The sync planner (xfer.sync.plan_sync): pure, two listings in, a plan out — no server needed."""

from __future__ import annotations

import datetime as dt

import pytest

from xfer.adapters.ftps.listing import parse_list_line
from xfer.errors import UnsupportedOperation, UsageError
from xfer.globs import Filters, Rule
from xfer.sync import Compare, FileState, Plan, check_deletions, listed_precision, plan_sync, remote_digest
from xfer.types import Entry

T = 1_790_000_017.4  # a local time, not on a whole minute


def side(**files: tuple[int, float | None]) -> dict[str, FileState]:
    return {name.replace("__", "/"): FileState(name.replace("__", "/"), size, stamp)
            for name, (size, stamp) in files.items()}


def kinds(plan: Plan) -> dict[str, str]:
    return {a.path: a.kind for a in plan.actions}


def test_new_changed_and_unchanged() -> None:
    source = side(a=(1, T), b=(2, T), c=(3, T), sub__d=(4, T))
    dest = side(b=(2, T + 1.5), c=(30, T), sub__d=(4, T + 100))
    plan = plan_sync(source, dest)
    assert kinds(plan) == {"a": "transfer", "b": "skip", "c": "transfer", "sub/d": "transfer"}
    reasons = {a.path: a.reason for a in plan.actions}
    assert reasons["a"] == "new" and reasons["c"].startswith("size differs") and reasons["sub/d"] == "time differs"


def test_modify_window() -> None:
    source, dest = side(a=(1, T)), side(a=(1, T + 5))
    assert kinds(plan_sync(source, dest)) == {"a": "transfer"}
    assert kinds(plan_sync(source, dest, compare=Compare(window=5))) == {"a": "skip"}


def test_a_time_on_a_whole_minute_means_within_that_minute() -> None:
    # FTP LIST shows 12:34 for a file stored at 12:34:51: the listing cannot say more.
    now = dt.datetime(2026, 11, 29, tzinfo=dt.timezone.utc)
    listed = parse_list_line("-rw-r--r-- 1 u g 1 Nov 28 12:34 a", "/", now=now)
    old = parse_list_line("-rw-r--r-- 1 u g 1 Nov 28 2024 a", "/")
    assert listed is not None and old is not None and listed.modified is not None
    assert listed_precision(listed) == 60
    assert listed_precision(old) == 86400  # LIST of an old file: the date only
    minute = listed.modified
    local = minute.timestamp() + 51
    remote = {"a": FileState("a", 1, minute.timestamp(), listed_precision(listed))}
    assert kinds(plan_sync({"a": FileState("a", 1, local)}, remote)) == {"a": "skip"}
    # ...but not a minute later than that.
    assert kinds(plan_sync({"a": FileState("a", 1, local + 60)}, remote)) == {"a": "transfer"}


def test_a_time_on_a_midnight_from_a_listing_of_seconds_is_exact() -> None:
    # SFTP, MLSD and WebDAV list seconds: a file stamped with a business date at 00:00:00 is
    # exactly then, and a same-size edit at 10:00 that day is a change (review D, finding 6).
    midnight = dt.datetime(2025, 11, 30, tzinfo=dt.timezone.utc)
    entry = Entry("daily.csv", "/daily.csv", "file", 15, midnight)
    assert listed_precision(entry) == 0
    remote = {"daily.csv": FileState("daily.csv", 15, midnight.timestamp(), listed_precision(entry))}
    edited = {"daily.csv": FileState("daily.csv", 15, midnight.timestamp() + 36000)}
    assert kinds(plan_sync(edited, remote)) == {"daily.csv": "transfer"}


def test_a_destination_that_cannot_keep_times_counts_newer_as_unchanged() -> None:
    source = side(a=(1, T))
    uploaded = side(a=(1, T + 30))  # the server stamped its own time on upload
    assert kinds(plan_sync(source, uploaded)) == {"a": "transfer"}
    assert kinds(plan_sync(source, uploaded, compare=Compare(newer_is_unchanged=True))) == {"a": "skip"}
    edited = side(a=(1, T + 60))  # a local edit after the upload is newer again
    assert kinds(plan_sync(edited, uploaded, compare=Compare(newer_is_unchanged=True))) == {"a": "transfer"}


def test_size_only_and_missing_times() -> None:
    source, dest = side(a=(1, T), b=(2, None)), side(a=(1, T + 1000), b=(2, T))
    assert kinds(plan_sync(source, dest, compare=Compare(mode="size"))) == {"a": "skip", "b": "skip"}
    assert kinds(plan_sync(source, dest)) == {"a": "transfer", "b": "transfer"}  # (see below)


def reasons(plan: Plan) -> dict[str, tuple[str, str]]:
    return {a.path: (a.kind, a.reason) for a in plan.actions}


@pytest.mark.parametrize("upload", [True, False], ids=["up", "down"])
def test_a_size_or_time_the_listing_did_not_give_is_never_unchanged(upload: bool) -> None:
    """Review D, finding 5: an HTML index with Apache's rounded sizes ("2.9K") or without dates, and
    WebDAV without ``getcontentlength``/``getlastmodified``, were skipped as "same size (no time to
    compare)" for ever, even when the file had grown."""
    local = {"a": FileState("a", 3000, T), "b": FileState("b", 10, T), "c": FileState("c", 10, T)}
    remote = {"a": FileState("a", None, T), "b": FileState("b", 10, None), "c": FileState("c", None, None)}
    source, dest = (local, remote) if upload else (remote, local)
    compare = Compare(newer_is_unchanged=upload)
    assert reasons(plan_sync(source, dest, compare=compare)) == {
        "a": ("transfer", "size not listed"),
        "b": ("transfer", "same size, but no time to compare"),
        "c": ("transfer", "size not listed"),
    }
    # --size-only needs the sizes alone: a known one is enough, an unknown one is not.
    assert reasons(plan_sync(source, dest, compare=Compare(mode="size"))) == {
        "a": ("transfer", "size not listed"), "b": ("skip", "same size"), "c": ("transfer", "size not listed"),
    }
    # --checksum compares content: it needs no size.
    hashed = plan_sync(source, dest, compare=Compare(mode="checksum"), stated=lambda state: ("md5", "x"),
                       digest=lambda state, algorithm: "x")
    assert {path: kind for path, (kind, _) in reasons(hashed).items()} == {"a": "skip", "b": "skip", "c": "skip"}


def zoneless(path: str, size: int, stamp: float, precision: float = 60) -> FileState:
    """A remote file as FTP ``LIST`` without a known zone shows it: local time read as UTC."""
    return FileState(path, size, stamp, precision, zone_known=False)


def test_a_time_in_an_unknown_zone_may_be_14_hours_either_way() -> None:
    """Review D, finding 3: LIST prints the server's local time.  West of UTC the copy looked older
    than the local file for ever (sent on every run); now such a time matches within 14 h, and
    the skip says what that costs."""
    uploaded = T + 30  # the server stamped its own time, 5 h west of UTC
    listed = (uploaded - 5 * 3600) // 60 * 60
    plan = plan_sync({"a": FileState("a", 1, T)}, {"a": zoneless("a", 1, listed)},
                     compare=Compare(newer_is_unchanged=True))
    [(kind, reason)] = reasons(plan).values()
    assert (kind, reason) == ("skip", "same size and time within 14 h (time zone of the listing unknown)")
    # Downloaded, the local copy got the listed time: unchanged, the same way.
    assert kinds(plan_sync({"a": zoneless("a", 1, listed)}, {"a": FileState("a", 1, listed)})) == {"a": "skip"}
    # Beyond 14 h (and the minute, and the window) either way, a time differs.
    for offset in (-14 * 3600 - 3, 14 * 3600 + 63):
        assert kinds(plan_sync({"a": FileState("a", 1, listed + offset)}, {"a": zoneless("a", 1, listed)})) == {
            "a": "transfer"}
    # A destination that cannot keep times, surely newer however the zone falls: unchanged.
    assert kinds(plan_sync({"a": FileState("a", 1, T - 30 * 86400)}, {"a": zoneless("a", 1, listed)},
                           compare=Compare(newer_is_unchanged=True))) == {"a": "skip"}
    # ...but a local edit more than 14 h after the listed time is sent, newer-is-unchanged or not.
    edited = {"a": FileState("a", 1, listed + 14 * 3600 + 63)}
    assert kinds(plan_sync(edited, {"a": zoneless("a", 1, listed)}, compare=Compare(newer_is_unchanged=True))) == {
        "a": "transfer"}


@pytest.mark.parametrize("window", [0.0, 2.0])
def test_a_server_that_keeps_whole_seconds_is_compared_at_whole_seconds(window: float) -> None:
    """Review D, finding 9: SFTP v3 and MFMT keep 17 of a local 17.25; with --modify-window 0 the
    file was sent on every run."""
    local = T // 1 + 0.25
    kept = {"a": FileState("a", 1, local // 1)}
    compare = Compare(window=window)
    assert kinds(plan_sync({"a": FileState("a", 1, local)}, kept, compare=compare)) == {"a": "skip"}
    assert kinds(plan_sync(kept, {"a": FileState("a", 1, local)}, compare=compare)) == {"a": "skip"}
    # A whole second (and the window) later is still later.
    assert kinds(plan_sync({"a": FileState("a", 1, local + 1 + window)}, kept, compare=compare)) == {"a": "transfer"}


def test_checksum_compares_hashes_and_refuses_without_them() -> None:
    source = {"a": FileState("a", 1, T), "b": FileState("b", 1, T)}
    dest = {"a": FileState("a", 1, T + 999, digest=("sha256", "aa")),
            "b": FileState("b", 1, T, digest=("sha256", "bb"))}
    local = {"a": "aa", "b": "not-bb"}
    plan = plan_sync(source, dest, compare=Compare(mode="checksum"),
                     digest=lambda state, algorithm: state.digest[1] if state.digest else local[state.path])
    assert kinds(plan) == {"a": "skip", "b": "transfer"}
    with pytest.raises(UnsupportedOperation, match="no checksum"):
        plan_sync(source, side(a=(1, T)), compare=Compare(mode="checksum"))
    entry = Entry("x", "/x", "file", extra={"md5": "ABC", "unique": "1"})
    assert remote_digest(entry) == ("md5", "abc")
    assert remote_digest(Entry("x", "/x", "file")) is None


def test_delete_and_its_limits() -> None:
    source = side(a=(1, T))
    dest = side(a=(1, T), x=(1, T), y=(1, T), z=(1, T))
    assert kinds(plan_sync(source, dest)) == {"a": "skip"}  # no --delete: nothing deleted
    plan = plan_sync(source, dest, delete=True)
    assert [a.path for a in plan.deletes] == ["x", "y", "z"]
    assert plan.destination_files == 4
    with pytest.raises(UsageError, match="3 of the 4"):
        check_deletions(plan)
    check_deletions(plan, force=True)
    with pytest.raises(UsageError, match="--max-delete 2"):
        check_deletions(plan, force=True, max_delete=2)
    check_deletions(plan_sync(side(a=(1, T), x=(1, T), y=(1, T)), dest, delete=True))  # 1 of 4: fine


def test_filters_protect_excluded_destination_files_and_part_files_are_never_touched() -> None:
    source = side(a=(1, T), b__tmp=(1, T))
    dest = side(**{"keep.log": (1, T), "sub__x.log": (1, T), ".a.1234abcd.xfer-part": (5, T), "old": (1, T)})
    plan = plan_sync(source, dest, delete=True, filters=Filters([Rule("*.log", include=False)]))
    assert kinds(plan) == {"a": "transfer", "b/tmp": "transfer", "old": "delete"}
    plan = plan_sync({".x.12345678.xfer-part": FileState(".x.12345678.xfer-part", 1, T)}, {})
    assert plan.actions == ()


def test_a_destination_name_that_is_the_sources_with_its_undecodable_bytes_replaced_is_not_deleted() -> None:
    """Review J, finding 5: pyftpdlib stores a local ``bad\\xff\\xfe.txt`` (lone surrogates here) as
    ``bad\\ufffd\\ufffd.txt``.  The next ``sync --delete`` sent the file again, then deleted the
    listed name as "not in source" -- the file just written -- exit 0, every other run."""
    source = {"bad\udcff\udcfe.txt": FileState("bad\udcff\udcfe.txt", 5, T), "ok": FileState("ok", 1, T)}
    dest = {"bad\ufffd\ufffd.txt": FileState("bad\ufffd\ufffd.txt", 5, T), "ok": FileState("ok", 1, T),
            "gone": FileState("gone", 1, T)}
    plan = plan_sync(source, dest, delete=True)
    assert [a.path for a in plan.deletes] == ["gone"]
    assert [a.path for a in plan.kept] == ["bad\ufffd\ufffd.txt"]


def test_two_names_that_differ_in_bytes_that_are_not_utf8_stay_two_files() -> None:
    """Review O, finding 6: the U+FFFD rule made Latin-1 ``caf\\xe9`` and ``caf\\xe8`` one name, so a
    stale ``caf\\xe8`` on a server that keeps the bytes (SFTP) was never deleted, and twin checks
    kept both sources.  Only a source name against its replaced form on the destination is one."""
    from xfer.sync import name_twins

    source = {"caf\udce9.txt": FileState("caf\udce9.txt", 1, T)}
    dest = {name: FileState(name, 1, T) for name in ("caf\udce9.txt", "caf\udce8.txt")}
    plan = plan_sync(source, dest, delete=True)
    assert [a.path for a in plan.deletes] == ["caf\udce8.txt"] and plan.kept == ()
    assert name_twins(["caf\udce9.txt", "caf\udce8.txt"]) == {}
