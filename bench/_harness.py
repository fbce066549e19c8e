"""What the three benches share: a bed server, child timing, the xfer clients, the table.

Each client runs as a child process; its CPU time is read from ``os.wait4`` (user + system of
exactly that child).  Every client is also timed on an empty file ("start-up": interpreter,
imports, identity, handshake) so the table can show CPU per GiB without it.  Rounds are
interleaved, and their order turns, so that machine noise hits every client alike.  Wall MB/s on a shared machine
swings a lot; CPU seconds and the ratios measured in the same run are the numbers to compare.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from integration.bed import Bed, ServerInfo
from xfer.testing.contract import make_file, sha256_of

__all__ = [
    "Client", "Identity", "Measured", "Sample", "bed_server", "durable", "free_memory", "lftp", "measure", "parser",
    "print_summary", "print_table", "then_sync", "timed", "xfer_clients",
]

ROOT = Path(__file__).resolve().parent.parent
DIRECTIONS = ("put", "get")
STARTUP_ROUNDS = 3

# One library child for every protocol: the adapter named in its JSON argument, used directly.
LIBRARY_CHILD = r"""
import importlib, json, sys
from xfer.adapters.base import ConnectionSettings
from xfer.identity import Identity
from xfer.tls import create_ssl_context

a = json.loads(sys.argv[1])
module, _, name = a["adapter"].partition(":")
adapter = getattr(importlib.import_module(module), name)
context = create_ssl_context(Identity.load(a["p12"], a["password"]), ca=a["ca"], maximum_version=a["tls"])
settings = ConnectionSettings(scheme=a["scheme"], host=a["host"], port=a["port"], root="/", ssl_context=context,
                              username=a["username"], password=a["login_password"], timeout=120)
with adapter(settings) as remote:
    if a["direction"] == "put":
        result = remote.put_file(a["local"], a["remote"])
    else:
        result = remote.get_file(a["remote"], a["local"])
print(json.dumps(result.to_dict()))
"""


@dataclass(frozen=True)
class Sample:
    wall: float  # seconds
    cpu: float  # user + system seconds of the child
    out: str  # its stdout
    rss: int = 0  # peak resident set of the child, bytes


def timed(argv: Sequence[str], env: dict[str, str] | None = None) -> Sample:
    """Run one child; return its wall seconds, its own CPU seconds (from ``os.wait4``) and stdout."""
    # Write back what the previous child (or the server) left dirty, so that the kernel's
    # writeback of 1 GiB does not run during, and compete with, the child timed next.
    os.sync()
    with tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        child = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=err, env=env)
        assert child.stdout is not None
        out = child.stdout.read()  # until the child closes it; reaped below, not by Popen
        _pid, status, usage = os.wait4(child.pid, 0)
        wall = time.perf_counter() - started
        child.returncode = os.waitstatus_to_exitcode(status)
        if child.returncode != 0:
            err.seek(0)
            raise SystemExit(f"failed ({child.returncode}): {' '.join(argv)}\n{err.read().decode()[-2000:]}")
    # ru_maxrss is in KiB on Linux.
    return Sample(wall, usage.ru_utime + usage.ru_stime, out.decode(), usage.ru_maxrss * 1024)


def free_memory(*, needed: int) -> str:
    """Leave at least ``needed`` bytes of memory free for the files about to be written, by
    dropping the kernel's clean page cache (root only); say what was done, for the table.

    Why: a download writes a new file, and when free memory is short the kernel takes pages
    back from the page cache in the writer's own time (direct reclaim), charged to its CPU.
    Measured on this machine with 2.7 GiB free of 24 and 19.5 GiB of cache: the same 512 MiB
    FTPS download cost xfer 1.86, 1.09 and 0.83 s of CPU in three rounds, and 0.50, 0.57 and
    0.48 s after the cache was dropped; lftp's moved alike (0.40 to 0.84 s).  Which client
    paid depended on who wrote when the free pages ran out, not on the client.  Clean pages
    only (``sync`` first, then ``1`` to ``drop_caches``): nothing unwritten is lost, the files
    are read back from disk when next used (the whole machine's: a bed shared with other work
    pays that; the start-up rounds of :func:`measure` run first and warm each client again).
    """
    if not _meminfo("MemTotal"):
        return "memory: /proc/meminfo unreadable, page cache kept"
    available = _meminfo("MemFree")
    if available >= needed:
        return f"memory: {available >> 20} MiB free, enough"
    os.sync()
    try:
        Path("/proc/sys/vm/drop_caches").write_text("1\n")
    except OSError as exc:
        return (f"memory: {available >> 20} MiB free, page cache kept ({exc.strerror}): "
                "CPU may include the kernel reclaiming pages for the client's writes")
    after = _meminfo("MemFree")
    said = f"memory: {available >> 20} MiB free, clean page cache of the whole machine dropped: {after >> 20} MiB free"
    if after < needed:  # the rest is held by programs or tmpfs: the drop could not help
        said += f", still short of {needed >> 20} MiB: CPU may include the kernel reclaiming pages"
    return said


def _meminfo(field: str) -> int:
    """Bytes of ``field`` in /proc/meminfo (0 where there is none)."""
    with contextlib.suppress(OSError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            name, _, value = line.partition(":")
            if name == field:
                return int(value.split()[0]) * 1024
    return 0


@dataclass(frozen=True)
class Identity:
    """The bed's client identity, as PKCS#12 (xfer, curl) and as PEM files (lftp, rclone, curl)."""

    p12: Path
    password: str
    ca: Path
    cert: Path
    key: Path

    @classmethod
    def of(cls, bed: Bed) -> Identity:
        pki = bed.pki_folder
        password = (pki / "password.txt").read_text().strip()
        return cls(pki / "client.p12", password, pki / "ca.pem", pki / "client.pem", pki / "client.key")


