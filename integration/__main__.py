"""``python -m integration up|down|status [--dir RUNDIR] [--only NAME,...]``.

up      start every server, wait until ready, print URLs and the status table, write profiles
down    stop the servers recorded in RUNDIR/bed.json
status  probe the running servers again and print the table (TLS versions, mTLS, start time)
compose-profiles  regenerate the repository's example profiles/ for docker-compose.yml
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from integration.bed import SERVER_NAMES, Bed, BedError

DEFAULT_DIR = Path(os.environ.get("XFER_BED_DIR", "/tmp/xfer-bed"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m integration", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("command", choices=["up", "down", "status", "compose-profiles"])
    parser.add_argument("--dir", type=Path, default=DEFAULT_DIR, help=f"run folder (default {DEFAULT_DIR})")
    parser.add_argument("--only", help=f"comma-separated subset of: {', '.join(SERVER_NAMES)}")
    args = parser.parse_args(argv)

    if args.command == "compose-profiles":
        from integration.compose import write_example_profiles

        for path in write_example_profiles():
            print(path)
        return 0
    if args.command == "up":
        if (args.dir / "bed.json").exists() and any(Bed.load(args.dir).alive().values()):
            print(f"a bed is already running in {args.dir}; `python -m integration down` first", file=sys.stderr)
            return 1
        try:
            bed = Bed.start(
                args.dir, names=args.only.split(",") if args.only else None, require_all=bool(os.environ.get("CI"))
            )
        except BedError as exc:
            print(f"integration: {exc}", file=sys.stderr)
            return 1
        bed.survey()
        for info in bed.servers.values():
            print(f"{info.name:16} {info.url}")
        print()
        print(bed.table())
        print(f"\nprofiles: XFER_PROFILE_PATH={bed.profiles_dir} xfer ls nginx-https:/")
        print(f"stop with: python -m integration down --dir {args.dir}")
        return 0
    if not (args.dir / "bed.json").exists():
        print(f"no bed in {args.dir}", file=sys.stderr)
        return 1
    bed = Bed.load(args.dir)
    if args.command == "down":
        bed.stop()
        print(f"stopped {', '.join(bed.servers)}")
        return 0
    alive = bed.alive()
    bed.survey()
    print(bed.table())
    dead = [name for name, ok in alive.items() if not ok]
    if dead:
        print(f"not running: {', '.join(dead)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
