"""Many small files, whole command: ``xfer put -r -P 4`` and ``get -r -P 4`` of 1,000 × 4 KiB beside
each protocol's anchor, and ``xfer sync -P 4`` both ways (into a fresh folder: every file moves).

    python bench/bench_small_files.py [--protocol https|webdav|ftps|sftp] [--files 1000] [--file-kib 4]
    python -m bench.bench_small_files ...

Anchors: HTTPS curl moving every file on one keep-alive connection (``-T "{a,b,...}"`` up,
``"URL/{a,b,...}" -o "#1"`` down), FTPS ``lftp mirror [-R] --parallel=4``, WebDAV ``rclone copy
--transfers 4``, SFTP OpenSSH's ``sftp -b`` with ``put -r`` / ``get -r`` (one connection).  Each
upload goes to a fresh remote folder, each download to a fresh local one; every copy is compared
with the source afterwards.  What it shows is the per-file cost (round trips, connection reuse),
not bandwidth.

xfer fsyncs each downloaded file before it gives it its name; the anchors do not.  On a disk
(``/tmp`` here) that is a large part of a download of many small files, so each download row
also compares with the anchor followed by ``sync -f`` of the folder it filled (``ANCHOR+sync``:
the file system's ``syncfs``, which makes every file it wrote durable in one call).
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
from bench.bench_sftp import openssh_login
from xfer.testing.contract import make_file

#: bed server of each protocol, and the protocol's URL scheme for xfer.
SERVERS = {"https": ("nginx", "https"), "webdav": ("apache", "davs"), "ftps": ("vsftpd-explicit", "ftpes"),
           "sftp": ("sshd", "sftp")}

#: argv of one copy between local folder ``local`` and remote folder ``remote`` (absolute, no
#: trailing /): an upload of ``local`` to ``remote``, or a download of ``remote`` to ``local``.
Copy = Callable[[Path, str], list[str]]


def _anchor(protocol: str, bench: h.Bench, files: list[Path]) -> tuple[str, Copy, Copy]:
    """The anchor's name, its upload and its download."""
    ident, srv, tls = bench.identity, bench.server, bench.args.tls
    if protocol == "https":
        url = f"https://{srv.host}:{srv.port}"
        curl = ["curl", "-sS", "-f", "--cert-type", "P12", "--cert", f"{ident.p12}:{ident.password}",
                "--cacert", str(ident.ca), "--tls-max", tls]
        names = ",".join(f.name for f in files)
        # nginx's dav module creates the folder of the first PUT with create_full_put_path.
        return ("curl", lambda local, remote: [*curl, "-T", f"{local}/{{{names}}}", f"{url}{remote}/"],
                lambda local, remote: [*curl, "--create-dirs", "-o", f"{local}/#1", f"{url}{remote}/{{{names}}}"])
    if protocol == "webdav":
        bench.env |= {"RCLONE_CONFIG": str(bench.work / "rclone.conf"),
                      "RCLONE_WEBDAV_URL": f"https://{srv.host}:{srv.port}/"}
        rclone = ["rclone", "--client-cert", str(ident.cert), "--client-key", str(ident.key), "--ca-cert",
                  str(ident.ca), "--retries", "1", "--low-level-retries", "1", "--transfers", "4"]
        return ("rclone", lambda local, remote: [*rclone, "copy", str(local), f":webdav:{remote}"],
                lambda local, remote: [*rclone, "copy", f":webdav:{remote}", str(local)])
    if protocol == "sftp":
        login = openssh_login(bench)
        # One connection, one file after another: `put -r FOLDER BASE/` makes BASE/FOLDER's name.
        return ("openssh", lambda local, remote: login.openssh(f"put -r {local} {login.base}/"),
                lambda local, remote: login.openssh(f"get -r {login.base}{remote} {local}"))
    return ("lftp", lambda local, remote: h.lftp(bench, f"mirror -R --parallel=4 {local} {remote}"),
            lambda local, remote: h.lftp(bench, f"mirror --parallel=4 {remote} {local}"))


def _synced(download: Copy) -> Copy:
    """``download``, then ``sync -f`` of the folder it filled (see the module docstring)."""
    return lambda local, remote: h.then_sync(download(local, remote), local, file_system=True)


def _xfer(protocol: str, bench: h.Bench) -> tuple[Copy, Copy, Copy, Copy]:
    """xfer's upload and download (``put -r``, ``get -r``), and its ``sync`` up and down."""
    srv, ident = bench.server, bench.identity
    scheme = SERVERS[protocol][1]
    flags = ["--identity", str(ident.p12), "--identity-password", "env:XFER_BENCH_PW", "--ca", str(ident.ca),
             "--tls-max", bench.args.tls, "--quiet"]
    if protocol == "ftps":
        bench.env["XFER_BENCH_FTP_PW"] = srv.password or ""
        flags += ["--username", srv.username or "", "--password", "env:XFER_BENCH_FTP_PW"]
    url = f"{scheme}://{srv.host}:{srv.port}"
    if protocol == "sftp":  # the same key and host CA as OpenSSH's
        login = openssh_login(bench)
        url, flags = login.url + login.base, login.xfer_flags
    # `put -r FOLDER URL/` creates FOLDER's name under the target: the caller names the local
    # folder like the remote one.  `get -r URL/FOLDER LOCAL` makes LOCAL the folder (it does not exist yet).
    # `sync SOURCE DESTINATION` makes DESTINATION like SOURCE: the same layout.
    xfer = [sys.executable, "-m", "xfer"]
    return (lambda local, remote: [*xfer, "put", "-r", "-P", "4", str(local), f"{url}/", *flags],
            lambda local, remote: [*xfer, "get", "-r", "-P", "4", f"{url}{remote}", str(local), *flags],
            lambda local, remote: [*xfer, "sync", "-P", "4", str(local), f"{url}{remote}", *flags],
            lambda local, remote: [*xfer, "sync", "-P", "4", f"{url}{remote}", str(local), *flags])