@dataclass(frozen=True)
class Client:
    """argv builders for one client: ``put(local, remote)`` and ``get(remote, local)``."""

    name: str
    put: Callable[[Path, str], list[str]]
    get: Callable[[str, Path], list[str]]


def durable(client: Client) -> Client:
    """``client`` with each download fsynced before it counts as done (``sync FILE``, coreutils).

    That is xfer's guarantee (a download is fsynced before its rename: after a crash the name
    never points at missing data), which curl, lftp and rclone do not give: their download
    ends when the bytes are in the page cache, and on a disk slower than the network the rest
    is written after the clock stops.  Uploads are alike (what the server stores is the
    server's to make durable), so ``put`` is the client's own.
    """
    def get(remote: str, local: Path) -> list[str]:
        return then_sync(client.get(remote, local), local)

    return Client(f"{client.name}+sync", client.put, get)


def then_sync(argv: list[str], path: Path, *, file_system: bool = False) -> list[str]:
    """``argv``, then, if it succeeded, ``sync`` of ``path`` (coreutils: fsync of that file), or
    with ``file_system`` ``sync -f`` (``syncfs``: everything written to the file system holding it,
    one call for a folder of files).  The exit status is the command's, or sync's after it."""
    sync = "sync -f" if file_system else "sync"
    return ["sh", "-c", f'"$@" && exec {sync} -- "$0"', str(path), *argv]


@dataclass
class Bench:
    """A running bed server, its identity, and a scratch folder for the bench's files."""

    work: Path
    bed: Bed
    server: ServerInfo
    identity: Identity
    args: argparse.Namespace
    env: dict[str, str] = field(default_factory=dict)


def parser(doc: str, *, tls: str = "1.3") -> argparse.ArgumentParser:
    """The options every bench takes; a script adds its own."""
    p = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--size-mib", type=int, default=1024)
    p.add_argument("--repeat", type=int, default=1, help="rounds of every client (median shown)")
    p.add_argument("--tls", choices=("1.2", "1.3"), default=tls)
    p.add_argument("--bed-dir", type=Path, help="use a bed started with `python -m integration up --dir DIR`")
    return p


@contextlib.contextmanager
def bed_server(name: str, args: argparse.Namespace) -> Iterator[Bench]:
    """Start bed server ``name`` (or use the running bed of ``--bed-dir``); stop and clean up after."""
    work = Path(tempfile.mkdtemp(prefix="xfer-bench-"))
    # vsftpd chroots the FTP user into the bed's storage folder below `work`: every folder above
    # it must be traversable by that user, and mkdtemp makes 0700 folders.
    work.chmod(0o755)
    own = args.bed_dir is None
    bed = Bed.start(work / "bed", names=[name]) if own else Bed.load(args.bed_dir)
    if name not in bed.servers:
        shutil.rmtree(work, ignore_errors=True)
        raise SystemExit(f"bench: the bed in {args.bed_dir} runs no {name} "
                         f"(python -m integration up --dir {args.bed_dir} --only {name},...)")
    try:
        identity = Identity.of(bed)
        env = {**os.environ, "XFER_BENCH_PW": identity.password, "XFER_CONFIG_DIR": str(work / "config")}
        for proxy in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"):
            env.pop(proxy, None)
        # An installed xfer runs from compiled bytecode (pip writes it); this sandbox sets
        # PYTHONDONTWRITEBYTECODE, which would charge every start-up ~0.13 s of compiling.
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        subprocess.run([sys.executable, "-m", "compileall", "-q", str(ROOT / "xfer")], check=True, env=env)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
        yield Bench(work, bed, bed.servers[name], identity, args, env)
    finally:
        if own:
            bed.stop()
        else:
            for leftover in bed.servers[name].root.glob("bench-*"):
                leftover.unlink()
        shutil.rmtree(work, ignore_errors=True)


