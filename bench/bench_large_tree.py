"""Large trees: peak memory of listing and planning ``get -r`` (and ``sync --dry-run``) of many remote files.

    python -m bench.bench_large_tree [--files 100000] [--per-folder 1000] [--protocol ftpes|davs|sftp|https]

The tree (empty files, ``--per-folder`` per folder, folders two levels deep) is served by the
in-process server of each protocol, running in this process; a fresh interpreter lists and plans
it and reports its own peak RSS (``VmHWM``: ``ru_maxrss`` of a child would carry this process's
over ``exec``).  Nothing is transferred: ``run_tasks`` is replaced by a counter of the planned
tasks, so what is measured is the listing and the plan, the part whose memory grows with the tree.
The issue's bound is 150 MB for 100,000 entries.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from xfer.testing import TestPKI

if not __package__:  # run as a file: make the repository importable
    sys.path[0] = str(Path(__file__).resolve().parent.parent)

__all__ = ["PROTOCOLS", "Measured", "make_tree", "measure", "served_tree"]

#: Protocols whose in-process server lists a folder of thousands of entries.
PROTOCOLS = ("ftpes", "davs", "sftp", "https")

#: The child: connect with the profile, list + plan, report the plan's size and VmHWM (kB).
CHILD = r"""
import json, sys, time
from pathlib import Path

import xfer
from xfer import batch
from xfer.profiles import read_profile_file

a = json.loads(sys.argv[1])
profile = read_profile_file(Path(a["profile"]))
planned = {"tasks": 0, "bytes": 0}


def count_only(remote, tasks, **_options):
    # The plan without the transfers: consume it as run_tasks would, move nothing.
    for task in tasks:
        planned["tasks"] += 1
        planned["bytes"] += task.size or 0
    return []


started = time.perf_counter()
with xfer.connect(profile) as remote:
    if a["mode"] == "get":
        batch.run_tasks = count_only
        remote.get(a["remote"], a["local"], recursive=True, max_depth=8)
    else:
        from xfer.sync import sync

        result = sync(remote, a["remote"], a["local"], upload=False, dry_run=True, max_depth=8)
        planned["tasks"] = len(result.plan.transfers)
elapsed = time.perf_counter() - started
with open("/proc/self/status") as status:
    peak_kb = int(next(line.split()[1] for line in status if line.startswith("VmHWM:")))
print(json.dumps({**planned, "seconds": elapsed, "peak_kb": peak_kb}))
"""


@dataclass(frozen=True)
class Measured:
    protocol: str
    mode: str
    tasks: int
    seconds: float
    peak_mb: float

    def line(self) -> str:
        return (f"{self.protocol:6} {self.mode:4} {self.tasks:7d} files planned in {self.seconds:6.1f} s, "
                f"peak RSS {self.peak_mb:6.1f} MB")


def make_tree(top: Path, files: int, per_folder: int = 1000) -> int:
    """``files`` empty files under ``top``, ``per_folder`` a folder, in ``aNN/bNN`` folders; returns folders made."""
    folders = -(-files // per_folder)
    made = 0
    for number in range(folders):
        folder = top / f"a{number // 10:03d}" / f"b{number % 10:02d}"
        folder.mkdir(parents=True, exist_ok=True)
        made += 1
        for index in range(min(per_folder, files - number * per_folder)):
            # Names of a realistic length: the plan holds every one of them.
            os.close(os.open(folder / f"invoice-{number:04d}-{index:05d}.edi", os.O_CREAT | os.O_WRONLY, 0o644))
    return made


@contextmanager
def served_tree(
    protocol: str, work: Path, files: int, per_folder: int, pki: TestPKI | None = None
) -> Iterator[tuple[Path, str]]:
    """Serve a tree of ``files`` over ``protocol``: yields (profile file, remote folder of the tree).

    The server's storage is ``work/server``; the tree is ``/tree`` in it (made unless there).
    """
    import tomli_w

    from xfer.testing import create_pki, serve

    root = work / "server"
    tree = root / "tree"
    if not tree.exists():
        make_tree(tree, files, per_folder)
    with serve(protocol, pki or create_pki(work / "pki"), root=root) as endpoint:
        profile = work / f"{protocol}.toml"
        # A server building one answer of 100,000 entries (wsgidav) takes longer than the 10 s
        # the test profiles allow.
        profile.write_text(tomli_w.dumps({**endpoint.profile.to_toml(), "timeout": 300}))
        yield profile, "/tree"


def measure(profile: Path, protocol: str, remote: str, local: Path, mode: str = "get",
            timeout: float = 900) -> Measured:
    """List and plan ``remote`` in a fresh interpreter; its plan size, time and peak RSS."""
    argument = json.dumps({"profile": str(profile), "remote": remote, "local": str(local), "mode": mode})
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).resolve().parent.parent),
                                                        os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([sys.executable, "-c", CHILD, argument], capture_output=True, text=True, env=env,
                          timeout=timeout, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{protocol} {mode}: the child failed:\n{done.stderr[-3000:]}")
    facts = json.loads(done.stdout.strip().splitlines()[-1])
    return Measured(protocol, mode, facts["tasks"], facts["seconds"], facts["peak_kb"] / 1024)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--files", type=int, default=100_000)
    p.add_argument("--per-folder", type=int, default=1000)
    p.add_argument("--protocol", choices=PROTOCOLS, action="append")
    p.add_argument("--mode", choices=("get", "sync"), action="append")
    args = p.parse_args()
    with tempfile.TemporaryDirectory(prefix="xfer-large-tree-") as temp:
        work = Path(temp)
        started = time.perf_counter()
        (work / "server" / "tree").mkdir(parents=True)
        make_tree(work / "server" / "tree", args.files, args.per_folder)
        print(f"tree of {args.files} files made in {time.perf_counter() - started:.1f} s", flush=True)
        for protocol in args.protocol or PROTOCOLS:
            with served_tree(protocol, work, args.files, args.per_folder) as (profile, remote):
                for mode in args.mode or ("get", "sync"):
                    local = work / f"local-{protocol}-{mode}"
                    print(measure(profile, protocol, remote, local, mode).line(), flush=True)


if __name__ == "__main__":
    main()
