"""OpenSSH certificates read with the standard library: what ``xfer identity show`` prints.

The facts (key ID, principals, validity, signing CA) come from the certificate's own bytes
(PROTOCOL.certkeys), not from a library's private attributes, and need no SSH library: the
profile checks and ``identity show`` work where asyncssh is not installed.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import IdentityFileError, IdentityFormatError

__all__ = ["CertificateFacts", "certificate_beside", "read_certificate_facts", "ssh_fingerprint"]

#: The key-specific fields between the nonce and the serial of each certificate type (PROTOCOL.certkeys).
_KEY_FIELDS = {
    "ssh-ed25519": 1, "ssh-rsa": 2, "ssh-dss": 4, "ecdsa-sha2-nistp256": 2, "ecdsa-sha2-nistp384": 2,
    "ecdsa-sha2-nistp521": 2, "sk-ssh-ed25519@openssh.com": 2, "sk-ecdsa-sha2-nistp256@openssh.com": 3,
}
#: ``valid before`` of a certificate that never expires.
_FOREVER = 0xFFFFFFFFFFFFFFFF


def ssh_fingerprint(blob: bytes) -> str:
    """``SHA256:BASE64`` of a public key blob, as ssh-keygen -l prints it."""
    return "SHA256:" + base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")


@dataclass(frozen=True)
class CertificateFacts:
    """What an OpenSSH certificate says about itself."""

    path: str
    kind: str  # "user" or "host"
    key_type: str
    key_id: str
    serial: int
    principals: tuple[str, ...]
    valid_after: dt.datetime | None  # None: from the beginning of time
    valid_before: dt.datetime | None  # None: forever
    ca_type: str
    ca_fingerprint: str

    def problem(self, now: dt.datetime | None = None) -> str | None:
        """Why the certificate cannot be used now (expired, not yet valid), or None."""
        moment = now or dt.datetime.now(dt.timezone.utc)
        if self.valid_before is not None and moment >= self.valid_before:
            return f"expired on {self.valid_before:%Y-%m-%d %H:%M} UTC"
        if self.valid_after is not None and moment < self.valid_after:
            return f"is not valid before {self.valid_after:%Y-%m-%d %H:%M} UTC"
        return None

    def to_dict(self) -> dict[str, Any]:
        return {
            "file": self.path, "type": f"OpenSSH {self.kind} certificate", "key_type": self.key_type,
            "key_id": self.key_id, "serial": self.serial, "principals": list(self.principals),
            "valid_after": self.valid_after.isoformat() if self.valid_after else None,
            "valid_before": self.valid_before.isoformat() if self.valid_before else None,
            "signing_ca": f"{self.ca_type} {self.ca_fingerprint}",
        }


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data, self.at = data, 0

    def take(self, count: int) -> bytes:
        if self.at + count > len(self.data):
            raise ValueError("truncated")
        chunk = self.data[self.at:self.at + count]
        self.at += count
        return chunk

    def u32(self) -> int:
        return int(struct.unpack(">I", self.take(4))[0])

    def u64(self) -> int:
        return int(struct.unpack(">Q", self.take(8))[0])

    def string(self) -> bytes:
        return self.take(self.u32())


def _when(stamp: int) -> dt.datetime | None:
    if stamp in (0, _FOREVER):
        return None
    return dt.datetime.fromtimestamp(min(stamp, 253402300799), tz=dt.timezone.utc)


def read_certificate_facts(path: str | Path) -> CertificateFacts:
    """Parse ``path`` (``ALGO-cert-v01@openssh.com BASE64 [comment]``); IdentityFormatError if it is not one."""
    where = str(path)
    try:
        text = Path(path).read_text(encoding="ascii", errors="replace").split()
    except OSError as exc:
        raise IdentityFileError(f"cannot read the certificate {where}: {exc.strerror or exc}") from exc
    try:
        algorithm = text[0]
        blob = base64.b64decode(text[1], validate=True)
        reader = _Reader(blob)
        if reader.string().decode() != algorithm or not algorithm.endswith("-cert-v01@openssh.com"):
            raise ValueError("not an OpenSSH certificate")
        key_type = algorithm.removesuffix("-cert-v01@openssh.com")
        reader.string()  # nonce
        for _ in range(_KEY_FIELDS[key_type]):
            reader.string()
        serial = reader.u64()
        kind = {1: "user", 2: "host"}[reader.u32()]
        key_id = reader.string().decode("utf-8", "replace")
        names = _Reader(reader.string())
        principals = []
        while names.at < len(names.data):
            principals.append(names.string().decode("utf-8", "replace"))
        valid_after, valid_before = reader.u64(), reader.u64()
        reader.string()  # critical options
        reader.string()  # extensions
        reader.string()  # reserved
        ca_blob = reader.string()
        ca_type = _Reader(ca_blob).string().decode()
    except (IndexError, KeyError, ValueError, UnicodeDecodeError) as exc:
        raise IdentityFormatError(
            f"{where} is not an OpenSSH certificate",
            hint="a user certificate is the KEY-cert.pub that `ssh-keygen -s CA -I ID -n PRINCIPALS KEY.pub` writes",
        ) from exc
    return CertificateFacts(
        path=where, kind=kind, key_type=key_type, key_id=key_id, serial=serial, principals=tuple(principals),
        valid_after=_when(valid_after), valid_before=_when(valid_before), ca_type=ca_type,
        ca_fingerprint=ssh_fingerprint(ca_blob),
    )


def certificate_beside(key_file: str) -> Path | None:
    """OpenSSH's convention: the certificate of ``KEY`` is ``KEY-cert.pub``, if it exists."""
    candidate = Path(key_file + "-cert.pub")
    return candidate if candidate.is_file() else None
