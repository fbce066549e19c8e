"""The client's SSH identity: a private key, its passphrase, and its OpenSSH user certificate.

:func:`load_client_key` loads the key and certificate with asyncssh for the connection, and
refuses what cannot work before a byte goes to the server: a wrong passphrase, a certificate
for another key, an expired one.  The certificate's facts come from
:mod:`xfer.protocols.sftp_certificates` (standard library only).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ...errors import (
    ConfigError,
    IdentityExpired,
    IdentityFileError,
    IdentityFormatError,
    IdentityKeyMissing,
    IdentityPasswordError,
)
from ...protocols.sftp_certificates import CertificateFacts, certificate_beside, read_certificate_facts

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["ClientKey", "load_client_key"]

@dataclass(frozen=True)
class ClientKey:
    """A loaded key (asyncssh ``SSHKey``), its certificate if any, and the certificate's facts."""

    key: Any
    certificate: Any | None
    facts: CertificateFacts | None
    path: str


def load_client_key(
    key_file: str, password: Callable[[], str | None] | None, certificate: str | None,
) -> ClientKey:
    """Load ``key_file`` (OpenSSH, PEM or PKCS#8) and its certificate, checked for use now.

    The passphrase is asked for (``password()``) only when the key is encrypted.
    """
    import asyncssh

    try:
        data = Path(key_file).read_bytes()
    except OSError as exc:
        raise IdentityFileError(f"cannot read the SSH key {key_file}: {exc.strerror or exc}") from exc
    try:
        key = asyncssh.import_private_key(data)
    except ValueError as exc:  # KeyImportError, or a plain ValueError from the cryptography under it
        if "passphrase" not in str(exc).lower():
            raise IdentityFormatError(
                f"{key_file} is not an SSH private key ({exc})",
                hint="give the private key (OpenSSH, PEM or PKCS#8), not the .pub file or a PKCS#12 bundle",
            ) from exc
        secret = password() if password is not None else None
        if not secret:
            raise IdentityPasswordError(
                f"the SSH key {key_file} is encrypted and no passphrase was given",
                hint="pass --identity-password env:VAR (or file:PATH, keyring, prompt)",
            ) from exc
        try:
            key = asyncssh.import_private_key(data, secret)
        except (asyncssh.KeyEncryptionError, asyncssh.KeyImportError) as wrong:
            said = str(wrong)
            if "bcrypt" in said:  # asyncssh without its bcrypt extra: not the passphrase's fault
                raise ConfigError(
                    f"opening the passphrase-protected SSH key {key_file} needs the Python package bcrypt",
                    hint="pip install 'xfer[sftp]' (it brings asyncssh[bcrypt])",
                ) from wrong
            if said.startswith("Unknown"):
                raise IdentityFormatError(f"the SSH key {key_file} is encrypted in a way xfer cannot read ({said})",
                                          ) from wrong
            raise IdentityPasswordError(
                f"wrong passphrase for the SSH key {key_file}",
                hint="check the reference given with --identity-password (identity_password in the profile)",
            ) from wrong
        except ValueError as malformed:
            # Not the passphrase: the key's own encryption fields are broken (a PEM key's IV of
            # the wrong length fails in the cipher, before any passphrase is tried).
            raise IdentityFormatError(
                f"the SSH key {key_file} is encrypted but malformed ({malformed})",
                hint="the file may be truncated or damaged: use an intact copy of the key",
            ) from malformed
    cert_path = Path(certificate) if certificate else certificate_beside(key_file)
    if cert_path is None:
        return ClientKey(key=key, certificate=None, facts=None, path=key_file)
    facts = read_certificate_facts(cert_path)
    try:
        cert = asyncssh.read_certificate(str(cert_path))
    except (OSError, asyncssh.KeyImportError) as exc:
        raise IdentityFormatError(f"{cert_path} is not a usable OpenSSH certificate ({exc})") from exc
    if facts.kind != "user":
        raise IdentityFormatError(f"{cert_path} is a host certificate; a client presents a user certificate")
    if cert.key.public_data != key.public_data:
        raise IdentityKeyMissing(
            f"the certificate {cert_path} (key ID {facts.key_id!r}) was issued for another key than {key_file}",
            hint="use the key the certificate was signed for, or name its certificate with [sftp] certificate",
        )
    problem = facts.problem()
    if problem is not None:
        raise IdentityExpired(
            f"the SSH certificate {cert_path} (key ID {facts.key_id!r}) {problem}",
            hint="ask the CA for a new certificate (ssh-keygen -s CA ... KEY.pub)",
        )
    return ClientKey(key=key, certificate=cert, facts=facts, path=key_file)
