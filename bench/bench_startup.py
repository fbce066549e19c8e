"""Start-up: a connecting command as a script calling xfer once per file pays it, beside curl.

    python bench/bench_startup.py [--repeat 9] [--bed-dir DIR]
    python -m bench.bench_startup ...

Rows: ``xfer --help`` (no connection), ``xfer ls`` of nginx's root and a 1 KiB ``xfer put`` (a
TLS 1.3 handshake with a client certificate each), each against curl doing the same.  Wall and
CPU are medians of ``--repeat`` runs of the whole process.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

if not __package__:  # run as a file: make the repository importable
    sys.path[0] = str(Path(__file__).resolve().parent.parent)

from bench import _harness as h
from xfer.testing.contract import make_file


def run(args: argparse.Namespace) -> list[tuple[str, float, float, float | None]]:
    """(row, xfer wall s, xfer CPU s, curl wall s or None) per command."""
    rows: list[tuple[str, float, float, float | None]] = []
    with h.bed_server("nginx", args) as bench:
        ident, url = bench.identity, f"https://127.0.0.1:{bench.server.port}"
        small = bench.work / "small.bin"
        make_file(small, 1024, seed=1)
        flags = ["--identity", str(ident.p12), "--identity-password", "env:XFER_BENCH_PW", "--ca", str(ident.ca)]
        curl = ["curl", "-sS", "-f", "-o", "/dev/null", "--cert-type", "P12", "--cert",
                f"{ident.p12}:{ident.password}", "--cacert", str(ident.ca)]
        xfer = [sys.executable, "-m", "xfer"]
        commands: list[tuple[str, list[str], list[str] | None]] = [
            ("xfer --help", [*xfer, "--help"], None),
            ("ls https:// (nginx)", [*xfer, "ls", f"{url}/", *flags], [*curl, f"{url}/"]),
            ("put 1 KiB https://", [*xfer, "put", str(small), f"{url}/bench-startup.bin", *flags, "--quiet"],
             [*curl, "-T", str(small), f"{url}/bench-startup.bin"]),
        ]
        for name, ours, theirs in commands:
            samples = [h.timed(ours, bench.env) for _ in range(args.repeat)]
            anchor = statistics.median(h.timed(theirs, bench.env).wall for _ in range(args.repeat)) if theirs else None
            rows.append((name, statistics.median(s.wall for s in samples), statistics.median(s.cpu for s in samples),
                         anchor))
    return rows


def print_rows(rows: list[tuple[str, float, float, float | None]]) -> None:
    print(f"\nstart-up, whole process, median\n\n{'command':24} {'xfer wall':>9} {'xfer CPU':>9} {'curl wall':>9} "
          f"{'xfer/curl':>9}")
    for name, wall, cpu, anchor in rows:
        theirs = f"{anchor:9.3f} {wall / anchor:9.1f}" if anchor else f"{'-':>9} {'-':>9}"
        print(f"{name:24} {wall:9.3f} {cpu:9.3f} {theirs}")


def parser() -> argparse.ArgumentParser:
    p = h.parser(__doc__)
    p.set_defaults(repeat=9)
    return p


def main() -> None:
    print_rows(run(parser().parse_args()))


if __name__ == "__main__":
    main()
