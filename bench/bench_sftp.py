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

Where the rest goes (session 4, py-spy/cProfile of the loop thread, perf, strace; 512 MiB):
- asyncssh's per-packet Python work is ~70 % of the client's CPU.  sshd's channel packets are
  32 KiB both ways (its max packet for sessions: a larger ``max_pktsize``/``window`` on our side
  changed neither the packet count nor CPU, within noise), and asyncssh 2.24 sends an empty
  SSH_MSG_IGNORE before *every* packet after key exchange, whatever the cipher (connection.py
  send_packet; the "no data outstanding" condition of the 2013 CBC countermeasure was lost in the
  2014 asyncio rewrite; the 2025 strict-kex change only stopped it during kex): two send()
  syscalls and two encryptions per 32 KiB.  No option turns it off; only an asyncssh change can.
- Cipher: client CPU per 256 MiB, raw pipeline (median of 4): put aes128-gcm 0.66 s, aes256-gcm
  0.61, chacha20-poly1305 1.19, aes128-ctr + umac-64-etm 0.72, + hmac-sha2-256-etm 0.84; get
  0.85 / 0.78 / 1.24 / 0.93 / 0.97.  xfer asks for AES-GCM first (asyncssh alone would take
  chacha20); compression is ``none`` (asyncssh's first choice); rekeying every GiB is one kex.
- xfer's own share: SHA-256 of every byte (0.6 s/GiB, promised in ``sha256``), the disk, one copy
  per upload block (FileBody reuses its buffer): raw asyncssh put 0.66-0.73 s per 256 MiB against
  xfer's 0.95-1.01.
- Start-up: xfer-cli 0.30-0.37 s CPU against OpenSSH's 0.08-0.10: ``import asyncssh`` ~0.2 s
  (crypto.pq runs ctypes.util.find_library("oqs"): ldconfig and ld subprocesses), and ~0.07 s of
  interpreter teardown (full GC passes over asyncssh's objects; an ``atexit`` ``gc.freeze()`` in
  the CLI cut an empty put from 340-400 to 313-318 ms CPU).  The handshake itself costs the client
  7 ms CPU; its 110-230 ms wall is sshd's fork and re-exec.
Tried and dropped (same-run A/B, in-process 512 MiB puts at load 3-7): the body read and hashed on
a worker thread a few blocks ahead (+12-20 % CPU from GIL hand-offs, context switches 6.0k -> 13.4k;
wall median 4.93 s against 4.00, one bench run better, two worse); uvloop as the session's loop
(-3 to -7 % CPU, wall within noise, a compiled dependency); WRITE_DEPTH 8/24/32/64 and a read
depth of 16/128 on get (within noise; WRITE_DEPTH 64 costs 98 MiB RSS against 60).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from dataclasses import dataclass
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


@dataclass(frozen=True)
class OpenSSHLogin:
    """How every client logs in to the bed's sshd: an unencrypted copy of the certified client key
    (OpenSSH's ``sftp -b`` cannot ask for a passphrase), the host CA for the exact [host]:port,
    the user, and the folder the chroot exposes (``base``)."""

    key: Path
    known: Path
    user: str
    base: str
    host: str
    port: int
    fingerprint: str
    work: Path

    @property
    def url(self) -> str:
        """xfer's URL of the server (no path)."""
        return f"sftp://{self.user}@{self.host}:{self.port}"

    @property
    def xfer_flags(self) -> list[str]:
        return ["--identity", str(self.key), "--pin", self.fingerprint, "--quiet"]

    def openssh(self, command: str) -> list[str]:
        """argv of OpenSSH's ``sftp`` running ``command`` in batch mode."""
        batch = self.work / f"batch-{abs(hash(command))}"
        batch.write_text(command + "\n")
        return ["sftp", "-q", "-b", str(batch), "-i", str(self.key), "-o", f"CertificateFile={self.key}-cert.pub",
                "-o", f"UserKnownHostsFile={self.known}", "-o", "GlobalKnownHostsFile=/dev/null",
                "-o", "BatchMode=yes", "-P", str(self.port), f"{self.user}@{self.host}"]


def openssh_login(bench: h.Bench) -> OpenSSHLogin:
    """Write the bench's key and known_hosts for the bed's sshd (see :class:`OpenSSHLogin`)."""
    import asyncssh

    srv, extra = bench.server, bench.server.extra
    key = bench.work / "bench_key"
    asyncssh.import_private_key(Path(extra["client_key"]).read_bytes(),
                                Path(extra["passphrase_file"]).read_text()).write_private_key(str(key))
    key.chmod(0o600)
    shutil.copy(f"{extra['client_key']}-cert.pub", f"{key}-cert.pub")
    # The exact [host]:port: rclone's Go knownhosts matches no wildcard port in @cert-authority lines.
    known = bench.work / "known_hosts"
    ca_key = Path(extra["known_hosts_ca"]).read_text().split(None, 2)[2]
    known.write_text(f"@cert-authority [{srv.host}]:{srv.port} {ca_key}")
    return OpenSSHLogin(key, known, srv.username or "", "/upload", srv.host, srv.port, extra["host_fingerprint"],
                        bench.work)


def run(args: argparse.Namespace) -> h.Measured:
    """Measure OpenSSH's sftp, rclone and xfer on the bed's sshd."""
    with h.bed_server("sshd", args) as bench:
        srv = bench.server
        login = openssh_login(bench)
        key, known, user, base, openssh = login.key, login.known, login.user, login.base, login.openssh

        remote_spec = (f":sftp,host={srv.host},port={srv.port},user={user},key_file={key},"
                       f"pubkey_file={key}-cert.pub,known_hosts_file={known}:")
        rclone = ["rclone", "--retries", "1", "--low-level-retries", "1", "--transfers", "1", "--ignore-times"]
        url = login.url
        cli = [sys.executable, "-m", "xfer"]
        flags = login.xfer_flags
        child = bench.work / "sftp_child.py"
        child.write_text(LIBRARY_CHILD)

        def lib(direction: str, local: Path, remote: str) -> list[str]:
            return [sys.executable, str(child), url + base + remote, str(key), login.fingerprint, direction,
                    str(local)]

        anchor = h.Client("openssh", lambda local, remote: openssh(f"put {local} {base}{remote}"),
                          lambda remote, local: openssh(f"get {base}{remote} {local}"))
        synced = h.durable(anchor)  # xfer fsyncs a download before its rename; OpenSSH's sftp does not
        clients = [
            anchor, synced,
            h.Client("xfer-lib", lambda local, remote: lib("put", local, remote),
                     lambda remote, local: lib("get", local, remote)),
            h.Client("xfer-cli", lambda local, remote: [*cli, "put", str(local), url + base + remote, *flags],
                     lambda remote, local: [*cli, "get", url + base + remote, str(local), *flags]),
        ]
        if shutil.which("rclone"):
            clients.insert(1, h.Client(
                "rclone", lambda local, remote: [*rclone, "copyto", str(local), remote_spec + base + remote],
                lambda remote, local: [*rclone, "copyto", remote_spec + base + remote, str(local)]))
        references = tuple(c.name for c in clients if not c.name.startswith("xfer") and c is not synced)
        results = h.measure(bench, clients)
        # What xfer negotiated, from the library child's result (its details): the cipher is most
        # of the difference in CPU per GiB between asyncssh's choices.
        cipher = json.loads(results.samples[("xfer-lib", "put")][-1].out).get("cipher", "?")
        title = f"SFTP on {srv.package}, user certificate, chroot (internal-sftp); xfer's cipher {cipher}"
        return h.Measured("SFTP OpenSSH", title, results, references, (synced.name,))


def main() -> None:
    run(h.parser(__doc__).parse_args()).print()


if __name__ == "__main__":
    main()
