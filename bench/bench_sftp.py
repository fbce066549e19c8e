"""SFTP put and get on the bed's OpenSSH sshd (certificate login, chroot): xfer beside OpenSSH sftp and rclone.

    python bench/bench_sftp.py [--size-mib 1024] [--repeat 1] [--bed-dir DIR]
    python -m bench.bench_sftp ...

Every client logs in with the same user certificate and trusts the host through the same
@cert-authority known_hosts file.  OpenSSH's ``sftp -b`` cannot ask for a passphrase, so the
bench uses an unencrypted copy of the client key (and its certificate beside it) for all.
``--tls`` is ignored (SSH).  See bench/_harness.py for how it measures.

Measured (session 3, 256 MiB, 2 shared cores at load ~7-8, ratios = xfer-lib MB/s / OpenSSH's in
the same run): asyncssh's 4 MiB parallel read/write calls 0.55 put / 0.74 get; xfer's own
pipeline (xfer/adapters/sftp/pipeline.py: one request per 255 KiB block, 64 in flight, blocks
handled in order) 0.67-0.71 put / 0.85-0.91 get, net client CPU per GiB on get 5.6 -> 3.2 s.
Tried and dropped: hashing and disk I/O on a worker thread (more CPU under load: GIL hand-offs),
a larger channel window / max packet (sshd's packets stay small: no change).  What is left is
asyncssh's per-packet Python work (sshd takes 32 KiB channel packets; asyncssh sends an
SSH_MSG_IGNORE before each one) on AES-GCM, already the cheapest of OpenSSH's default ciphers.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

if not __package__:  # run as a file: make the repository importable
    sys.path[0] = str(Path(__file__).resolve().parent.parent)

from bench import _harness as h

# xfer as a library: connect() with the URL, the key and the pin (the harness's child is TLS's).
LIBRARY_CHILD = r"""
import json, sys
import xfer

url, key, pin, direction, local = sys.argv[1:]
with xfer.connect(url, identity=key, pin=pin, timeout=120) as remote:
    result = remote.put_file(local, "") if direction == "put" else remote.get_file("", local)
print(json.dumps(result.to_dict()))
"""


def run(args: argparse.Namespace) -> h.Measured:
    """Measure OpenSSH's sftp, rclone and xfer on the bed's sshd."""
    with h.bed_server("sshd", args) as bench:
        import asyncssh

        srv = bench.server
        extra = srv.extra
        key = bench.work / "bench_key"
        asyncssh.import_private_key(Path(extra["client_key"]).read_bytes(),
                                    Path(extra["passphrase_file"]).read_text()).write_private_key(str(key))
        key.chmod(0o600)
        shutil.copy(f"{extra['client_key']}-cert.pub", f"{key}-cert.pub")
        # The exact [host]:port: rclone's Go knownhosts matches no wildcard port in @cert-authority lines.
        known = bench.work / "known_hosts"
        ca_key = Path(extra["known_hosts_ca"]).read_text().split(None, 2)[2]
        known.write_text(f"@cert-authority [{srv.host}]:{srv.port} {ca_key}")
        user, base = srv.username or "", "/upload"

        def openssh(command: str) -> list[str]:
            batch = bench.work / f"batch-{abs(hash(command))}"
            batch.write_text(command + "\n")
            return ["sftp", "-q", "-b", str(batch), "-i", str(key), "-o", f"CertificateFile={key}-cert.pub",
                    "-o", f"UserKnownHostsFile={known}", "-o", "GlobalKnownHostsFile=/dev/null",
                    "-o", "BatchMode=yes", "-P", str(srv.port), f"{user}@{srv.host}"]

        remote_spec = (f":sftp,host={srv.host},port={srv.port},user={user},key_file={key},"
                       f"pubkey_file={key}-cert.pub,known_hosts_file={known}:")
        rclone = ["rclone", "--retries", "1", "--low-level-retries", "1", "--transfers", "1", "--ignore-times"]
        url = f"sftp://{user}@{srv.host}:{srv.port}"
        cli = [sys.executable, "-m", "xfer"]
        flags = ["--identity", str(key), "--pin", extra["host_fingerprint"], "--quiet"]
        child = bench.work / "sftp_child.py"
        child.write_text(LIBRARY_CHILD)

        def lib(direction: str, local: Path, remote: str) -> list[str]:
            return [sys.executable, str(child), url + base + remote, str(key), extra["host_fingerprint"], direction,
                    str(local)]

        clients = [
            h.Client("openssh", lambda local, remote: openssh(f"put {local} {base}{remote}"),
                     lambda remote, local: openssh(f"get {base}{remote} {local}")),
            h.Client("xfer-lib", lambda local, remote: lib("put", local, remote),
                     lambda remote, local: lib("get", local, remote)),
            h.Client("xfer-cli", lambda local, remote: [*cli, "put", str(local), url + base + remote, *flags],
                     lambda remote, local: [*cli, "get", url + base + remote, str(local), *flags]),
        ]
        if shutil.which("rclone"):
            clients.insert(1, h.Client(
                "rclone", lambda local, remote: [*rclone, "copyto", str(local), remote_spec + base + remote],
                lambda remote, local: [*rclone, "copyto", remote_spec + base + remote, str(local)]))
        references = tuple(c.name for c in clients if not c.name.startswith("xfer"))
        title = f"SFTP on {srv.package}, user certificate, chroot (internal-sftp)"
        return h.Measured("SFTP OpenSSH", title, h.measure(bench, clients), references)


def main() -> None:
    run(h.parser(__doc__).parse_args()).print()


if __name__ == "__main__":
    main()
