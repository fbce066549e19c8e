"""The real-server test bed: start, check, describe and stop nginx, Apache, vsftpd (x2), proftpd,
pure-ftpd and django-pyas2 natively, each on 127.0.0.1 and free ports, all under one run folder.

Contract (used by ``integration/conftest.py`` and ``python -m integration``)::

    bed = Bed.start(run_dir)                # or Bed.start(run_dir, pki=create_pki(...))
    srv = bed.servers["vsftpd-explicit"]     # ServerInfo: url, host, port, root, username, ...
    bed.stop()                               # idempotent; kills only the PIDs the bed started

``Bed.start`` raises :class:`BedError` (with the server's log tail) when a server fails to start or
to get ready.  A server whose Debian package is missing is listed in ``bed.missing`` (name → reason
naming the package) unless ``require_all=True``, in which case that is a :class:`BedError` too.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import time
from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from integration.probe import ProbeResult, probe
from integration.profiles import COMPOSE_PORTS, profile_tables, write_tables
from integration.render import render_file

__all__ = ["SERVER_NAMES", "Bed", "BedError", "ServerInfo"]

HERE = Path(__file__).resolve().parent
TEMPLATES = HERE / "servers"
HOST = "127.0.0.1"
PREFIX = Path(os.environ.get("XFER_SERVERS_PREFIX", "/opt/xfer-servers"))
PYAS2_VENV = Path(os.environ.get("XFER_PYAS2_VENV", "/opt/xfer-pyas2-venv"))
FTP_USER = os.environ.get("XFER_FTP_USER", "xferftp")
FTP_PASSWORD = os.environ.get("XFER_FTP_PASSWORD", "xfer-ftp-password")  # set by setup.sh
PAM_SERVICE = "xfer-ftp"  # /etc/pam.d/xfer-ftp, written by setup.sh
READY_TIMEOUT = 30.0
PASV_PORTS = 10  # per FTP server; enough for the tests' parallel transfers
SFTP_USER = os.environ.get("XFER_SFTP_USER", "xfersftp")  # made by setup.sh
#: sshd's ChrootDirectory must be root-owned on every path component, which /tmp (1777) is
#: not: the bed's sshd keeps its chroot here, one folder per run, removed by Bed.stop().
SFTP_CHROOT_BASE = Path(os.environ.get("XFER_SFTP_CHROOT_BASE", "/var/lib/xfer-bed"))
SERVER_NAMES = (
    "nginx", "apache", "vsftpd-explicit", "vsftpd-implicit", "proftpd", "pureftpd", "pyas2", "sshd",
)
_SETUP_HINT = "run `sudo sh integration/setup.sh`"


class BedError(RuntimeError):
    """A server could not be started or did not become ready (message carries its log tail)."""


@dataclass
class ServerInfo:
    """What a test (or a person) needs to talk to one running server."""

    name: str
    url: str  # in xfer's URL schemes: https://, davs://, ftpes:// (explicit), ftps:// (implicit)
    host: str
    port: int
    root: Path  # server-side folder behind url's "/": tests look here for uploaded files
    log: Path  # the most useful log file of this server
    version: str  # the server's own version string
    package: str  # Debian package (or PyPI distribution) and version
    pid: int
    start_seconds: float  # from launch to ready
    username: str | None = None
    password: str | None = None
    password_file: Path | None = None
    probe_kind: str = "https"  # integration.probe kind
    mtls_required: bool | None = None  # filled by Bed.survey()
    tls_versions: list[str] = field(default_factory=list)  # filled by Bed.survey()
    extra: dict[str, Any] = field(default_factory=dict)  # e.g. nginx wrong_host_url, pyas2 partners

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        for key in ("root", "log", "password_file"):
            data[key] = str(data[key]) if data[key] is not None else None
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ServerInfo:
        data = dict(data)
        for key in ("root", "log", "password_file"):
            data[key] = Path(data[key]) if data[key] is not None else None
        return cls(**data)


class _Ports:
    """Free ports on 127.0.0.1, never handed out twice in one bed."""

    def __init__(self) -> None:
        self.taken: set[int] = set()

    @staticmethod
    def _free(port: int) -> bool:
        with socket.socket() as s:
            try:
                s.bind((HOST, port))
            except OSError:
                return False
        return True

    def one(self) -> int:
        while True:
            with socket.socket() as s:
                s.bind((HOST, 0))
                port = int(s.getsockname()[1])
            if port not in self.taken:
                self.taken.add(port)
                return port

    def range(self, count: int) -> tuple[int, int]:
        """``count`` consecutive free ports (for passive FTP data connections)."""
        base = 41000 + (os.getpid() % 200) * 50  # spread parallel beds apart
        while base + count < 65000:
            span = range(base, base + count)
            if not self.taken.intersection(span) and all(self._free(p) for p in span):
                self.taken.update(span)
                return base, base + count - 1
            base += count
        raise BedError("no free passive port range")


@dataclass
class _Ctx:
    run: Path
    pki: Any  # xfer.testing.pki.TestPKI
    ports: _Ports


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return f"({path} unreadable)"


def _prefix_versions() -> dict[str, str]:
    try:
        text = (PREFIX / ".xfer-versions").read_text()
    except OSError:
        return {}
    return dict(line.split(" ", 1) for line in text.splitlines() if " " in line)


def _dpkg_version(package: str) -> str:
    known = _prefix_versions().get(package)
    if known:
        return f"{package} {known}"
    out = subprocess.run(["dpkg-query", "-W", "-f=${Version}", package], capture_output=True, text=True, check=False)
    return f"{package} {out.stdout.strip() or '?'}"


def _find(binary: str) -> Path | None:
    """A server binary: our private prefix first (setup.sh), then PATH (the Docker images)."""
    for candidate in (PREFIX / "usr/sbin" / binary, PREFIX / "usr/bin" / binary):
        if candidate.exists():
            return candidate
    found = shutil.which(binary) or shutil.which(binary, path="/usr/sbin:/sbin")
    return Path(found) if found else None


class _Server(ABC):
    """One kind of server: how to configure, launch and describe it."""

    name: ClassVar[str]
    package: ClassVar[str]  # the Debian package whose absence explains a skip
    probe_kind: ClassVar[str] = "https"

    def __init__(self, ctx: _Ctx) -> None:
        self.ctx = ctx
        self.dir = ctx.run / self.name
        self.root = self.dir / "root"
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None
        self.console = self.dir / "console.log"

    def missing(self) -> str | None:
        """None when installed, else a reason naming the package and the fix."""
        return None if self.binary() else f"{self.package} is not installed ({_SETUP_HINT})"

    @abstractmethod
    def binary(self) -> Path | None: ...

    @abstractmethod
    def prepare(self) -> list[str]:
        """Write configs and return the command line (which must stay in the foreground)."""

    @abstractmethod
    def info(self) -> ServerInfo: ...

    def log(self) -> Path:
        return self.console

    def values(self, **more: object) -> dict[str, object]:
        """Placeholder values shared by all templates."""
        pki = self.ctx.pki
        return {
            "HOST": HOST, "PUBLIC_HOST": HOST, "PORT": self.port, "RUN": self.dir, "ROOT": self.root,
            "CERT": pki.server_cert, "KEY": pki.server_key, "CA": pki.root_ca,
            "CHAIN": pki.intermediate_ca, **more,
        }

    def launch(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        self.root.mkdir(exist_ok=True)
        self.port = self.ctx.ports.one()
        cmd = self.prepare()
        with self.console.open("ab") as out:
            # A new session: the server and its workers form one process group, killed as one.
            self.proc = subprocess.Popen(
                cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                cwd=self.dir, start_new_session=True, env=self.env(),
            )

    def env(self) -> dict[str, str]:
        return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8"}

    def wait_ready(self, deadline: float) -> ProbeResult:
        pki = self.ctx.pki
        last = ProbeResult(False, None, "not tried")
        while time.monotonic() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise BedError(self.failure(f"exited with status {self.proc.returncode}"))
            last = probe(
                self.probe_kind, HOST, self.port, ca=pki.root_ca, cert=pki.client_cert,
                key=pki.client_key, timeout=2.0,
            )
            if last.accepted:
                return last
            time.sleep(0.1)
        raise BedError(self.failure(f"not ready after {READY_TIMEOUT:.0f} s (last probe: {last.detail})"))

    def failure(self, what: str) -> str:
        text = f"{self.name} {what}\n--- {self.console} ---\n{_tail(self.console)}"
        if self.log() != self.console:
            text += f"\n--- {self.log()} ---\n{_tail(self.log())}"
        return text

    def chown_root_to(self, user: str) -> None:
        """The storage folder must belong to the account the server writes as."""
        pw = pwd.getpwnam(user)
        os.chown(self.root, pw.pw_uid, pw.pw_gid)

    def version_output(self, *args: str) -> str:
        binary = self.binary()
        assert binary is not None
        out = subprocess.run(
            [str(binary), *args], capture_output=True, text=True, check=False, stdin=subprocess.DEVNULL
        )
        return (out.stdout + out.stderr).strip().splitlines()[0] if (out.stdout + out.stderr).strip() else "?"

    def base_info(self, url: str, version: str, **kw: Any) -> ServerInfo:
        assert self.proc is not None
        return ServerInfo(
            name=self.name, url=url, host=HOST, port=self.port, root=self.root, log=self.log(),
            version=version, package=_dpkg_version(self.package), pid=self.proc.pid,
            start_seconds=0.0, probe_kind=self.probe_kind, **kw,
        )


class _Nginx(_Server):
    name = "nginx"
    package = "nginx"

    def binary(self) -> Path | None:
        return _find("nginx")

    def missing(self) -> str | None:
        if not self.binary():
            return super().missing()
        if not Path("/usr/lib/nginx/modules/ngx_http_dav_ext_module.so").exists():
            return f"libnginx-mod-http-dav-ext is not installed ({_SETUP_HINT})"
        return None

    def prepare(self) -> list[str]:
        self.wrong_port = self.ctx.ports.one()
        for sub in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
            (self.dir / "tmp" / sub).mkdir(parents=True, exist_ok=True)
        pki = self.ctx.pki
        conf = render_file(
            TEMPLATES / "nginx/nginx.conf.tmpl", self.dir / "nginx.conf",
            self.values(
                NGINX_MODULES="/usr/lib/nginx/modules", WRONG_PORT=self.wrong_port,
                WRONG_CERT=pki.wrong_host_cert, WRONG_KEY=pki.wrong_host_key,
            ),
        )
        return [str(self.binary()), "-p", str(self.dir), "-c", str(conf), "-e", str(self.dir / "error.log")]

    def log(self) -> Path:
        return self.dir / "error.log"

    def info(self) -> ServerInfo:
        version = self.version_output("-v").replace("nginx version: ", "")
        return self.base_info(
            f"https://{HOST}:{self.port}/", version,
            extra={
                "webdav_url": f"davs://{HOST}:{self.port}/",
                "wrong_host_url": f"https://{HOST}:{self.wrong_port}/",
                "wrong_host_port": self.wrong_port,
                "rejects_with": "HTTP 400 (handshake succeeds without a good certificate)",
            },
        )


class _Apache(_Server):
    name = "apache"
    package = "apache2"
    user = "www-data"

    def binary(self) -> Path | None:
        return _find("apache2")

    def prepare(self) -> list[str]:
        # A second virtual host serves another folder as `Alias /dav/ ...` (see the template).
        self.alias_port = self.ctx.ports.one()
        self.alias_root = self.dir / "alias-root"
        (self.dir / "docroot").mkdir(parents=True, exist_ok=True)
        pw = pwd.getpwnam(self.user)
        for folder in (self.dir / "davlock", self.alias_root):
            folder.mkdir(parents=True, exist_ok=True)
            os.chown(folder, pw.pw_uid, pw.pw_gid)
        self.chown_root_to(self.user)
        conf = render_file(
            TEMPLATES / "apache/apache2.conf.tmpl", self.dir / "apache2.conf",
            self.values(APACHE_MODULES="/usr/lib/apache2/modules", APACHE_USER=self.user,
                        APACHE_GROUP=self.user, ALIAS_PORT=self.alias_port, ALIAS_ROOT=self.alias_root),
        )
        return [str(self.binary()), "-f", str(conf), "-DFOREGROUND"]

    def log(self) -> Path:
        return self.dir / "error.log"

    def info(self) -> ServerInfo:
        version = self.version_output("-v").replace("Server version: ", "")
        return self.base_info(
            f"davs://{HOST}:{self.port}/", version,
            extra={
                "https_url": f"https://{HOST}:{self.port}/",
                # The same Apache, share at `Alias /dav/ alias_root/`: "/dav" itself answers 403.
                "alias_url": f"davs://{HOST}:{self.alias_port}/dav/",
                "alias_port": self.alias_port,
                "alias_root": str(self.alias_root),
            },
        )


class _Ftp(_Server):
    """Shared by the FTP servers: the local test user and a passive port range."""

    probe_kind = "ftp-explicit"

    def missing(self) -> str | None:
        reason = super().missing()
        if reason:
            return reason
        try:
            pwd.getpwnam(FTP_USER)
        except KeyError:
            return f"FTP test user {FTP_USER} does not exist ({_SETUP_HINT})"
        return None

    def ftp_values(self, **more: object) -> dict[str, object]:
        self.pasv = self.ctx.ports.range(PASV_PORTS)
        self.chown_root_to(FTP_USER)
        return self.values(PASV_MIN=self.pasv[0], PASV_MAX=self.pasv[1], **more)

    def ftp_info(self, scheme: str, version: str) -> ServerInfo:
        return self.base_info(
            f"{scheme}://{HOST}:{self.port}/", version, username=FTP_USER, password=FTP_PASSWORD,
            password_file=self.ctx.run / "ftp-password.txt",
            extra={"passive_ports": list(self.pasv)},
        )


class _Vsftpd(_Ftp):
    package = "vsftpd"
    implicit = False

    def binary(self) -> Path | None:
        return _find("vsftpd")

    def prepare(self) -> list[str]:
        # vsftpd insists on an empty, root-owned, non-writable secure_chroot_dir.
        empty = self.dir / "empty"
        empty.mkdir(exist_ok=True)
        empty.chmod(0o755)
        conf = render_file(
            TEMPLATES / "vsftpd/vsftpd.conf.tmpl", self.dir / "vsftpd.conf",
            self.ftp_values(PAM_SERVICE=PAM_SERVICE, SECURE_CHROOT=empty,
                            IMPLICIT="YES" if self.implicit else "NO"),
        )
        conf.chmod(0o600)  # vsftpd refuses a config file others may write
        return [str(self.binary()), str(conf)]

    def log(self) -> Path:
        return self.dir / "vsftpd.log"

    def info(self) -> ServerInfo:
        # `vsftpd -v` prints its version on stdin's fd (0) of all places: read it via a pipe.
        binary = self.binary()
        out = subprocess.run(f"{binary} -v 0>&1", shell=True, capture_output=True, text=True, check=False)
        version = (out.stdout + out.stderr).strip().replace("vsftpd: version ", "vsftpd ") or "vsftpd ?"
        return self.ftp_info("ftps" if self.implicit else "ftpes", version)


class _VsftpdExplicit(_Vsftpd):
    name = "vsftpd-explicit"


class _VsftpdImplicit(_Vsftpd):
    name = "vsftpd-implicit"
    implicit = True
    probe_kind = "ftp-implicit"


class _Proftpd(_Ftp):
    name = "proftpd"
    package = "proftpd-core"

    def binary(self) -> Path | None:
        return _find("proftpd")

    def modules(self) -> Path:
        return next(
            (p for p in (PREFIX / "usr/lib/proftpd", Path("/usr/lib/proftpd")) if (p / "mod_tls.so").exists()),
            PREFIX / "usr/lib/proftpd",
        )

    def missing(self) -> str | None:
        if self.binary() and not (self.modules() / "mod_tls.so").exists():
            return f"proftpd-mod-crypto (mod_tls) is not installed ({_SETUP_HINT})"
        return super().missing()

    def prepare(self) -> list[str]:
        conf = render_file(
            TEMPLATES / "proftpd/proftpd.conf.tmpl", self.dir / "proftpd.conf",
            self.ftp_values(PROFTPD_MODULES=self.modules()),
        )
        # -n: foreground; -q: quiet start-up; -c: our config only.
        return [str(self.binary()), "-n", "-c", str(conf)]

    def log(self) -> Path:
        return self.dir / "tls.log"

    def info(self) -> ServerInfo:
        return self.ftp_info("ftpes", self.version_output("-v"))


class _Pureftpd(_Ftp):
    name = "pureftpd"
    package = "pure-ftpd"

    def binary(self) -> Path | None:
        return _find("pure-ftpd")

    def prepare(self) -> list[str]:
        pki = self.ctx.pki
        bundle = self.dir / "pure-ftpd.pem"
        # Leaf + intermediate (sent to clients), key, and the root CA that client certificates
        # must chain to: pure-ftpd loads its trusted client CAs from this same file.
        bundle.write_bytes(pki.server_cert.read_bytes() + pki.server_key.read_bytes() + pki.root_ca.read_bytes())
        bundle.chmod(0o600)
        self.make_user()
        args = render_file(
            TEMPLATES / "pureftpd/pure-ftpd.args.tmpl", self.dir / "pure-ftpd.args",
            self.ftp_values(PUREFTPD_PEM=bundle),
        )
        lines = [ln.strip() for ln in args.read_text().splitlines()]
        return [str(self.binary()), *(ln for ln in lines if ln and not ln.startswith("#"))]

    def make_user(self) -> None:
        """A virtual user in a per-run PureDB whose home (chroot) is this server's root."""
        pure_pw = _find("pure-pw")
        if not pure_pw:
            raise BedError(f"pure-pw not found (package pure-ftpd-common; {_SETUP_HINT})")
        subprocess.run(
            [str(pure_pw), "useradd", FTP_USER, "-u", FTP_USER, "-g", FTP_USER, "-d", str(self.root),
             "-f", str(self.dir / "pureftpd.passwd"), "-F", str(self.dir / "pureftpd.pdb"), "-m"],
            input=f"{FTP_PASSWORD}\n{FTP_PASSWORD}\n", text=True, capture_output=True, check=True,
        )
        # pure-pw hashes with a deliberately slow KDF: 3.4 s per login on this machine, paid by
        # every test.  A SHA-512 crypt hash (pure-ftpd checks it with crypt(3)) is as valid here.
        passwd = self.dir / "pureftpd.passwd"
        fast = subprocess.run(["openssl", "passwd", "-6", "-stdin"], input=FTP_PASSWORD, text=True,
                              capture_output=True, check=True).stdout.strip()
        user, _slow, rest = passwd.read_text().split(":", 2)
        passwd.write_text(f"{user}:{fast}:{rest}")
        subprocess.run(
            [str(pure_pw), "mkdb", str(self.dir / "pureftpd.pdb"), "-f", str(passwd)],
            capture_output=True, check=True,
        )

    def info(self) -> ServerInfo:
        version = self.version_output("--help").split(" [")[0]
        return self.ftp_info("ftpes", version)


