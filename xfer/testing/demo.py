"""``xfer demo``: every protocol end to end against embedded mTLS servers, with no set-up.

:func:`run_demo` makes a throwaway PKI and profiles in a fresh temporary folder,
starts the embedded servers of :mod:`xfer.testing`, and for each protocol in
:data:`PROTOCOLS` moves a generated file through the verbs its adapter declares
(put → ls → get → rm; AS2 is put only), checking sha256 on the way.  Everything
goes through :func:`xfer.connect` with a profile, exactly as a user's transfer would.
The folder is removed before it returns, whatever happened.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import random
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import IntegrityError, XferError
from ..transfer import sha256_file

# `pip install xfer` alone runs the HTTPS and AS2 rows; a row whose server needs a module of
# the testing extra says so (re-exported here for the CLI).
from . import INSTALL_TESTING, TESTING_EXTRA_MODULES

if TYPE_CHECKING:
    from ..adapters.base import Adapter
    from ..client import CallbackFactory
    from ..types import TransferResult
    from .endpoints import Endpoint
    from .pki import TestPKI

__all__ = [
    "DEFAULT_SIZE",
    "INSTALL_TESTING",
    "PROTOCOLS",
    "TESTING_EXTRA_MODULES",
    "DemoProtocol",
    "DemoReport",
    "DemoRow",
    "run_demo",
]

#: A few MiB: big enough to show a transfer rate, small enough to stay well under 10 s.
DEFAULT_SIZE = 4 << 20
#: What moves: text, so AS2's compression has something to do.
FILE_NAME = "xfer-demo-invoices.csv"
_RECEIPT_KEYS = ("message_id", "status", "disposition", "mic", "mic_algorithm", "mic_matched", "warning")


@dataclass(frozen=True)
class DemoProtocol:
    """One row of the demo: a label and the :data:`xfer.testing.SERVERS` key that serves it.

    ``check`` runs after the transfers, for what only this protocol promises; it raises
    :class:`~xfer.errors.XferError` to fail the row.
    """

    label: str
    scheme: str
    server_options: Mapping[str, Any] = field(default_factory=dict)
    check: Callable[[Endpoint, DemoRow], None] | None = None

    @property
    def profile_name(self) -> str:
        return f"demo-{self.scheme}"


def _check_as2(endpoint: Endpoint, row: DemoRow) -> None:
    """The receiver saw every layer, and the adapter verified the signed receipt's MIC."""
    received = endpoint.server.received[-1]
    missing = [name for name in ("signed", "encrypted", "compressed") if not getattr(received, name)]
    if missing:
        raise IntegrityError(f"the receiver got a message that was not {' or '.join(missing)}")
    if row.details.get("status") != "confirmed" or not row.details.get("mic_matched"):
        raise IntegrityError(f"the MDN did not confirm the message: {row.details.get('disposition')}")
    row.details["layers"] = "signed+encrypted+compressed"


#: The rows, in order.  A new protocol is one entry (plus its server in xfer.testing).
PROTOCOLS: tuple[DemoProtocol, ...] = (
    DemoProtocol("HTTPS", "https"),
    DemoProtocol("FTPS explicit", "ftpes"),
    DemoProtocol("FTPS implicit", "ftps"),
    DemoProtocol("WebDAVs", "davs"),
    DemoProtocol("AS2", "as2", check=_check_as2),
    DemoProtocol("SFTP", "sftp"),
)


@dataclass
class DemoRow:
    """What one protocol did.  ``error`` is one line, set when ``passed`` is false."""

    protocol: str
    profile: str
    url: str | None = None
    server: str | None = None  # the software that answered
    address: str | None = None
    tls_version: str | None = None
    client_certificate: str | None = None  # CN the server accepted; "required" if it cannot say
    data_channel_resumed: bool | None = None  # FTPS only: every data connection resumed TLS
    data_connections: int | None = None
    data_connections_resumed: int | None = None
    bytes: int = 0
    mb_per_s: float | None = None
    steps: list[str] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)  # protocol facts (e.g. the AS2 MDN)
    seconds: float = 0.0
    passed: bool = False
    error: str | None = None
    #: The module of the ``testing`` extra this row's server needs and that is not installed.
    missing_module: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class DemoReport:
    """All rows, and where the demo worked (gone once :func:`run_demo` returns)."""

    rows: list[DemoRow]
    workdir: str
    profiles_dir: str
    data_dir: str  # $XFER_DATA_DIR while the demo runs (AS2 receipts)
    identity: str
    identity_password: str
    seconds: float = 0.0

    @property
    def passed(self) -> bool:
        return bool(self.rows) and all(row.passed for row in self.rows)

    @property
    def missing_modules(self) -> list[str]:
        """Modules of the ``testing`` extra that rows needed and did not find (install: :data:`INSTALL_TESTING`)."""
        return sorted({row.missing_module for row in self.rows if row.missing_module})

    def to_dict(self) -> dict[str, Any]:
        return {
            "passed": self.passed,
            "seconds": round(self.seconds, 3),
            "workdir": self.workdir,
            "profiles_dir": self.profiles_dir,
            "data_dir": self.data_dir,
            "rows": [row.to_dict() for row in self.rows],
        }


