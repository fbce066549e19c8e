"""Page-aligned buffers for the bulk copies of a transfer (issue 14).

Why: what a large copy costs depends on where it lands.  ``memcpy`` (glibc's, and the
kernel's copy into a buffer that ``readinto`` fills) moves large blocks with ``rep movsb``,
and on this machine's CPU (AMD EPYC, ERMS/FSRM) that instruction runs three to ten times
slower when the destination sits 1 to 31 bytes past a 64-byte line relative to the source.
A ``bytearray`` of 128 KiB or more is its own ``mmap`` inside glibc's allocator, and its
bytes begin 16 bytes past the page: the worst case, every time.  Measured here, 1 GiB:

- ``readinto`` from a tmpfs file into 256 KiB: 0.74-0.89 s of system time with the
  destination at +8 or +16 bytes, 0.21-0.25 s at +0, +32 or +48.  That difference was all
  of the client CPU by which an HTTPS upload trailed curl's (issue 14's perf record:
  ``_copy_to_iter``, ~0.5 s/GiB).
- ``memcpy`` between buffers in 16 KiB pieces: 0.47-0.69 s misaligned, 0.07 s aligned.

A page boundary is aligned for every such rule.  Buffers below :data:`ALIGNED_FROM` stay
``bytearray``: a small file's copy costs little wherever it lands, and a mapping of its own
(a system call, zeroed pages, an unmapping) would cost more than it saves.
"""

from __future__ import annotations

import mmap

__all__ = ["ALIGNED_FROM", "aligned_buffer"]

#: Buffers of at least this many bytes are mapped on their own, page-aligned.
ALIGNED_FROM = 64 * 1024

# Private: a shared anonymous mapping (mmap's default on Unix) is shmem-backed, which this
# buffer has no use for.  Windows has no such flag; its anonymous mappings are page-aligned too.
_PRIVATE = {"flags": mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS} if hasattr(mmap, "MAP_PRIVATE") else {}


def aligned_buffer(size: int) -> memoryview:
    """A writable, zeroed buffer of ``size`` bytes that starts on a page boundary (from
    :data:`ALIGNED_FROM` bytes up).

    A memoryview, not the mapping: slicing a view shares memory (slicing an ``mmap`` copies),
    and the mapping is released when the last view of it goes.
    """
    if size < ALIGNED_FROM:
        return memoryview(bytearray(size))
    return memoryview(mmap.mmap(-1, size, **_PRIVATE))
