"""SFTP put and get on the bed's OpenSSH sshd (certificate login, chroot): xfer beside OpenSSH sftp and rclone.

    python bench/bench_sftp.py [--size-mib 1024] [--repeat 1] [--bed-dir DIR]
    python -m bench.bench_sftp ...

Every client logs in with the same user certificate and trusts the host through the same
@cert-authority known_hosts file.  OpenSSH's ``sftp -b`` cannot ask for a passphrase, so the
bench uses an unencrypted copy of the client key (and its certificate beside it) for all.
``--tls`` is ignored (SSH).  See bench/_harness.py for how it measures.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

if not __package__:  # run as a file: make the repository importable
    sys.path[0] = str(Path(__file__).resolve().parent.parent)

from bench import _harness as h


def main() -> None:
    args = h.parser(__doc__).parse_args()
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
        clients = [
            h.Client("openssh", lambda local, remote: openssh(f"put {local} {base}{remote}"),
                     lambda remote, local: openssh(f"get {base}{remote} {local}")),
            h.Client("xfer-cli", lambda local, remote: [*cli, "put", str(local), url + base + remote, *flags],
                     lambda remote, local: [*cli, "get", url + base + remote, str(local), *flags]),
        ]
        if shutil.which("rclone"):
            clients.insert(1, h.Client(
                "rclone", lambda local, remote: [*rclone, "copyto", str(local), remote_spec + base + remote],
                lambda remote, local: [*rclone, "copyto", remote_spec + base + remote, str(local)]))
        results = h.measure(bench, clients)
        h.print_table(f"SFTP on {srv.package}, user certificate, chroot (internal-sftp)", results,
                      references=[c.name for c in clients if c.name != "xfer-cli"])


if __name__ == "__main__":
    main()
