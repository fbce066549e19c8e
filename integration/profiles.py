"""xfer profiles (TOML, as :mod:`xfer.profiles` reads them) pointing at a bed's servers.

Used twice: by the native launcher (absolute paths, ports of this run; ``Bed.write_profiles``)
and to regenerate the repository's example ``profiles/`` for docker-compose (fixed ports, paths
relative to the checkout) via ``python -m integration compose-profiles``.  Secrets are references
only (``file:``).  Plain data in, files out: this module knows nothing of :mod:`integration.bed`
(which imports it), so the two never import each other.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

__all__ = ["COMPOSE_PORTS", "profile_tables", "write_tables"]

# Fixed ports of docker-compose.yml (published on 127.0.0.1 only).  The compose test checks that
# these, the compose file and profiles/ agree.
COMPOSE_PORTS: dict[str, int] = {
    "nginx": 8443, "nginx-wrong-host": 8444, "apache": 8445, "pyas2": 8446,
    "vsftpd-explicit": 2121, "vsftpd-implicit": 2990, "proftpd": 2122, "pureftpd": 2123, "sshd": 2222,
}
COMPOSE_PASV: dict[str, tuple[int, int]] = {
    "vsftpd-explicit": (30000, 30009), "vsftpd-implicit": (30010, 30019),
    "proftpd": (30020, 30029), "pureftpd": (30030, 30039),
}


def profile_tables(
    host: str,
    ports: dict[str, int],
    *,
    pki: Path,
    ftp_password_file: Path,
    ftp_user: str = "xferftp",
    ssh_keys: Path | None = None,
    sftp_user: str = "xfersftp",
    available: set[str] | None = None,
) -> dict[str, dict[str, Any]]:
    """Profile name → TOML table.  ``pki`` is the test PKI folder (client.p12, ca.pem, ...);
    ``ssh_keys`` the SSH test keys (xfer.testing.sftp_server), default ``pki/ssh``."""
    ssh = ssh_keys if ssh_keys is not None else pki / "ssh"
    common = {
        "identity": str(pki / "client.p12"),
        "identity_password": f"file:{pki / 'password.txt'}",
        "ca": str(pki / "ca.pem"),
    }
    ftp = {**common, "username": ftp_user, "password": f"file:{ftp_password_file}"}
    p = ports
    tables: dict[str, tuple[str, dict[str, Any]]] = {
        "nginx-https": ("nginx", {"url": f"https://{host}:{p['nginx']}/", **common}),
        "nginx-webdav": ("nginx", {"url": f"davs://{host}:{p['nginx']}/", **common}),
        "apache-webdav": ("apache", {"url": f"davs://{host}:{p['apache']}/", **common}),
        "vsftpd-explicit": ("vsftpd-explicit", {"url": f"ftpes://{host}:{p['vsftpd-explicit']}/", **ftp}),
        "vsftpd-implicit": ("vsftpd-implicit", {"url": f"ftps://{host}:{p['vsftpd-implicit']}/", **ftp}),
        "proftpd": ("proftpd", {"url": f"ftpes://{host}:{p['proftpd']}/", **ftp}),
        "pureftpd": ("pureftpd", {"url": f"ftpes://{host}:{p['pureftpd']}/", **ftp}),
        "pyas2": (
            "pyas2",
            {
                "url": f"https://{host}:{p['pyas2']}/pyas2/as2receive",
                "protocol": "as2",
                **common,
                "as2": {
                    "as2_from": "XFERCLIENT",
                    "as2_to": "XFERPARTNER",
                    "partner_cert": str(pki / "partner.pem"),
                    "sign": "sha256",
                    "encrypt": "aes256-cbc",
                    "compress": True,
                    "mdn": "signed-sync",
                },
            },
        ),
        "sshd-sftp": (
            "sshd",
            {
                "url": f"sftp://{sftp_user}@{host}:{p['sshd']}/upload/",
                "identity": str(ssh / "client_key"),
                "identity_password": f"file:{ssh / 'passphrase.txt'}",
                "sftp": {"known_hosts": str(ssh / "known_hosts_ca")},
            },
        ),
    }
    return {name: table for name, (server, table) in tables.items() if available is None or server in available}


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    text = str(value).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{text}"'


def _to_toml(table: dict[str, Any], header: str) -> str:
    # Hand-written (flat tables only) so the bed needs nothing beyond the stdlib.
    lines = [header]
    subtables = {k: v for k, v in table.items() if isinstance(v, dict)}
    lines += [f"{k} = {_toml_value(v)}" for k, v in table.items() if k not in subtables]
    for name, sub in subtables.items():
        lines += ["", f"[{name}]", *(f"{k} = {_toml_value(v)}" for k, v in sub.items())]
    return "\n".join(lines) + "\n"


def write_tables(tables: dict[str, dict[str, Any]], folder: Path, header: str) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, table in tables.items():
        path = folder / f"{name}.toml"
        path.write_text(_to_toml(table, header))
        written.append(path)
    return written

