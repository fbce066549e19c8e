"""FTPS put and get on vsftpd (client certificate and session reuse required): xfer beside lftp.

    python bench/bench_ftps.py [--implicit] [--size-mib 1024] [--repeat 1] [--tls 1.2] [--bed-dir DIR]
    python -m bench.bench_ftps ...

lftp gets the identity as PEM.  TLS 1.2 by default: the bed pins lftp to TLS 1.2 on vsftpd
(GnuTLS uploads over TLS 1.3 to vsftpd 3.0.3 arrive truncated now and then), and both clients
must use the same.  See bench/_harness.py for how it measures.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

if not __package__:  # run as a file: make the repository importable
    sys.path[0] = str(Path(__file__).resolve().parent.parent)

from bench import _harness as h


def run(args: argparse.Namespace, *, implicit: bool = False) -> h.Measured:
    """Measure lftp and xfer on the bed's vsftpd, explicit (``ftpes://``) or implicit (``ftps://``) FTPS."""
    mode = "implicit" if implicit else "explicit"
    with h.bed_server(f"vsftpd-{mode}", args) as bench:
        srv = bench.server
        scheme, adapter = ("ftps", "ImplicitFTPSAdapter") if implicit else ("ftpes", "ExplicitFTPSAdapter")
        bench.env["XFER_BENCH_FTP_PW"] = srv.password or ""

        def lftp(command: str) -> list[str]:
            return h.lftp(bench, command, implicit=implicit)

        anchor = h.Client("lftp", lambda local, remote: lftp(f"put {local} -o {remote}"),
                          lambda remote, local: lftp(f"get {remote} -o {local}"))
        synced = h.durable(anchor)  # xfer fsyncs a download before its rename; the anchor does not
        clients = [
            anchor, synced,
            *h.xfer_clients(bench, adapter=f"xfer.adapters.ftps:{adapter}",
                            url=f"{scheme}://{srv.host}:{srv.port}",
                            cli_flags=["--username", srv.username or "", "--password", "env:XFER_BENCH_FTP_PW"]),
        ]
        results = h.measure(bench, clients)
        put, get = (json.loads(results.samples[("xfer-lib", d)][-1].out) for d in h.DIRECTIONS)
        # Every data connection must have resumed the control session (vsftpd refuses others):
        # a bench that silently measured full handshakes would compare the wrong thing.
        resumed = (f"data connections resumed: put {put['data_sessions_resumed']}/{put['data_connections']}, "
                   f"get {get['data_sessions_resumed']}/{get['data_connections']}")
        title = (f"FTPS on {srv.package or 'vsftpd'}, TLS {args.tls}, {mode}, client certificate, session "
                 f"reuse ({resumed})")
        return h.Measured(f"FTPS {mode} vsftpd", title, results, ("lftp",), (synced.name,))


def main() -> None:
    p = h.parser(__doc__, tls="1.2")
    p.add_argument("--implicit", action="store_true", help="implicit FTPS (ftps://) instead of explicit")
    args = p.parse_args()
    run(args, implicit=args.implicit).print()


if __name__ == "__main__":
    main()
