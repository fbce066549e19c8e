"""WebDAV put and get on Apache mod_dav (client certificate required): xfer beside curl and rclone.

    python bench/bench_webdav.py [--size-mib 1024] [--repeat 1] [--tls 1.3] [--bed-dir DIR]
    python -m bench.bench_webdav ...

curl and rclone get the identity as PEM.  rclone talks to a ``:webdav:`` remote with
``--client-cert/--client-key`` (Debian's rclone 1.60 has them) and has no TLS-maximum flag:
it negotiates 1.3 with Apache.  See bench/_harness.py for how it measures.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

if not __package__:  # run as a file: make the repository importable
    sys.path[0] = str(Path(__file__).resolve().parent.parent)

from bench import _harness as h


def run(args: argparse.Namespace) -> h.Measured:
    """Measure curl, rclone and xfer on the bed's Apache mod_dav."""
    with h.bed_server("apache", args) as bench:
        ident, port = bench.identity, bench.server.port
        https = f"https://127.0.0.1:{port}"
        bench.env |= {"RCLONE_CONFIG": str(bench.work / "rclone.conf"), "RCLONE_WEBDAV_URL": https + "/"}
        pem = ["--cert", str(ident.cert), "--key", str(ident.key), "--cacert", str(ident.ca)]
        curl = ["curl", "-sS", "-f", *pem, "--tls-max", args.tls]
        rclone = ["rclone", "--client-cert", str(ident.cert), "--client-key", str(ident.key), "--ca-cert",
                  str(ident.ca), "--retries", "1", "--low-level-retries", "1", "--transfers", "1",
                  "--ignore-times"]
        anchor = h.Client("curl", lambda local, remote: [*curl, "-T", str(local), https + remote],
                          lambda remote, local: [*curl, "-o", str(local), https + remote])
        synced = h.durable(anchor)  # xfer fsyncs a download before its rename; the anchor does not
        clients = [
            anchor, synced,
            h.Client("rclone", lambda local, remote: [*rclone, "copyto", str(local), ":webdav:" + remote],
                     lambda remote, local: [*rclone, "copyto", ":webdav:" + remote, str(local)]),
            *h.xfer_clients(bench, adapter="xfer.adapters.webdav:WebDAVAdapter", url=f"davs://127.0.0.1:{port}"),
        ]
        title = (f"WebDAV on {bench.server.version} mod_dav, TLS {args.tls} (rclone: negotiated), "
                 "client certificate")
        return h.Measured("WebDAV Apache", title, h.measure(bench, clients), ("curl", "rclone"), (synced.name,))


def main() -> None:
    run(h.parser(__doc__).parse_args()).print()


if __name__ == "__main__":
    main()
