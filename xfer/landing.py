"""Many finished downloads made durable by one call to the kernel, where that is safe.

Why (issue 14): a download is fsynced before it gets its name (after a crash the name must
not point at missing data).  On ext4, each ``fsync`` of a small new file is a journal commit
and a flush of the disk's cache: 1,000 files of 4 KiB cost 0.28-0.46 s of fsyncs, most of an
HTTPS ``get -r`` that otherwise takes 0.48 s, and curl takes 0.52 s without any.  ``syncfs``
makes everything written on one file system durable in one commit: groups of 32 such files
took 0.04 s in all (measured on this machine's ext4, 2026-11-30).

``syncfs`` writes back *every* dirty page of that file system, not only ours: with a
program writing gigabytes beside us, it would wait for all of them.  So it is used only
while the whole system holds little unwritten data (:data:`DIRTY_LIMIT`), only where it
reports a failed write-back (Linux 5.8 and later; earlier kernels returned success after
losing data), and only on the local disk file systems of :data:`SYNCFS_SYSTEMS`: on FUSE
(sshfs, rclone mount, s3fs, ntfs-3g) it returns 0 without asking the daemon, where fsync
asks it (review of 2026-11-30, traced with a FUSE daemon); network file systems are no
better known.  Anywhere else, and whenever it fails, each file is fsynced on its own, as before.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence
from functools import cache
from typing import cast

__all__ = ["DIRTY_LIMIT", "sync_together"]

#: Unwritten data in the whole system (``Dirty`` + ``Writeback`` of ``/proc/meminfo``) above
#: which files are fsynced one by one.  Linux keeps writes unwritten for up to 30 s
#: (``vm.dirty_expire_centisecs``): a machine that wrote anything lately holds tens of MiB
#: (33 MiB here while tests ran), so a small limit would rarely allow ``syncfs``.  64 MiB of
#: someone else's data is at most ~1.3 s at a slow disk's 50 MB/s, paid by the first group
#: only: the next finds just what was written since.
DIRTY_LIMIT = 64 * 1024 * 1024
#: ``statfs`` types whose ``syncfs`` writes and flushes everything as fsync would (linux/magic.h):
#: ext2/3/4, XFS, Btrfs, F2FS.
SYNCFS_SYSTEMS = frozenset({0xEF53, 0x58465342, 0x9123683E, 0xF2F52010})
#: The first Linux whose ``syncfs`` reports a write-back error of the file system since the
#: descriptor was opened (the per-superblock error sequence).
_ERRORS_REPORTED = (5, 8)


def sync_together(descriptors: Sequence[int]) -> bool:
    """Make the files open at ``descriptors`` durable with one ``syncfs`` per file system;
    whether that was done (False: nothing was tried or a call failed; fsync each file).

    Each file system's ``syncfs`` goes to the first of its descriptors in ``descriptors``: give
    them in the order they were opened, as ``syncfs`` reports the write-back failures since *its*
    descriptor was opened.  Never raises: a failure leaves the work to each file's own fsync,
    which says what is wrong with that file.
    """
    if len(descriptors) < 2 or not _syncfs_reports_errors() or _unwritten_bytes() > DIRTY_LIMIT:
        return False
    devices: dict[int, int] = {}
    try:
        for fd in descriptors:
            devices.setdefault(os.fstat(fd).st_dev, fd)
    except OSError:
        return False
    syncfs = _syncfs()
    return (syncfs is not None and all(_file_system_type(fd) in SYNCFS_SYSTEMS for fd in devices.values())
            and all(syncfs(fd) == 0 for fd in devices.values()))


@cache
def _syncfs_reports_errors() -> bool:
    if not sys.platform.startswith("linux"):
        return False
    try:
        version = tuple(int(part) for part in os.uname().release.split("-")[0].split(".")[:2])
    except ValueError:
        return False
    return version >= _ERRORS_REPORTED and _syncfs() is not None


def _syncfs() -> Callable[[int], int] | None:
    return _libc_function("syncfs")


@cache
def _libc_function(name: str) -> Callable[..., int] | None:
    """The C library's ``name`` (``syncfs``: one int; ``fstatfs``: an int and a buffer), returning an int."""
    import ctypes  # (only where a group lands: a command's start-up does not pay for it)

    try:
        function = getattr(ctypes.CDLL(None, use_errno=True), name)
    except (OSError, AttributeError):
        return None
    function.argtypes = [ctypes.c_int] if name == "syncfs" else [ctypes.c_int, ctypes.c_char_p]
    function.restype = ctypes.c_int
    return cast("Callable[..., int]", function)


def _file_system_type(fd: int) -> int | None:
    """``fstatfs``'s ``f_type`` of the file system ``fd`` is on (None if it cannot be read)."""
    import ctypes

    fstatfs = _libc_function("fstatfs")
    if fstatfs is None:
        return None
    facts = ctypes.create_string_buffer(256)  # struct statfs: 120 bytes on 64-bit Linux
    if fstatfs(fd, facts) != 0:
        return None
    return ctypes.c_long.from_buffer(facts).value & 0xFFFFFFFF  # f_type: its first field, a long


def _unwritten_bytes() -> int:
    """The system's dirty and under-write-back bytes; a large number if they cannot be read."""
    total = 0
    try:
        with open("/proc/meminfo", "rb") as meminfo:
            for line in meminfo:
                if line.startswith((b"Dirty:", b"Writeback:")):
                    total += int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return sys.maxsize
    return total