def run_demo(
    *,
    workdir: str | os.PathLike[str] | None = None,
    size: int = DEFAULT_SIZE,
    protocols: Sequence[DemoProtocol] | None = None,
    callbacks: CallbackFactory | None = None,
    keep: Callable[[DemoReport], None] | None = None,
    warn: Callable[[str], None] | None = None,
) -> DemoReport:
    """Run every protocol end to end; return the report.  Never raises for a failing row.

    ``protocols`` defaults to :data:`PROTOCOLS`.  ``workdir`` is the folder in which the
    demo makes (and at the end removes) its own ``xfer-demo-*`` folder (mode 0700: the test
    PKI's keys are in it); default: the system temp folder.  ``callbacks`` makes progress
    callbacks as in :func:`xfer.client.put` (the remote path argument is a label such as
    ``"HTTPS put"``).  ``keep``, if given, is called with the finished report while the
    servers still run (``xfer demo --keep`` waits for Ctrl-C there).
    """
    from ..transfer import local_errors
    from .pki import create_pki

    started = time.monotonic()
    with local_errors(workdir or tempfile.gettempdir(), "creating"):  # a read-only or full folder
        base = Path(tempfile.mkdtemp(prefix="xfer-demo-", dir=workdir))
    try:
        pki = create_pki(base / "pki")
        profiles = base / "profiles"
        profiles.mkdir(mode=0o700)
        local = base / "local"
        local.mkdir()
        source = local / FILE_NAME
        digest = _write_demo_file(source, size)
        report = DemoReport(
            rows=[], workdir=str(base), profiles_dir=str(profiles), data_dir=str(base / "data"),
            identity=str(pki.client_p12), identity_password=f"file:{pki.password_file}",
        )
        with contextlib.ExitStack() as servers:
            # AS2 receipts (and anything else xfer keeps) go to the demo folder, not the user's.
            servers.enter_context(_environ("XFER_DATA_DIR", report.data_dir))
            for protocol in PROTOCOLS if protocols is None else protocols:
                row = _run_row(protocol, pki, base, profiles, source, digest, servers, callbacks, warn)
                report.rows.append(row)
            report.seconds = time.monotonic() - started
            if keep is not None:
                keep(report)
        return report
    finally:
        # Servers are stopped by now (the ExitStack closed); nothing of the demo may remain.
        shutil.rmtree(base, ignore_errors=True)
        if base.exists() and warn is not None:
            warn(f"could not remove all of {base}; delete it by hand")


@contextlib.contextmanager
def _environ(name: str, value: str) -> Iterator[None]:
    previous = os.environ.get(name)
    os.environ[name] = value
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = previous


def _write_demo_file(path: Path, size: int) -> str:
    """``size`` bytes of invoice-like CSV (compressible, like real EDI payloads); its sha256."""
    rng = random.Random(4130)  # fixed seed: the same file every run
    digest = hashlib.sha256()
    with open(path, "wb") as out:
        written = 0
        header = b"invoice,customer,date,amount,currency\n"
        block = header
        while written < size:
            lines = [
                f"INV-{rng.randrange(10**8):08d},CUST-{rng.randrange(10**5):05d},"
                f"2025-{rng.randrange(1, 13):02d}-{rng.randrange(1, 29):02d},"
                f"{rng.randrange(10**7) / 100:.2f},EUR\n"
                for _ in range(2000)
            ]
            block += "".join(lines).encode()
            block = block[: size - written]
            out.write(block)
            digest.update(block)
            written += len(block)
            block = b""
    return digest.hexdigest()


def _one_line(exc: BaseException) -> str:
    text = exc.message if isinstance(exc, XferError) else f"{type(exc).__name__}: {exc}"
    return " ".join(text.split()) or type(exc).__name__


def _run_row(
    protocol: DemoProtocol,
    pki: TestPKI,
    base: Path,
    profiles: Path,
    source: Path,
    digest: str,
    servers: contextlib.ExitStack,
    callbacks: CallbackFactory | None,
    warn: Callable[[str], None] | None,
) -> DemoRow:
    from .endpoints import serve

    row = DemoRow(protocol=protocol.label, profile=protocol.profile_name)
    started = time.monotonic()
    endpoint: Endpoint | None = None
    try:
        endpoint = servers.enter_context(
            serve(protocol.scheme, pki, root=base / "servers" / protocol.scheme,
                  name=protocol.profile_name, **protocol.server_options)
        )
        row.url = endpoint.url
        row.server = endpoint.software
        row.address = endpoint.address
        _write_profile(profiles, endpoint)
        _exercise(protocol, endpoint, source, digest, base / "local", row, callbacks, warn)
        if protocol.check is not None:
            protocol.check(endpoint, row)
        row.passed = True
    except ModuleNotFoundError as exc:
        missing = (exc.name or "").split(".")[0]
        if missing not in TESTING_EXTRA_MODULES:
            row.error = _one_line(exc)
        else:  # `pip install xfer` without the extra: say what to install, not an ImportError
            row.missing_module = missing
            row.error = f"needs the testing extra ({missing} is not installed): {INSTALL_TESTING}"
    except Exception as exc:  # a failing row is reported, the next row still runs
        row.error = _one_line(exc)
    finally:
        row.seconds = time.monotonic() - started
        if endpoint is not None:
            _observe(endpoint, row)
    return row


