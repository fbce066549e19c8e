"""1 GiB WebDAV put and get against real Apache mod_dav: xfer (library and CLI) beside curl and rclone.

    python bench/bench_webdav.py [--size-mib 1024] [--repeat 3] [--tls 1.3] [--bed-dir /tmp/xfer-bed]

Uses the Apache of a running bed (``python -m integration up``, give ``--bed-dir``) or starts
its own.  Each client runs as a child process; its CPU time is read from ``os.wait4`` (the
RUSAGE_CHILDREN figure for exactly that child).  rclone talks to a ``:webdav:`` remote with
``--client-cert/--client-key`` (Debian's rclone 1.60 has them).  Wall MB/s on a shared
machine swings a lot; CPU seconds and the ratios measured in the same run are the numbers
to compare.  Not part of the test run.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from integration.bed import Bed  # noqa: E402
from xfer.testing.contract import make_file  # noqa: E402

LIBRARY_CHILD = textwrap.dedent(
    """
    import sys
    from xfer.adapters.base import ConnectionSettings
    from xfer.adapters.webdav import WebDAVAdapter
    from xfer.identity import Identity
    from xfer.tls import create_ssl_context

    direction, port, p12, password, ca, tls, local, remote = sys.argv[1:9]
    context = create_ssl_context(Identity.load(p12, password), ca=ca, maximum_version=tls)
    settings = ConnectionSettings(scheme="davs", host="127.0.0.1", port=int(port), root="/",
                                  ssl_context=context, timeout=120)
    with WebDAVAdapter(settings) as adapter:
        if direction == "put":
            adapter.put_file(local, remote)
        else:
            adapter.get_file(remote, local)
    """
)


def run(argv: list[str], env: dict[str, str] | None = None) -> tuple[float, float]:
    """Run one child; return (wall seconds, CPU seconds user+sys of that child)."""
    started = time.perf_counter()
    process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"failed: {' '.join(argv)}\n{process.stderr.read().decode() if process.stderr else ''}")
    return wall, usage.ru_utime + usage.ru_stime


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--tls", choices=("1.2", "1.3"), default="1.3")
    parser.add_argument("--bed-dir", type=Path, help="use the Apache of a bed started with `python -m integration up`")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="xfer-bench-dav-"))
    own_bed = args.bed_dir is None
    bed = Bed.start(work / "bed", names=["apache"]) if own_bed else Bed.load(args.bed_dir)
    try:
        apache = bed.servers["apache"]
        pki_dir = bed.pki_folder
        password = (pki_dir / "password.txt").read_text().strip()
        p12, ca, cert, key = (pki_dir / n for n in ("client.p12", "ca.pem", "client.pem", "client.key"))
        size = args.size_mib << 20
        source = work / "source.bin"
        expected = make_file(source, size, seed=42)
        child = work / "child.py"
        child.write_text(LIBRARY_CHILD)
        base = f"https://127.0.0.1:{apache.port}"
        env = {**os.environ, "XFER_BENCH_PW": password, "XFER_CONFIG_DIR": str(work / "config"),
               "RCLONE_CONFIG": str(work / "rclone.conf"), "RCLONE_WEBDAV_URL": base + "/"}  # fmt: skip
        env.pop("HTTPS_PROXY", None)
        curl = ["curl", "-sS", "-f", "--cert", str(cert), "--key", str(key), "--cacert", str(ca),
                "--tls-max", args.tls]  # fmt: skip
        # rclone has no TLS-maximum flag; it negotiates 1.3 with Apache.
        rclone = ["rclone", "--client-cert", str(cert), "--client-key", str(key), "--ca-cert", str(ca),
                  "--retries", "1", "--low-level-retries", "1", "--transfers", "1", "--ignore-times"]  # fmt: skip
        cli_flags = ["--identity", str(p12), "--identity-password", "env:XFER_BENCH_PW",
                     "--ca", str(ca), "--tls-max", args.tls, "--quiet"]  # fmt: skip

        def lib(direction: str, local: Path, remote: str) -> list[str]:
            return [sys.executable, str(child), direction, str(apache.port), str(p12), password, str(ca),
                    args.tls, str(local), remote]  # fmt: skip

        back = work / "back.bin"
        davs = f"davs://127.0.0.1:{apache.port}"
        clients: dict[str, tuple[Callable[[], list[str]], Callable[[], list[str]]]] = {
            "curl": (
                lambda: [*curl, "-T", str(source), f"{base}/bench/curl.bin"],
                lambda: [*curl, "-o", str(back), f"{base}/bench/curl.bin"],
            ),
            "rclone": (
                lambda: [*rclone, "copyto", str(source), ":webdav:bench/rclone.bin"],
                lambda: [*rclone, "copyto", ":webdav:bench/rclone.bin", str(back)],
            ),
            "xfer-lib": (
                lambda: lib("put", source, "/bench/lib.bin"),
                lambda: lib("get", back, "/bench/lib.bin"),
            ),
            "xfer-cli": (
                lambda: [sys.executable, "-m", "xfer", "put", str(source), f"{davs}/bench/cli.bin", *cli_flags],
                lambda: [sys.executable, "-m", "xfer", "get", f"{davs}/bench/cli.bin", str(back), *cli_flags],
            ),
        }
        run([*curl, "-X", "MKCOL", f"{base}/bench/"], env)
        empty = work / "empty.bin"
        empty.write_bytes(b"")
        # Start-up cost (interpreter, imports, identity, handshake) measured with an empty file.
        startup = {
            "curl": statistics.median(run([*curl, "-T", str(empty), f"{base}/bench/e"], env)[1] for _ in range(3)),
            "rclone": statistics.median(
                run([*rclone, "copyto", str(empty), ":webdav:bench/e"], env)[1] for _ in range(3)
            ),
            "xfer-lib": statistics.median(run(lib("put", empty, "/bench/e"), env)[1] for _ in range(3)),
            "xfer-cli": statistics.median(
                run([sys.executable, "-m", "xfer", "put", str(empty), f"{davs}/bench/e", *cli_flags], env)[1]
                for _ in range(3)
            ),
        }
        results: dict[tuple[str, str], list[tuple[float, float]]] = {}
        for _ in range(args.repeat):
            # Interleaved so that machine noise hits every client alike.
            for name, (put, get) in clients.items():
                results.setdefault((name, "put"), []).append(run(put(), env))
                results.setdefault((name, "get"), []).append(run(get(), env))
                if sha256(back) != expected:
                    raise SystemExit(f"{name}: downloaded file differs")
                back.unlink()
        gib = size / (1 << 30)
        print(f"\n{apache.version} mod_dav, TLS {args.tls} (rclone: negotiated), {args.size_mib} MiB, "
              f"median of {args.repeat}, client CPU = user+sys of the child process\n")  # fmt: skip
        print(f"{'client':10} {'dir':4} {'wall s':>7} {'MB/s':>7} {'CPU s':>7} {'CPU s/GiB':>10} "
              f"{'net s/GiB':>10} {'CPU/curl':>9} {'CPU/rclone':>11} {'wall/curl':>10}")  # fmt: skip
        for direction in ("put", "get"):
            curl_cpu = statistics.median(c for _, c in results[("curl", direction)])
            curl_wall = statistics.median(w for w, _ in results[("curl", direction)])
            rclone_cpu = statistics.median(c for _, c in results[("rclone", direction)])
            for name in clients:
                wall = statistics.median(w for w, _ in results[(name, direction)])
                cpu = statistics.median(c for _, c in results[(name, direction)])
                net = (cpu - startup[name]) / gib
                ratios = f"{cpu / curl_cpu:9.2f} {cpu / rclone_cpu:11.2f} {wall / curl_wall:10.2f}"
                print(f"{name:10} {direction:4} {wall:7.2f} {size / wall / 1e6:7.0f} {cpu:7.2f} {cpu / gib:10.2f} "
                      f"{net:10.2f} {ratios}")  # fmt: skip
        print("\nstart-up CPU s (empty file): " + ", ".join(f"{k} {v:.2f}" for k, v in startup.items()))
    finally:
        if own_bed:
            bed.stop()
        else:
            shutil.rmtree(apache.root / "bench", ignore_errors=True)
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
