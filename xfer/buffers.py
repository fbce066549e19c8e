"""Cache-line-aligned buffers for the bulk copies of a transfer (issue 14).

Why: what a large copy costs depends on where it lands relative to where it comes from.
``memcpy`` (glibc's) and the kernel's copy into the buffer that ``readinto`` fills move
large blocks with ``rep movsb``, and on the bench machine's CPU (AMD EPYC, ERMS/FSRM) that
runs several times slower when the destination is a few bytes ahead of the source modulo
4 KiB (the loads alias the stores just made).  Measured here, 1 GiB:

- ``memcpy`` in 16 KiB pieces: 0.65 s with the destination 16, 18 or 31 bytes ahead of the
  source (mod 4096), 0.07 s at 0, 32, 64, 1234 or 4080 bytes: about nine times;
- ``readinto`` from a tmpfs file (page cache, offset 0 in its page) into 256 KiB: 0.74-0.89 s
  of system time with the buffer 1, 4, 8, 16 or 24 bytes past a page, 0.21-0.28 s at 0, 32,
  40, 48, 56 or 64: about three and a half times.  That was all the client CPU by which a
  1 GiB HTTPS upload trailed curl's (issue 14's perf record: ``_copy_to_iter``, ~0.5 s/GiB).

On 64-bit glibc a ``bytearray`` of 128 KiB or more gets a mapping of its own while glibc's
mapping threshold is at its default, its bytes 16 bytes past the page: a file read into it is
the slow case.  (Once one is freed glibc raises the threshold and later ones come from the
heap, at offsets that are nearly always fine, so the first big buffer of a process paid,
which for the CLI is every upload.)

A buffer starting on a 64-byte line is 0 or at least 64 bytes from any page-aligned source,
and two such buffers copied into each other at offsets that are multiples of 64 (whole
blocks from a download's read buffer into the write-behind pool) are never 1-63 bytes
apart.  The buffer is a slice of a slightly larger ``bytearray``: glibc's reuse of freed
memory is kept (an ``mmap`` per buffer cost ~0.15 ms per file in a batch: the system calls
and the fault of every page), and the address is read once with ``ctypes``, imported only
for a buffer this large; without ``ctypes`` (a Python built without it) the buffer is a
plain one, as before.  Below :data:`ALIGNED_FROM` buffers stay plain: a small file's copy
costs little wherever it lands.
"""

from __future__ import annotations

__all__ = ["ALIGNED_FROM", "aligned_buffer"]

#: Buffers of at least this many bytes start on a 64-byte line.
ALIGNED_FROM = 64 * 1024
#: A cache line: see the module docstring for why this alignment is enough.
_LINE = 64


def aligned_buffer(size: int) -> memoryview:
    """A writable, zeroed buffer of ``size`` bytes that starts on a 64-byte line (from
    :data:`ALIGNED_FROM` bytes up; smaller ones wherever the allocator puts them).

    A memoryview: slices of it share its memory.  The ``bytearray`` under it cannot be
    resized while a view exists, so the address stays where it was measured.
    """
    if size < ALIGNED_FROM:
        return memoryview(bytearray(size))
    try:
        import ctypes
    except ImportError:
        return memoryview(bytearray(size))  # wherever the allocator puts it: slower, not wrong

    whole = memoryview(bytearray(size + _LINE - 1))
    start = -ctypes.addressof(ctypes.c_char.from_buffer(whole)) % _LINE
    return whole[start:start + size]