def xfer_clients(bench: Bench, *, adapter: str, url: str, cli_flags: Sequence[str] = ()) -> list[Client]:
    """xfer as a library (``adapter`` = "module:Class", used directly) and as ``python -m xfer``."""
    srv, ident, tls = bench.server, bench.identity, bench.args.tls
    child = bench.work / "library_child.py"
    child.write_text(LIBRARY_CHILD)

    def lib(direction: str, local: Path, remote: str) -> list[str]:
        args = {
            "adapter": adapter, "scheme": url.partition(":")[0], "host": srv.host, "port": srv.port,
            "p12": str(ident.p12), "password": ident.password, "ca": str(ident.ca), "tls": tls,
            "username": srv.username, "login_password": srv.password,
            "direction": direction, "local": str(local), "remote": remote,
        }
        return [sys.executable, str(child), json.dumps(args)]

    flags = ["--identity", str(ident.p12), "--identity-password", "env:XFER_BENCH_PW", "--ca", str(ident.ca),
             "--tls-max", tls, *cli_flags, "--quiet"]
    cli = [sys.executable, "-m", "xfer"]
    return [
        Client("xfer-lib", lambda local, remote: lib("put", local, remote),
               lambda remote, local: lib("get", local, remote)),
        Client("xfer-cli", lambda local, remote: [*cli, "put", str(local), url + remote, *flags],
               lambda remote, local: [*cli, "get", url + remote, str(local), *flags]),
    ]


def lftp(bench: Bench, command: str, *, implicit: bool = False) -> list[str]:
    """lftp running ``command`` on the bench's FTPS server, with the identity as PEM."""
    ident, srv = bench.identity, bench.server
    settings = [
        f"set ssl:ca-file {ident.ca}", "set ssl:verify-certificate yes",
        f"set ssl:cert-file {ident.cert}", f"set ssl:key-file {ident.key}",
        "set ftp:ssl-force yes", "set ftp:ssl-protect-data yes", "set ftp:passive-mode yes",
        "set net:max-retries 1",
        *(['set ssl:priority "NORMAL:-VERS-TLS1.3"'] if bench.args.tls == "1.2" else []),
        # lftp's ftps:// is implicit FTPS, its ftp:// with ssl-force is explicit (AUTH TLS).
        f"open -u {srv.username},{srv.password} {'ftps' if implicit else 'ftp'}://{srv.host}:{srv.port}",
    ]
    return ["lftp", "-c", "; ".join([*settings, command])]


@dataclass
class Results:
    size: int
    repeat: int
    samples: dict[tuple[str, str], list[Sample]] = field(default_factory=dict)
    startup: dict[tuple[str, str], float] = field(default_factory=dict)  # median CPU s on an empty file

    def wall(self, name: str, direction: str) -> float:
        return statistics.median(s.wall for s in self.samples[(name, direction)])

    def cpu(self, name: str, direction: str) -> float:
        return statistics.median(s.cpu for s in self.samples[(name, direction)])

    def rss(self, name: str, direction: str) -> int:
        return max(s.rss for s in self.samples[(name, direction)])


def measure(bench: Bench, clients: Sequence[Client], *, remote_dir: str = "/") -> Results:
    """Start-up baseline (empty file) then ``--repeat`` interleaved rounds of 1 put + 1 get per client.

    Each client uploads to ``{remote_dir}bench-{name}.bin`` and downloads it back; the copy must match.
    """
    size = bench.args.size_mib << 20
    # The source, its copy back, and one file per client on the server, each of ``size``.
    print(f"\n{free_memory(needed=(len(clients) + 2) * size)}", flush=True)
    source, empty, back = bench.work / "source.bin", bench.work / "empty.bin", bench.work / "back.bin"
    digests = {source: make_file(source, size, seed=42), empty: make_file(empty, 0)}
    results = Results(size, bench.args.repeat)

    def round_trip(client: Client, local: Path, remote: str) -> tuple[Sample, Sample]:
        put = timed(client.put(local, remote), bench.env)
        get = timed(client.get(remote, back), bench.env)
        if sha256_of(back) != digests[local]:
            raise SystemExit(f"{client.name}: the file downloaded from {remote} differs from {local.name}")
        back.unlink()
        return put, get

    for client in clients:
        trips = [round_trip(client, empty, f"{remote_dir}bench-empty-{client.name}") for _ in range(STARTUP_ROUNDS)]
        for direction, column in zip(DIRECTIONS, zip(*trips, strict=True), strict=True):
            results.startup[(client.name, direction)] = statistics.median(s.cpu for s in column)
    for start in range(bench.args.repeat):
        # The order turns each round: a slot in the round can cost a client noticeably more.
        for client in [*clients[start % len(clients) :], *clients[: start % len(clients)]]:
            put, get = round_trip(client, source, f"{remote_dir}bench-{client.name}.bin")
            results.samples.setdefault((client.name, "put"), []).append(put)
            results.samples.setdefault((client.name, "get"), []).append(get)
    return results


