"""Every bench in one run: big files per protocol, many small files, start-up; then the summary table.

    python -m bench [--size-mib 1024] [--repeat 3] [--files 1000] [--only big,small,startup]

The ratios are the point (xfer speed ÷ anchor speed, same files, same servers, same run);
absolute MB/s move with the machine's mood.  xfer fsyncs a download before it says done;
curl, lftp, rclone and OpenSSH's sftp do not, so every download row has a second line against
the anchor run with ``sync FILE`` after it (``ANCHOR+sync``, :func:`bench._harness.durable`; for
many small files ``sync -f`` of their folder): on a disk slower than the network that is where
the difference goes.  A full run with 1 GiB files and three rounds takes about half an hour on
two cores; ``--size-mib 256 --repeat 1`` gives a first look in minutes.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

from bench import _harness as h
from bench import bench_ftps, bench_https, bench_sftp, bench_small_files, bench_startup, bench_webdav

PARTS = ("big", "small", "startup")


def main() -> None:
    p = bench_small_files.parser()
    p.description = __doc__
    p.add_argument("--only", default=",".join(PARTS), help=f"comma-separated parts of {', '.join(PARTS)}")
    args = p.parse_args()
    parts = set(args.only.split(","))
    measured: list[h.Measured] = []
    if "big" in parts:
        # lftp is pinned to TLS 1.2 on vsftpd (see bench_ftps.py): both FTPS clients use it.
        tls12 = argparse.Namespace(**{**vars(args), "tls": "1.2"})
        rows: dict[str, list[Callable[[], h.Measured]]] = {
            "https": [lambda: bench_https.run(args)],
            "webdav": [lambda: bench_webdav.run(args)],
            "ftps": [lambda: bench_ftps.run(tls12), lambda: bench_ftps.run(tls12, implicit=True)],
            "sftp": [lambda: bench_sftp.run(args)],
        }
        for protocol in args.protocol or rows:
            for row in rows[protocol]:
                measured.append(row())
                measured[-1].print()  # each as it is measured: a later failure keeps what was
    if "small" in parts:
        print("\nsmall files, whole command, ratio = anchor time / xfer time (> 1: xfer faster)\n")
        for protocol in args.protocol or sorted(bench_small_files.SERVERS):
            bench_small_files.print_rows(protocol, bench_small_files.run(args, protocol), args.files)
    if "startup" in parts:
        bench_startup.print_rows(bench_startup.run(argparse.Namespace(**{**vars(args), "repeat": 9, "baseline": None})))
    if measured:
        h.print_summary(measured)


if __name__ == "__main__":
    main()
