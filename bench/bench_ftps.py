"""FTPS put and get on vsftpd (explicit, client certificate and session reuse required): xfer beside lftp.

    python bench/bench_ftps.py [--size-mib 1024] [--repeat 1] [--tls 1.2] [--bed-dir DIR]
    python -m bench.bench_ftps ...

lftp gets the identity as PEM.  TLS 1.2 by default: the bed pins lftp to TLS 1.2 on vsftpd
(GnuTLS uploads over TLS 1.3 to vsftpd 3.0.3 arrive truncated now and then), and both clients
must use the same.  See bench/_harness.py for how it measures.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

if not __package__:  # run as a file: make the repository importable
    sys.path[0] = str(Path(__file__).resolve().parent.parent)

from bench import _harness as h


def main() -> None:
    args = h.parser(__doc__, tls="1.2").parse_args()
    with h.bed_server("vsftpd-explicit", args) as bench:
        ident, srv = bench.identity, bench.server
        bench.env["XFER_BENCH_FTP_PW"] = srv.password or ""
        settings = [
            f"set ssl:ca-file {ident.ca}", "set ssl:verify-certificate yes",
            f"set ssl:cert-file {ident.cert}", f"set ssl:key-file {ident.key}",
            "set ftp:ssl-force yes", "set ftp:ssl-protect-data yes", "set ftp:passive-mode yes",
            "set net:max-retries 1",
            *(['set ssl:priority "NORMAL:-VERS-TLS1.3"'] if args.tls == "1.2" else []),
            f"open -u {srv.username},{srv.password} ftp://{srv.host}:{srv.port}",
        ]

        def lftp(command: str) -> list[str]:
            return ["lftp", "-c", "; ".join([*settings, command])]

        clients = [
            h.Client("lftp", lambda local, remote: lftp(f"put {local} -o {remote}"),
                     lambda remote, local: lftp(f"get {remote} -o {local}")),
            *h.xfer_clients(bench, adapter="xfer.adapters.ftps:ExplicitFTPSAdapter",
                            url=f"ftpes://{srv.host}:{srv.port}",
                            cli_flags=["--username", srv.username or "", "--password", "env:XFER_BENCH_FTP_PW"]),
        ]
        results = h.measure(bench, clients)
        h.print_table(f"FTPS on {srv.package or 'vsftpd'}, TLS {args.tls}, explicit, client certificate, "
                      "session reuse", results, references=["lftp"])
        put, get = (json.loads(results.samples[("xfer-lib", d)][-1].out) for d in h.DIRECTIONS)
        print(
            f"xfer-lib data connections resumed: put {put['data_sessions_resumed']}/{put['data_connections']}, "
            f"get {get['data_sessions_resumed']}/{get['data_connections']} ({put['tls_version']})"
        )


if __name__ == "__main__":
    main()
