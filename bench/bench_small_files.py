"""Many small files, whole command: ``xfer put -r -P 4`` of 1,000 × 4 KiB beside each protocol's anchor.

    python bench/bench_small_files.py [--protocol https|webdav|ftps] [--files 1000] [--file-kib 4] [--repeat 1]
    python -m bench.bench_small_files ...

Anchors: HTTPS curl uploading every file on one keep-alive connection (``-T "{a,b,...}"``),
FTPS ``lftp mirror -R --parallel=4``, WebDAV ``rclone copy --transfers 4``.  Each upload goes
to a fresh remote folder; the server's copy is compared with the source afterwards.
What it shows is the per-file cost (round trips, connection reuse), not bandwidth.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
from collections.abc import Callable
from pathlib import Path

if not __package__:  # run as a file: make the repository importable
    sys.path[0] = str(Path(__file__).resolve().parent.parent)

from bench import _harness as h
from xfer.testing.contract import make_file

#: bed server of each protocol, and the protocol's URL scheme for xfer.
SERVERS = {"https": ("nginx", "https"), "webdav": ("apache", "davs"), "ftps": ("vsftpd-explicit", "ftpes")}

#: argv of one upload of folder ``local`` to remote folder ``remote`` (absolute, no trailing /).
Upload = Callable[[Path, str], list[str]]


def _anchor(protocol: str, bench: h.Bench, files: list[Path]) -> tuple[str, Upload]:
    ident, srv, tls = bench.identity, bench.server, bench.args.tls
    if protocol == "https":
        url = f"https://{srv.host}:{srv.port}"
        curl = ["curl", "-sS", "-f", "--cert-type", "P12", "--cert", f"{ident.p12}:{ident.password}",
                "--cacert", str(ident.ca), "--tls-max", tls]
        names = ",".join(f.name for f in files)
        # nginx's dav module creates the folder of the first PUT with create_full_put_path.
        return "curl", lambda local, remote: [*curl, "-T", f"{local}/{{{names}}}", f"{url}{remote}/"]
    if protocol == "webdav":
        bench.env |= {"RCLONE_CONFIG": str(bench.work / "rclone.conf"),
                      "RCLONE_WEBDAV_URL": f"https://{srv.host}:{srv.port}/"}
        rclone = ["rclone", "--client-cert", str(ident.cert), "--client-key", str(ident.key), "--ca-cert",
                  str(ident.ca), "--retries", "1", "--low-level-retries", "1", "--transfers", "4"]
        return "rclone", lambda local, remote: [*rclone, "copy", str(local), f":webdav:{remote}"]
    return "lftp", lambda local, remote: h.lftp(bench, f"mirror -R --parallel=4 {local} {remote}")


def _xfer(protocol: str, bench: h.Bench) -> Upload:
    srv, ident = bench.server, bench.identity
    scheme = SERVERS[protocol][1]
    flags = ["--identity", str(ident.p12), "--identity-password", "env:XFER_BENCH_PW", "--ca", str(ident.ca),
             "--tls-max", bench.args.tls, "--quiet"]
    if protocol == "ftps":
        bench.env["XFER_BENCH_FTP_PW"] = srv.password or ""
        flags += ["--username", srv.username or "", "--password", "env:XFER_BENCH_FTP_PW"]
    url = f"{scheme}://{srv.host}:{srv.port}"
    # `put -r FOLDER URL/` creates FOLDER's name under the target: the caller names the local
    # folder like the remote one.
    return lambda local, remote: [sys.executable, "-m", "xfer", "put", "-r", "-P", "4", str(local), f"{url}/", *flags]


def run(args: argparse.Namespace, protocol: str) -> dict[str, list[h.Sample]]:
    """Upload the same folder with the anchor and with xfer, ``--repeat`` interleaved rounds each."""
    server, _scheme = SERVERS[protocol]
    if protocol == "ftps":  # lftp is pinned to TLS 1.2 on vsftpd (see bench_ftps.py)
        args = argparse.Namespace(**{**vars(args), "tls": "1.2"})
    with h.bed_server(server, args) as bench:
        local = bench.work / "small"
        local.mkdir()
        files = [local / f"f{n:05d}.bin" for n in range(args.files)]
        for number, path in enumerate(files):
            make_file(path, args.file_kib << 10, seed=number)
        name, anchor = _anchor(protocol, bench, files)
        clients = {name: anchor, "xfer-cli": _xfer(protocol, bench)}
        samples: dict[str, list[h.Sample]] = {n: [] for n in clients}
        for round_number in range(args.repeat):
            order = list(clients) if round_number % 2 == 0 else list(reversed(clients))
            for client in order:
                folder = f"/bench-small-{client}-{round_number}"
                staged = local.rename(bench.work / folder.lstrip("/"))
                try:
                    samples[client].append(h.timed(clients[client](staged, folder), bench.env))
                finally:
                    staged.rename(local)
                landed = bench.server.root / folder.lstrip("/")
                got = sorted(p.name for p in landed.iterdir()) if landed.is_dir() else []
                if got != [f.name for f in files]:
                    raise SystemExit(f"{client}: {len(got)} of {len(files)} files arrived in {folder}")
                shutil.rmtree(landed)
        return samples


def row(protocol: str, samples: dict[str, list[h.Sample]], files: int) -> str:
    """One line: the anchor's and xfer's median wall and CPU time, and the ratio (> 1: xfer faster)."""
    anchor = next(n for n in samples if n != "xfer-cli")
    wall = {n: statistics.median(s.wall for s in v) for n, v in samples.items()}
    cpu = {n: statistics.median(s.cpu for s in v) for n, v in samples.items()}
    return (f"{protocol:7} {files} files: {anchor} {wall[anchor]:.2f} s ({cpu[anchor]:.2f} s CPU), "
            f"xfer {wall['xfer-cli']:.2f} s ({cpu['xfer-cli']:.2f} s CPU) = {wall[anchor] / wall['xfer-cli']:.2f}×")


def print_rows(protocol: str, samples: dict[str, list[h.Sample]], files: int) -> None:
    print(row(protocol, samples, files))


def parser() -> argparse.ArgumentParser:
    p = h.parser(__doc__)
    p.add_argument("--files", type=int, default=1000)
    p.add_argument("--file-kib", type=int, default=4)
    p.add_argument("--protocol", choices=sorted(SERVERS), action="append")
    return p


def main() -> None:
    args = parser().parse_args()
    print("\nsmall files, whole command, ratio = anchor time / xfer time (> 1: xfer faster)\n")
    for protocol in args.protocol or sorted(SERVERS):
        print_rows(protocol, run(args, protocol), args.files)


if __name__ == "__main__":
    main()