def print_table(title: str, results: Results, *, references: Sequence[str]) -> None:
    """One row per client and direction, with CPU and throughput ratios against each reference."""
    size, gib = results.size, results.size / (1 << 30)
    names = list(dict.fromkeys(name for name, _ in results.samples))
    print(f"\n{title}\n{size >> 20} MiB, median of {results.repeat}, CPU = user+sys of the client's process, "
          f"net = CPU minus the client's start-up (empty file)\n")
    named = max(10, *(len(name) for name in names))  # "openssh+sync"
    header = f"{'client':{named}} {'dir':4} {'wall s':>7} {'MB/s':>7} {'CPU s':>7} {'CPU s/GiB':>10} {'net s/GiB':>10}"
    for ref in references:
        header += f" {'CPU/' + ref:>11} {'MB/s/' + ref:>12}"
    print(header)
    for direction in DIRECTIONS:
        for name in names:
            wall, cpu = results.wall(name, direction), results.cpu(name, direction)
            net = (cpu - results.startup[(name, direction)]) / gib
            row = f"{name:{named}} {direction:4} {wall:7.2f} {size / wall / 1e6:7.0f} {cpu:7.2f}"
            row += f" {cpu / gib:10.2f} {net:10.2f}"
            for ref in references:
                row += f" {cpu / results.cpu(ref, direction):11.2f} {results.wall(ref, direction) / wall:12.2f}"
            print(row)
    print(
        "\nstart-up CPU s (empty file, put/get): "
        + ", ".join(f"{n} {results.startup[(n, 'put')]:.2f}/{results.startup[(n, 'get')]:.2f}" for n in names)
    )


@dataclass(frozen=True)
class Measured:
    """One bench's outcome: ``row`` names it in the summary ("HTTPS nginx"), ``references`` its
    anchors, ``durable`` its anchors whose downloads are fsynced as xfer's are (:func:`durable`)."""

    row: str
    title: str
    results: Results
    references: tuple[str, ...]
    durable: tuple[str, ...] = ()

    def print(self) -> None:
        print_table(self.title, self.results, references=self.references)


def print_summary(measured: Sequence[Measured], *, xfer: str = "xfer-cli") -> None:
    """The issue's table: per row and direction, xfer against its best (fastest) anchor."""
    print(f"\nsummary: {xfer} against the fastest anchor of each row (ratio = xfer speed / anchor speed)\n")
    width = max(len(f"{m.row} down, fsynced") for m in measured)
    anchored = max(11, *(len(name) for m in measured for name in (*m.references, *m.durable)))
    print(f"{'row':{width}} {'best anchor':{anchored}} {'ratio':>6} {'CPU anchor vs xfer':>20} {'xfer peak RSS':>14}")
    for m in measured:
        for direction in DIRECTIONS:
            label = f"{m.row} {'up' if direction == 'put' else 'down'}"
            rss = m.results.rss(xfer, direction) / (1 << 20)
            print(_summary_line(label, m.results, m.references, direction, xfer, width, anchored) + f" {rss:10.0f} MiB")
            if direction == "get" and m.durable:
                # The same guarantee: xfer's download ends fsynced; so does this anchor's.
                print(_summary_line(f"{m.row} down, fsynced", m.results, m.durable, direction, xfer, width, anchored))


def _summary_line(label: str, r: Results, anchors: Sequence[str], direction: str, xfer: str, width: int,
                  anchored: int) -> str:
    """A summary row: xfer against the fastest of ``anchors`` (ratio of speeds, and both CPUs)."""
    best = min(anchors, key=lambda ref: r.wall(ref, direction))
    ratio = r.wall(best, direction) / r.wall(xfer, direction)
    cpu = f"{r.cpu(best, direction):.2f} s vs {r.cpu(xfer, direction):.2f} s"
    return f"{label:{width}} {best:{anchored}} {ratio:6.2f} {cpu:>20}"
