"""Start-up: a connecting command as a script calling xfer once per file pays it, beside curl.

    python bench/bench_startup.py [--repeat 9] [--bed-dir DIR]
    python -m bench.bench_startup ...

Rows: the interpreter alone (``python -c pass``, with site-packages: the floor under every
xfer row), ``xfer --help`` (no connection), ``xfer ls`` of nginx's root over HTTPS and over
WebDAV (a ``PROPFIND``) and a 1 KiB ``xfer put`` (a TLS 1.3 handshake with a client certificate
each), each against curl doing the same.  Wall
and CPU are medians of ``--repeat`` runs of the whole process.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

if not __package__:  # run as a file: make the repository importable
    sys.path[0] = str(Path(__file__).resolve().parent.parent)

from bench import _harness as h
from xfer.testing.contract import make_file


@dataclass(frozen=True)
class Row:
    """One command's medians: wall and CPU seconds of xfer, of the baseline checkout, of curl."""

    name: str
    wall: float
    cpu: float
    base_wall: float | None = None
    base_cpu: float | None = None
    curl_wall: float | None = None


def run(args: argparse.Namespace) -> list[Row]:
    """Every command ``--repeat`` times, xfer, the baseline (if any) and curl taking turns."""
    rows: list[Row] = []
    with h.bed_server("nginx", args) as bench:
        ident, url = bench.identity, f"https://127.0.0.1:{bench.server.port}"
        small = bench.work / "small.bin"
        make_file(small, 1024, seed=1)
        flags = ["--identity", str(ident.p12), "--identity-password", "env:XFER_BENCH_PW", "--ca", str(ident.ca)]
        curl = ["curl", "-sS", "-f", "-o", "/dev/null", "--cert-type", "P12", "--cert",
                f"{ident.p12}:{ident.password}", "--cacert", str(ident.ca)]
        xfer = [sys.executable, "-m", "xfer"]
        commands: list[tuple[str, list[str], list[str] | None]] = [
            ("python -c pass (floor)", [sys.executable, "-c", "pass"], None),
            ("xfer --help", [*xfer, "--help"], None),
            ("ls https:// (nginx)", [*xfer, "ls", f"{url}/", *flags], [*curl, f"{url}/"]),
            # The same server through its WebDAV module: xfer's WebDAV imports (webdavclient3) and a PROPFIND.
            ("ls davs:// (nginx)", [*xfer, "ls", f"davs://127.0.0.1:{bench.server.port}/", *flags],
             [*curl, "-X", "PROPFIND", "-H", "Depth: 1", f"{url}/"]),
            ("put 1 KiB https://", [*xfer, "put", str(small), f"{url}/bench-startup.bin", *flags, "--quiet"],
             [*curl, "-T", str(small), f"{url}/bench-startup.bin"]),
        ]
        base_env = _baseline_env(args.baseline, bench.env) if args.baseline else None
        for name, ours, theirs in commands:
            samples: dict[str, list[h.Sample]] = {"xfer": [], "base": [], "curl": []}
            for _ in range(args.repeat):  # in turns: machine noise hits all three alike
                samples["xfer"].append(h.timed(ours, bench.env))
                if base_env is not None:
                    samples["base"].append(h.timed(ours, base_env))
                if theirs:
                    samples["curl"].append(h.timed(theirs, bench.env))
            rows.append(Row(name, statistics.median(s.wall for s in samples["xfer"]),
                            statistics.median(s.cpu for s in samples["xfer"]),
                            _median(samples["base"], "wall"), _median(samples["base"], "cpu"),
                            _median(samples["curl"], "wall")))
    return rows


def _median(samples: list[h.Sample], what: str) -> float | None:
    return statistics.median(getattr(s, what) for s in samples) if samples else None


def _baseline_env(folder: Path, env: dict[str, str]) -> dict[str, str]:
    """The bench's environment with ``folder`` (another checkout, e.g. ``git archive`` of an
    older commit) first on the path, compiled like the bench compiles ours."""
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(folder / "xfer")], check=True, env=env)
    base = {**env, "PYTHONPATH": os.pathsep.join([str(folder.resolve()), env.get("PYTHONPATH", "")])}
    # `python -m xfer` puts the current folder first on the path: run the bench from elsewhere.
    found = subprocess.run([sys.executable, "-c", "import xfer; print(xfer.__file__)"], env=base, check=True,
                           capture_output=True, text=True).stdout.strip()
    if not Path(found).resolve().is_relative_to(folder.resolve()):
        raise SystemExit(f"--baseline: the children import {found}, not {folder}; run the bench from another folder")
    return base


def print_rows(rows: list[Row]) -> None:
    base = any(r.base_wall is not None for r in rows)
    head = f"{'command':24} {'xfer wall':>9} {'xfer CPU':>9}"
    head += f" {'base wall':>9} {'base CPU':>9}" if base else ""
    print(f"\nstart-up, whole process, median\n\n{head} {'curl wall':>9} {'xfer/curl':>9}")
    for row in rows:
        line = f"{row.name:24} {row.wall:9.3f} {row.cpu:9.3f}"
        if row.base_wall is not None and row.base_cpu is not None:
            line += f" {row.base_wall:9.3f} {row.base_cpu:9.3f}"
        anchor = row.curl_wall
        line += f" {anchor:9.3f} {row.wall / anchor:9.1f}" if anchor else f" {'-':>9} {'-':>9}"
        print(line)


def parser() -> argparse.ArgumentParser:
    p = h.parser(__doc__)
    p.set_defaults(repeat=9)
    p.add_argument("--baseline", type=Path,
                   help="another checkout's root (holding xfer/) to time in turns with this one, "
                        "e.g. git archive OLD xfer | tar -x -C /tmp/old")
    return p


def main() -> None:
    print_rows(run(parser().parse_args()))


if __name__ == "__main__":
    main()
