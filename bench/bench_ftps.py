"""1 GiB FTPS put and get on vsftpd: xfer side by side with lftp, same identity, one run.

    python -m bench.bench_ftps [--size-mib 1024] [--tls 1.2]

Starts vsftpd (explicit FTPS, client certificate required, session reuse required) from
the integration bed, then times each client in a child process: wall seconds and the
child's own CPU seconds (user + system, from ``os.wait4``).  lftp gets the same identity
as PEM.  TLS 1.2 by default: the bed pins lftp to TLS 1.2 on vsftpd (GnuTLS uploads over
TLS 1.3 to vsftpd 3.0.3 arrive truncated now and then), and both clients must use the same.
Wall MB/s varies ±50 % on a shared machine; the ratios from one run are what to compare.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from integration.bed import Bed, ServerInfo
from xfer.testing.contract import make_file, sha256_of

XFER_CHILD = r"""
import json, sys
from xfer.identity import Identity
from xfer.tls import create_ssl_context
from xfer.adapters.base import ConnectionSettings
from xfer.adapters.ftps import ExplicitFTPSAdapter
a = json.loads(sys.argv[1])
ctx = create_ssl_context(Identity.load(a["p12"], a["password"]), ca=a["ca"], maximum_version=a["tls"])
s = ConnectionSettings(scheme="ftpes", host=a["host"], port=a["port"], root="/", ssl_context=ctx,
                       username=a["user"], password=a["ftp_password"], timeout=120)
with ExplicitFTPSAdapter(s) as remote:
    if a["op"] == "put":
        r = remote.put_file(a["local"], a["remote"])
    else:
        r = remote.get_file(a["remote"], a["local"])
print(json.dumps(r.details))
"""


def _timed(argv: list[str]) -> tuple[float, float, str]:
    """Run a child; return wall seconds, its CPU seconds (user+sys), and its stdout."""
    started = time.monotonic()
    child = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert child.stdout is not None and child.stderr is not None
    out, err = child.stdout.read(), child.stderr.read()
    _pid, status, usage = os.wait4(child.pid, 0)
    wall = time.monotonic() - started
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{argv[0]} failed: {err.decode()[-2000:]}")
    return wall, usage.ru_utime + usage.ru_stime, out.decode()


def _xfer(bed: Bed, srv: ServerInfo, op: str, local: Path, remote: str, tls: str) -> tuple[float, float, str]:
    pki = bed.pki
    args = {
        "p12": str(pki.client_p12), "password": pki.password, "ca": str(pki.root_ca), "tls": tls,
        "host": srv.host, "port": srv.port, "user": srv.username, "ftp_password": srv.password,
        "op": op, "local": str(local), "remote": remote,
    }  # fmt: skip
    return _timed([sys.executable, "-c", XFER_CHILD, json.dumps(args)])


def _lftp(bed: Bed, srv: ServerInfo, script: str, tls: str) -> tuple[float, float, str]:
    pki = bed.pki
    settings = [
        f"set ssl:ca-file {pki.root_ca}",
        "set ssl:verify-certificate yes",
        f"set ssl:cert-file {pki.client_cert}",
        f"set ssl:key-file {pki.client_key}",
        "set ftp:ssl-force yes",
        "set ftp:ssl-protect-data yes",
        "set ftp:passive-mode yes",
        "set net:max-retries 1",
    ]
    if tls == "1.2":
        settings.append('set ssl:priority "NORMAL:-VERS-TLS1.3"')
    commands = [*settings, f"open -u {srv.username},{srv.password} ftp://{srv.host}:{srv.port}", script]
    return _timed(["lftp", "-c", "; ".join(commands)])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--tls", default="1.2", choices=["1.2", "1.3"])
    args = parser.parse_args()
    size = args.size_mib << 20
    with tempfile.TemporaryDirectory(prefix="xfer-bench-") as folder:
        work = Path(folder)
        # vsftpd chroots the FTP user into the bed's storage folder: every folder above it
        # must be traversable by that user (mkdtemp makes 0700 folders).
        work.chmod(0o755)
        bed = Bed.start(work / "bed", names=["vsftpd-explicit"])
        try:
            srv = bed.servers["vsftpd-explicit"]
            source = work / "source.bin"
            digest = make_file(source, size)
            rows: dict[str, dict[str, float]] = {}
            wall, cpu, out = _xfer(bed, srv, "put", source, "/bench-xfer.bin", args.tls)
            put_details = json.loads(out)
            rows["xfer put"] = {"wall": wall, "cpu": cpu}
            wall, cpu, out = _xfer(bed, srv, "get", work / "xfer-back.bin", "/bench-xfer.bin", args.tls)
            get_details = json.loads(out)
            rows["xfer get"] = {"wall": wall, "cpu": cpu}
            assert sha256_of(work / "xfer-back.bin") == digest
            (work / "xfer-back.bin").unlink()
            wall, cpu, _ = _lftp(bed, srv, f"put {source} -o bench-lftp.bin", args.tls)
            rows["lftp put"] = {"wall": wall, "cpu": cpu}
            wall, cpu, _ = _lftp(bed, srv, f"get bench-lftp.bin -o {work / 'lftp-back.bin'}", args.tls)
            rows["lftp get"] = {"wall": wall, "cpu": cpu}
            assert sha256_of(work / "lftp-back.bin") == digest
        finally:
            bed.stop()
    mib = size / (1 << 20)
    print(f"FTPS {mib:.0f} MiB on {srv.package or 'vsftpd'}, TLS {args.tls}, explicit, client cert, session reuse")
    print(f"{'':10} {'wall s':>8} {'MB/s':>8} {'CPU s':>7}")
    for name, row in rows.items():
        print(f"{name:10} {row['wall']:8.2f} {size / 1e6 / row['wall']:8.0f} {row['cpu']:7.2f}")
    for op in ("put", "get"):
        x, lf = rows[f"xfer {op}"], rows[f"lftp {op}"]
        print(f"{op}: throughput xfer/lftp = {lf['wall'] / x['wall']:.2f}x, "
              f"CPU xfer/lftp = {x['cpu'] / lf['cpu']:.2f}x")
    print(f"xfer data connections resumed: put {put_details['data_sessions_resumed']}/"
          f"{put_details['data_connections']}, get {get_details['data_sessions_resumed']}/"
          f"{get_details['data_connections']} ({put_details['tls_version']})")


if __name__ == "__main__":
    main()
