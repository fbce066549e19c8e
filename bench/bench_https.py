"""HTTPS put and get on nginx (client certificate required): xfer (library and CLI) beside curl.

    python bench/bench_https.py [--size-mib 1024] [--repeat 1] [--tls 1.3] [--bed-dir DIR]
    python -m bench.bench_https ...

curl gets the same PKCS#12 identity and TLS maximum.  See bench/_harness.py for how it measures.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

if not __package__:  # run as a file: make the repository importable
    sys.path[0] = str(Path(__file__).resolve().parent.parent)

from bench import _harness as h


def run(args: argparse.Namespace) -> h.Measured:
    """Measure curl and xfer on the bed's nginx."""
    with h.bed_server("nginx", args) as bench:
        ident, url = bench.identity, f"https://127.0.0.1:{bench.server.port}"
        curl = ["curl", "-sS", "-f", "--cert-type", "P12", "--cert", f"{ident.p12}:{ident.password}",
                "--cacert", str(ident.ca), "--tls-max", args.tls]
        anchor = h.Client("curl", lambda local, remote: [*curl, "-T", str(local), url + remote],
                          lambda remote, local: [*curl, "-o", str(local), url + remote])
        synced = h.durable(anchor)  # xfer fsyncs a download before its rename; the anchor does not
        clients = [anchor, synced,
                   *h.xfer_clients(bench, adapter="xfer.adapters.https:HTTPSAdapter", url=url)]
        title = f"HTTPS on {bench.server.version}, TLS {args.tls}, client certificate"
        return h.Measured("HTTPS nginx", title, h.measure(bench, clients), ("curl",), (synced.name,))


def main() -> None:
    run(h.parser(__doc__).parse_args()).print()


if __name__ == "__main__":
    main()