def _write_profile(folder: Path, endpoint: Endpoint) -> None:
    """``NAME.toml`` for the CLI (``--keep``); 0600 like the real profile store."""
    import tomli_w

    path = folder / f"{endpoint.profile.name}.toml"
    path.write_text(tomli_w.dumps(endpoint.profile.to_toml()), encoding="utf-8")
    path.chmod(0o600)


def _exercise(
    protocol: DemoProtocol,
    endpoint: Endpoint,
    source: Path,
    digest: str,
    local: Path,
    row: DemoRow,
    callbacks: CallbackFactory | None,
    warn: Callable[[str], None] | None,
) -> None:
    """put → ls → get → rm, each only if the adapter declares it; raise on the first problem."""
    from ..client import connect
    from ..types import Capability

    remote_path = f"/{FILE_NAME}"
    size = source.stat().st_size
    row.bytes = size
    moved: list[TransferResult] = []

    def progress(verb: str) -> Any:
        # The label stands in for the remote path: it is what a progress bar shows.
        return callbacks(str(source), f"{protocol.label} {verb}", size) if callbacks else None

    with connect(endpoint.profile, warn=warn) as remote:
        declared = remote.capabilities
        result = remote.put_file(source, remote_path, callback=progress("put"))
        moved.append(result)
        row.steps.append("put")
        _check_stored(endpoint, digest)
        # AS2: what the signed receipt (MDN) said; the other protocols have no such keys.
        row.details.update({k: v for k, v in result.details.items() if k in _RECEIPT_KEYS})

        if Capability.LS in declared:
            entries = {e.name: e for e in remote.ls("/")}
            entry = entries.get(FILE_NAME)
            if entry is None:
                raise IntegrityError(f"ls / does not show {FILE_NAME} after the upload")
            if entry.size is not None and entry.size != size:
                raise IntegrityError(f"ls shows {entry.size} bytes for {FILE_NAME}, {size} were sent")
            row.steps.append("ls")

        if Capability.GET in declared:
            target = local / f"back-{protocol.scheme}.csv"
            result = remote.get_file(remote_path, target, callback=progress("get"))
            moved.append(result)
            got = sha256_file(target)
            target.unlink()
            if got != digest:
                raise IntegrityError(f"sha256 of the download is {got[:16]}…, the upload was {digest[:16]}…")
            row.steps.append("get")

        if Capability.RM in declared:
            remote.rm(remote_path)
            if (endpoint.root / FILE_NAME).exists():
                raise IntegrityError(f"rm succeeded but the server still has {FILE_NAME}")
            row.steps.append("rm")

        row.tls_version = _tls_version(moved, remote)
    elapsed = sum(r.elapsed for r in moved)
    row.mb_per_s = round(sum(r.size for r in moved) / elapsed / 1e6, 1) if elapsed > 0 else None


def _check_stored(endpoint: Endpoint, digest: str) -> None:
    """The server's own copy matches: what arrived is what was sent, byte for byte."""
    stored = endpoint.root / FILE_NAME
    if not stored.is_file():
        raise IntegrityError(f"the server reported success but {FILE_NAME} is not in its storage folder")
    got = sha256_file(stored)
    if got != digest:
        raise IntegrityError(f"sha256 of the server's copy is {got[:16]}…, the upload was {digest[:16]}…")


def _tls_version(results: list[TransferResult], remote: Adapter) -> str | None:
    for result in results:
        if result.tls_version:
            return result.tls_version
    version = getattr(remote, "tls_version", None)  # FTPS: the control connection's
    return str(version) if version else None  # _observe asks the server next


def _observe(endpoint: Endpoint, row: DemoRow) -> None:
    """What the server saw: the client certificate and, for FTPS, data-channel resumption."""
    names = endpoint.client_names()
    if names:
        row.client_certificate = ", ".join(names)
    elif row.passed:
        # The embedded servers refuse a handshake without a trusted certificate, so a
        # completed transfer means it was accepted even where the server cannot name it.
        row.client_certificate = "required"
    if row.tls_version is None:
        versions = endpoint.tls_versions()
        row.tls_version = ", ".join(versions) if versions else None
    sessions = endpoint.data_sessions()
    if sessions is not None:
        row.data_connections = len(sessions)
        row.data_connections_resumed = sum(sessions)
        row.data_channel_resumed = bool(sessions) and all(sessions)
