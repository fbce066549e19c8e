"""1 GiB HTTPS put and get against real nginx: xfer (library and CLI) side by side with curl.

    python bench/bench_https.py [--size-mib 1024] [--repeat 3] [--tls 1.3]

Starts its own nginx from the integration bed (mandatory client certificates), then runs
each client as a child process and reads that child's CPU time from ``os.wait4`` (the
RUSAGE_CHILDREN figure for exactly that child).  Wall MB/s on a shared machine swings a lot;
CPU seconds per GiB and the ratios measured in the same run are the numbers to compare.
Not part of the test run.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from integration.bed import Bed  # noqa: E402
from xfer.testing.contract import make_file  # noqa: E402

LIBRARY_CHILD = textwrap.dedent(
    """
    import sys
    from xfer.adapters.base import ConnectionSettings
    from xfer.adapters.https import HTTPSAdapter
    from xfer.identity import Identity
    from xfer.tls import create_ssl_context

    direction, port, p12, password, ca, tls, local, remote = sys.argv[1:9]
    context = create_ssl_context(Identity.load(p12, password), ca=ca, maximum_version=tls)
    settings = ConnectionSettings(scheme="https", host="127.0.0.1", port=int(port), root="/",
                                  ssl_context=context, timeout=120)
    with HTTPSAdapter(settings) as adapter:
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
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="xfer-bench-"))
    bed = Bed.start(work / "bed", names=["nginx"])
    try:
        nginx = bed.servers["nginx"]
        pki = bed.pki
        size = args.size_mib << 20
        source = work / "source.bin"
        expected = make_file(source, size, seed=42)
        child = work / "child.py"
        child.write_text(LIBRARY_CHILD)
        env = {**os.environ, "XFER_BENCH_PW": pki.password, "XFER_CONFIG_DIR": str(work / "config")}
        env.pop("HTTPS_PROXY", None)
        base = f"https://127.0.0.1:{nginx.port}"
        tls_curl = {"1.2": "1.2", "1.3": "1.3"}[args.tls]
        curl = ["curl", "-sS", "-f", "--cert-type", "P12", "--cert", f"{pki.client_p12}:{pki.password}",
                "--cacert", str(pki.root_ca), "--tls-max", tls_curl]  # fmt: skip
        cli_flags = ["--identity", str(pki.client_p12), "--identity-password", "env:XFER_BENCH_PW",
                     "--ca", str(pki.root_ca), "--tls-max", args.tls, "--quiet"]  # fmt: skip

        def lib(direction: str, local: Path, remote: str) -> list[str]:
            return [sys.executable, str(child), direction, str(nginx.port), str(pki.client_p12), pki.password,
                    str(pki.root_ca), args.tls, str(local), remote]  # fmt: skip

        back = work / "back.bin"
        clients = {
            "curl": (
                lambda: [*curl, "-T", str(source), f"{base}/bench/curl.bin"],
                lambda: [*curl, "-o", str(back), f"{base}/bench/curl.bin"],
            ),
            "xfer-lib": (
                lambda: lib("put", source, "/bench/lib.bin"),
                lambda: lib("get", back, "/bench/lib.bin"),
            ),
            "xfer-cli": (
                lambda: [sys.executable, "-m", "xfer", "put", str(source), f"{base}/bench/cli.bin", *cli_flags],
                lambda: [sys.executable, "-m", "xfer", "get", f"{base}/bench/cli.bin", str(back), *cli_flags],
            ),
        }
        # Start-up cost (interpreter, imports, identity, handshake) measured with an empty file.
        empty = work / "empty.bin"
        empty.write_bytes(b"")
        startup = {
            "curl": statistics.median(run([*curl, "-T", str(empty), f"{base}/bench/e"], env)[1] for _ in range(3)),
            "xfer-lib": statistics.median(run(lib("put", empty, "/bench/e"), env)[1] for _ in range(3)),
            "xfer-cli": statistics.median(
                run([sys.executable, "-m", "xfer", "put", str(empty), f"{base}/bench/e", *cli_flags], env)[1]
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
        print(f"\nnginx {nginx.version}, TLS {args.tls}, {args.size_mib} MiB, median of {args.repeat}, "
              f"client CPU = user+sys of the child process\n")  # fmt: skip
        print(f"{'client':10} {'dir':4} {'wall s':>7} {'MB/s':>7} {'CPU s':>7} {'CPU s/GiB':>10} "
              f"{'net s/GiB':>10} {'vs curl':>8}")  # fmt: skip
        for direction in ("put", "get"):
            curl_cpu = statistics.median(c for _, c in results[("curl", direction)])
            for name in clients:
                walls = [w for w, _ in results[(name, direction)]]
                cpus = [c for _, c in results[(name, direction)]]
                wall, cpu = statistics.median(walls), statistics.median(cpus)
                net = (cpu - startup[name]) / gib
                print(f"{name:10} {direction:4} {wall:7.2f} {size / wall / 1e6:7.0f} {cpu:7.2f} {cpu / gib:10.2f} "
                      f"{net:10.2f} {cpu / curl_cpu:8.2f}")  # fmt: skip
        print("\nstart-up CPU s (empty file): " + ", ".join(f"{k} {v:.2f}" for k, v in startup.items()))
    finally:
        bed.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