class _Pyas2(_Server):
    name = "pyas2"
    package = "django-pyas2"

    def binary(self) -> Path | None:
        gunicorn = PYAS2_VENV / "bin/gunicorn"
        return gunicorn if gunicorn.exists() else None

    def missing(self) -> str | None:
        return None if self.binary() else f"django-pyas2 venv {PYAS2_VENV} is missing ({_SETUP_HINT})"

    def env(self) -> dict[str, str]:
        return {**super().env(), "DJANGO_SETTINGS_MODULE": "xfer_as2_settings", "PYTHONPATH": str(self.dir)}

    def prepare(self) -> list[str]:
        pki = self.ctx.pki
        values = self.values()
        render_file(TEMPLATES / "pyas2/settings.py.tmpl", self.dir / "xfer_as2_settings.py", values)
        shutil.copy(TEMPLATES / "pyas2/xfer_as2_urls.py", self.dir / "xfer_as2_urls.py")
        conf = render_file(TEMPLATES / "pyas2/gunicorn.conf.py.tmpl", self.dir / "gunicorn.conf.py", values)
        python = str(PYAS2_VENV / "bin/python")
        with self.console.open("ab") as out:
            for cmd in (
                [python, "-m", "django", "migrate", "--noinput", "-v", "0"],
                [python, str(TEMPLATES / "pyas2/bootstrap.py"), str(pki.folder)],
            ):
                done = subprocess.run(cmd, cwd=self.dir, env=self.env(), stdout=subprocess.PIPE,
                                      stderr=out, check=False)
                out.write(done.stdout)
                if done.returncode != 0:
                    out.flush()
                    raise BedError(self.failure(f"set-up step {cmd[1:3]} failed"))
        self.as2 = json.loads(done.stdout.decode().strip().splitlines()[-1])
        return [str(self.binary()), "-c", str(conf), "xfer_as2_wsgi:application"]

    def launch(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        (self.dir / "xfer_as2_wsgi.py").write_text(
            "from django.core.wsgi import get_wsgi_application\napplication = get_wsgi_application()\n"
        )
        super().launch()

    def log(self) -> Path:
        return self.dir / "pyas2.log"

    def info(self) -> ServerInfo:
        versions = []
        for dist in ("django-pyas2", "pyas2lib", "Django", "gunicorn"):
            found = list((PYAS2_VENV / "lib").glob(f"python3*/site-packages/{dist.replace('-', '_')}-*.dist-info"))
            version = found[0].name.removesuffix(".dist-info").split("-", 1)[1] if found else "?"
            versions.append(f"{dist} {version}")
        pki = self.ctx.pki
        org = self.as2["organization"]
        info = self.base_info(
            f"https://{HOST}:{self.port}/pyas2/as2receive", versions[0],
            extra={
                "endpoint": f"https://{HOST}:{self.port}/pyas2/as2receive",
                "as2_to": org, "partners": self.as2["partners"],
                "partner_cert": str(pki.partner_cert),
                "inbox": {p: str(self.root / "messages" / org / "inbox" / p) for p in self.as2["partners"]},
                "stack": ", ".join(versions),
            },
        )
        info.root = self.root / "messages" / org / "inbox"
        info.package = versions[0] + " (own venv)"
        return info


class _Sshd(_Server):
    """OpenSSH's sshd, SFTP only (internal-sftp), chrooted, trusting the test user CA."""

    name = "sshd"
    package = "openssh-server"
    probe_kind = "ssh"

    def binary(self) -> Path | None:
        return _find("sshd")

    def missing(self) -> str | None:
        reason = super().missing()
        if reason:
            return reason
        try:
            pwd.getpwnam(SFTP_USER)
        except KeyError:
            return f"SFTP test user {SFTP_USER} does not exist ({_SETUP_HINT})"
        return None

    def prepare(self) -> list[str]:
        from xfer.testing.sftp_server import create_ssh_keys

        self.keys = create_ssh_keys(self.ctx.run / "ssh", user=SFTP_USER)
        self.chroot = SFTP_CHROOT_BASE / f"sftp-{self.ctx.run.name}"
        for folder in (SFTP_CHROOT_BASE, self.chroot):
            folder.mkdir(exist_ok=True)
            folder.chmod(0o755)  # root-owned, writable by no one else: sshd's chroot rule
        self.root = self.chroot / "upload"
        self.root.mkdir(exist_ok=True)
        self.chown_root_to(SFTP_USER)
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # Debian's privilege-separation folder
        conf = render_file(
            TEMPLATES / "sshd/sshd_config.tmpl", self.dir / "sshd_config",
            self.values(HOST_KEY=self.keys.host_key, HOST_CERT=self.keys.host_cert,
                        USER_CA=f"{self.keys.user_ca}.pub", SFTP_USER=SFTP_USER, CHROOT=self.chroot),
        )
        # -D: foreground; -e: log to stderr (the console log); -f: our config only.
        return [str(self.binary()), "-D", "-e", "-f", str(conf)]

    def wait_ready(self, deadline: float) -> ProbeResult:
        """Ready when sshd sends its SSH-2.0 banner (there is no TLS to probe)."""
        while time.monotonic() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise BedError(self.failure(f"exited with status {self.proc.returncode}"))
            with contextlib.suppress(OSError), socket.create_connection((HOST, self.port), timeout=2.0) as sock:
                banner = sock.recv(256)
                if banner.startswith(b"SSH-2.0-"):
                    return ProbeResult(True, None, banner.decode(errors="replace").strip())
            time.sleep(0.1)
        raise BedError(self.failure(f"not ready after {READY_TIMEOUT:.0f} s"))

    def info(self) -> ServerInfo:
        keys = self.keys
        return self.base_info(
            f"sftp://{SFTP_USER}@{HOST}:{self.port}/upload/", self.version_output("-V"), username=SFTP_USER,
            extra={
                "chroot": str(self.chroot), "ssh_keys": str(keys.folder), "client_key": str(keys.client_key),
                "passphrase_file": str(keys.passphrase_file), "known_hosts_ca": str(keys.known_hosts_ca),
                "host_fingerprint": keys.host_fingerprint(),
            },
        )


_KINDS: dict[str, type[_Server]] = {
    k.name: k for k in (_Nginx, _Apache, _VsftpdExplicit, _VsftpdImplicit, _Proftpd, _Pureftpd, _Pyas2, _Sshd)
}


@dataclass
class Bed:
    """A running (or described) test bed.  See the module docstring for the contract."""

    run_dir: Path
    servers: dict[str, ServerInfo]
    missing: dict[str, str]
    pki_folder: Path
    profiles_dir: Path
    pki: Any = None  # xfer.testing.pki.TestPKI when started in this process

    @classmethod
    def start(
        cls,
        run_dir: str | os.PathLike[str],
        pki: Any = None,
        *,
        names: tuple[str, ...] | list[str] | None = None,
        require_all: bool = False,
    ) -> Bed:
        """Start the named servers (default: all) under ``run_dir`` and wait until each is ready.

        ``pki`` is a :class:`xfer.testing.pki.TestPKI`; None makes a fresh one in ``run_dir/pki``.
        """
        from xfer.testing.pki import create_pki

        run = Path(run_dir).resolve()
        run.mkdir(parents=True, exist_ok=True)
        # Servers drop privileges (www-data, xferftp) and must still reach their folders.
        run.chmod(0o711)
        pki = pki or create_pki(run / "pki")
        ctx = _Ctx(run, pki, _Ports())
        wanted = list(names or SERVER_NAMES)
        unknown = set(wanted) - set(_KINDS)
        if unknown:
            raise ValueError(f"unknown servers {sorted(unknown)}; known: {', '.join(SERVER_NAMES)}")
        servers = [_KINDS[n](ctx) for n in wanted]
        missing = {s.name: reason for s in servers if (reason := s.missing())}
        if missing and require_all:
            raise BedError("missing servers: " + "; ".join(f"{k}: {v}" for k, v in missing.items()))
        servers = [s for s in servers if s.name not in missing]
        (run / "ftp-password.txt").write_text(FTP_PASSWORD)
        (run / "ftp-password.txt").chmod(0o600)

        bed = cls(run, {}, missing, Path(pki.folder), run / "profiles", pki)
        started: list[_Server] = []

        def bring_up(server: _Server) -> ServerInfo:
            t0 = time.monotonic()
            try:
                server.launch()
            finally:
                if server.proc is not None:
                    started.append(server)
            server.wait_ready(t0 + READY_TIMEOUT)
            info = server.info()
            info.start_seconds = round(time.monotonic() - t0, 2)
            return info

        try:
            with concurrent.futures.ThreadPoolExecutor(max_workers=len(servers) or 1) as pool:
                futures = {s.name: pool.submit(bring_up, s) for s in servers}
                errors = []
                for name, fut in futures.items():
                    try:
                        bed.servers[name] = fut.result()
                    except Exception as exc:  # collect all failures, then report together
                        errors.append(str(exc) if isinstance(exc, BedError) else f"{name}: {exc!r}")
            if errors:
                raise BedError("\n\n".join(errors))
        except BaseException:
            for server in started:
                if server.proc is not None:
                    _kill_group(server.proc.pid)
            raise
        bed.save()
        bed.write_profiles()
        return bed

    # -- persistence, so `python -m integration down/status` can find a bed started earlier ----
    def save(self) -> None:
        data = {
            "run_dir": str(self.run_dir), "pki_folder": str(self.pki_folder),
            "profiles_dir": str(self.profiles_dir), "missing": self.missing,
            "servers": {k: v.to_json() for k, v in self.servers.items()},
        }
        (self.run_dir / "bed.json").write_text(json.dumps(data, indent=2))

    @classmethod
    def load(cls, run_dir: str | os.PathLike[str]) -> Bed:
        data = json.loads((Path(run_dir) / "bed.json").read_text())
        return cls(
            Path(data["run_dir"]),
            {k: ServerInfo.from_json(v) for k, v in data["servers"].items()},
            data["missing"], Path(data["pki_folder"]), Path(data["profiles_dir"]),
        )

    def stop(self) -> None:
        """Stop every server this bed started (by process group of the recorded PID); idempotent."""
        for info in self.servers.values():
            _kill_group(info.pid)
            chroot = info.extra.get("chroot")
            if chroot and Path(chroot).parent == SFTP_CHROOT_BASE:
                shutil.rmtree(chroot, ignore_errors=True)

    def alive(self) -> dict[str, bool]:
        return {name: _alive(info.pid) for name, info in self.servers.items()}

    # -- description -------------------------------------------------------------------------
    def survey(self) -> None:
        """Probe each server: TLS versions it accepts with the good identity, and whether it lets
        a client in without a certificate (``mtls_required``).  Saved to ``bed.json``."""
        pki_dir = self.pki_folder
        ca, cert, key = pki_dir / "ca.pem", pki_dir / "client.pem", pki_dir / "client.key"
        for info in self.servers.values():
            if info.probe_kind == "ssh":
                continue  # no TLS; client authentication is by certificate (TrustedUserCAKeys)
            info.tls_versions = []
            for version in ("1.2", "1.3"):
                res = probe(info.probe_kind, info.host, info.port, ca=ca, cert=cert, key=key, version=version)
                if res.accepted and res.tls_version:
                    info.tls_versions.append(res.tls_version)
            anonymous = probe(info.probe_kind, info.host, info.port, ca=ca)
            info.mtls_required = not anonymous.accepted
        self.save()

    def table(self) -> str:
        """The closing-note table: server, version, port, mTLS required, TLS versions, start time."""
        rows = [("server", "version", "package", "port", "mTLS required", "TLS versions", "start s")]
        for info in self.servers.values():
            mtls = {True: "yes", False: "NO", None: "?"}[info.mtls_required]
            rows.append((info.name, info.version, info.package, str(info.port), mtls,
                         " ".join(info.tls_versions) or "?", f"{info.start_seconds:.2f}"))
        for name, reason in self.missing.items():
            rows.append((name, "MISSING", reason, "-", "-", "-", "-"))
        widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
        return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows)

    def write_profiles(self) -> Path:
        """Ready-to-use xfer profiles (one TOML per target) in ``run_dir/profiles``."""
        folder = self.profiles_dir
        ports = {name: info.port for name, info in self.servers.items()}
        tables = profile_tables(
            "127.0.0.1",
            {**dict.fromkeys(COMPOSE_PORTS, 0), **ports},
            pki=self.pki_folder,
            ftp_password_file=self.run_dir / "ftp-password.txt",
            ssh_keys=self.run_dir / "ssh",
            sftp_user=SFTP_USER,
            available=set(self.servers),
        )
        header = f"# xfer test bed profile (native run in {self.run_dir}); written by `python -m integration up`"
        write_tables(tables, folder, header)
        folder.chmod(0o700)  # like xfer's own config dir
        return folder


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie (our own child not yet reaped) is not alive in any useful sense.
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[-1][0] != "Z"
    except OSError:
        return False


def _kill_group(pid: int, timeout: float = 5.0) -> None:
    """SIGTERM the process group led by ``pid`` (the bed started it with a new session), then
    SIGKILL whatever is left after ``timeout``.  Does nothing if that group is gone."""
    try:
        if os.getpgid(pid) != pid:
            return  # the PID was recycled by some other process: not ours to kill
        os.killpg(pid, signal.SIGTERM)
    except (ProcessLookupError, PermissionError):
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.waitpid(pid, os.WNOHANG)  # reap if it is our child
        except ChildProcessError:
            pass
        if not _alive(pid):
            break
        time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)