#: Per direction ("put", "get"), per client, the timed runs.
Samples = dict[str, dict[str, list[h.Sample]]]


def run(args: argparse.Namespace, protocol: str) -> Samples:
    """Upload the same folder with the anchor and with xfer, then download it, ``--repeat``
    interleaved rounds each; every copy is compared with the source."""
    server, _scheme = SERVERS[protocol]
    if protocol == "ftps":  # lftp is pinned to TLS 1.2 on vsftpd (see bench_ftps.py)
        args = argparse.Namespace(**{**vars(args), "tls": "1.2"})
    with h.bed_server(server, args) as bench:
        # A few MiB of files, but each new one takes pages: none should come from reclaim.
        print(h.free_memory(needed=1 << 30), flush=True)
        local = bench.work / "small"
        local.mkdir()
        files = [local / f"f{n:05d}.bin" for n in range(args.files)]
        for number, path in enumerate(files):
            make_file(path, args.file_kib << 10, seed=number)
        name, anchor_up, anchor_down = _anchor(protocol, bench, files)
        xfer_up, xfer_down, sync_up, sync_down = _xfer(protocol, bench)
        ups = {name: anchor_up, "xfer-cli": xfer_up, "xfer-sync": sync_up}
        downs = {name: anchor_down, f"{name}+sync": _synced(anchor_down), "xfer-cli": xfer_down,
                 "xfer-sync": sync_down}
        samples: Samples = {"put": {n: [] for n in ups}, "get": {n: [] for n in downs}}
        source = {f.name: f.read_bytes() for f in files}
        served = "/bench-small-source"
        try:
            _rounds(args, bench, local, source, ups, downs, served, samples)
        finally:
            shutil.rmtree(bench.server.root / served.lstrip("/"), ignore_errors=True)
        return samples


def _rounds(args: argparse.Namespace, bench: h.Bench, local: Path, source: dict[str, bytes], ups: dict[str, Copy],
            downs: dict[str, Copy], served: str, samples: Samples) -> None:
    """``--repeat`` rounds, alternating which client goes first: each uploads ``local``, then (from
    the first round's last upload, moved to ``served``) each downloads it."""
    for round_number in range(args.repeat):
        order = list(ups) if round_number % 2 == 0 else list(reversed(ups))
        for client in order:
            folder = f"/bench-small-{client}-{round_number}"
            staged = local.rename(bench.work / folder.lstrip("/"))
            try:
                samples["put"][client].append(h.timed(ups[client](staged, folder), bench.env))
            finally:
                staged.rename(local)
            landed = bench.server.root / folder.lstrip("/")
            _check(client, landed, source)
            if round_number == 0 and client == order[-1]:
                landed.rename(bench.server.root / served.lstrip("/"))  # what the downloads fetch
            else:
                shutil.rmtree(landed)
        for client in (list(downs) if round_number % 2 == 0 else list(reversed(downs))):
            fetched = bench.work / f"fetched-{client}-{round_number}"
            samples["get"][client].append(h.timed(downs[client](fetched, served), bench.env))
            _check(client, fetched, source)
            shutil.rmtree(fetched)


def _check(client: str, folder: Path, source: dict[str, bytes]) -> None:
    """Every file of ``source`` in ``folder``, byte for byte, and nothing else."""
    got = {p.name: p.read_bytes() for p in folder.iterdir()} if folder.is_dir() else {}
    if got != source:
        arrived = sum(got.get(name) == data for name, data in source.items())
        raise SystemExit(f"{client}: {arrived} of {len(source)} files arrived whole in {folder} ({len(got)} there)")


#: How the rows name xfer's clients.
_SHOWN = {"xfer-cli": "xfer", "xfer-sync": "xfer sync"}


def row(protocol: str, direction: str, samples: dict[str, list[h.Sample]], files: int) -> str:
    """One line: the anchor's and each xfer command's median wall and CPU time, and the ratio of
    each (> 1: xfer faster); a download's line adds the ratios against the fsynced anchor."""
    anchor, *synced = [n for n in samples if n not in _SHOWN]
    wall = {n: statistics.median(s.wall for s in v) for n, v in samples.items()}
    cpu = {n: statistics.median(s.cpu for s in v) for n, v in samples.items()}
    ours = [f"{_SHOWN[n]} {wall[n]:.2f} s ({cpu[n]:.2f} s CPU) = {wall[anchor] / wall[n]:.2f}×"
            for n in samples if n in _SHOWN]
    line = f"{protocol:7} {direction} {files} files: {anchor} {wall[anchor]:.2f} s ({cpu[anchor]:.2f} s CPU), " + \
        ", ".join(ours)
    for durable in synced:
        line += f"; {durable} {wall[durable]:.2f} s: " + ", ".join(
            f"{_SHOWN[n]} {wall[durable] / wall[n]:.2f}×" for n in samples if n in _SHOWN)
    return line


def print_rows(protocol: str, samples: Samples, files: int) -> None:
    for direction, runs in samples.items():
        print(row(protocol, direction, runs, files))


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
