"""``xfer identity show``: what is inside a PKCS#12 file, and whether it can be used."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Optional

import typer

from ..errors import CertificateExpiring
from .common import JsonFlag, echo, emit_json, warn

if TYPE_CHECKING:
    from ..identity import IdentityInfo

__all__ = ["app"]

#: doctor's --warn-days without "or the server's": identity show reads a file, and has no server.
WarnDays = Annotated[
    Optional[int],  # noqa: UP045 - typer needs a runtime Optional
    typer.Option("--warn-days", metavar="N", min=0,
                 help="Exit 9 when the certificate expires within N days (for a monitoring cron)."),
]

app = typer.Typer(help="Inspect client identities: PKCS#12 bundles and OpenSSH certificates.", no_args_is_help=True)


@app.command("show")
def show(
    file: Annotated[str, typer.Argument(help="The .p12/.pfx file, or an OpenSSH certificate (KEY-cert.pub).")],
    identity_password: Annotated[
        Optional[str],  # noqa: UP045 - typer needs a runtime Optional
        typer.Option("--identity-password", help="Password reference (env:VAR, file:PATH, keyring:NAME, prompt)."),
    ] = None,
    json_output: JsonFlag = False,
    warn_days: WarnDays = None,
) -> None:
    """Subject, issuer, validity, key, usages, fingerprint and chain of an identity.

    An OpenSSH certificate (KEY-cert.pub): key ID, principals, validity and signing CA.
    """
    from ..identity import Identity, time_left
    from ..secrets import resolve

    if _is_ssh_certificate(file):
        _show_ssh_certificate(file, json_output)
        return
    password = resolve(identity_password, field_name="identity_password") if identity_password else None
    details = Identity.load(file, password).inspect()
    if json_output:
        emit_json(details.to_dict())
    else:
        _print(details)
    if warn_days is not None and details.days_left <= warn_days:
        left = time_left(details.not_after)
        when = left if left.startswith("expired") else f"expires in {details.days_left} days"
        raise CertificateExpiring(
            f"client certificate {details.subject} in {details.source} {when} "
            f"({details.not_after:%Y-%m-%d}), within --warn-days {warn_days}",
            hint="renew the identity before it expires (ask your CA or the partner for a new .p12)",
        )


def _print(details: IdentityInfo) -> None:
    from ..identity import time_left

    rows = [
        ("file", details.source),
        ("subject", details.subject),
        ("issuer", details.issuer),
        ("serial", details.serial),
        ("valid from", f"{details.not_before:%Y-%m-%d %H:%M} UTC"),
        ("valid until", f"{details.not_after:%Y-%m-%d %H:%M} UTC ({time_left(details.not_after)})"),
        ("key", f"{details.key_type}" + (f" {details.key_size} bits" if details.key_size else "")),
        ("key usage", ", ".join(details.key_usage) or "-"),
        ("extended key usage", ", ".join(details.extended_key_usage) or "- (any)"),
        ("client auth", "yes" if details.client_auth else "NO"),
        ("sha256", details.fingerprint_sha256),
    ]
    rows += [("chain", subject) for subject in details.chain] or [("chain", "- (leaf only)")]
    width = max(len(label) for label, _ in rows)
    for label, value in rows:
        echo(f"{label:<{width}}  {value}")
    for message in details.warnings:
        warn(message)


def _is_ssh_certificate(file: str) -> bool:
    """An OpenSSH certificate is one text line starting ``ALGO-cert-v01@openssh.com``."""
    try:
        with open(file, "rb") as handle:
            head = handle.read(80)
    except OSError:
        return False  # Identity.load says what is wrong with the file
    return b"-cert-v01@openssh.com " in head


def _show_ssh_certificate(file: str, json_output: bool) -> None:
    from ..protocols.sftp_certificates import read_certificate_facts

    facts = read_certificate_facts(file)
    if json_output:
        emit_json(facts.to_dict())
        return
    problem = facts.problem()
    until = f"{facts.valid_before:%Y-%m-%d %H:%M} UTC" if facts.valid_before else "forever"
    rows = [
        ("file", facts.path),
        ("type", f"OpenSSH {facts.kind} certificate ({facts.key_type})"),
        ("key ID", facts.key_id),
        ("serial", str(facts.serial)),
        ("principals", ", ".join(facts.principals) or "- (any)"),
        ("valid from", f"{facts.valid_after:%Y-%m-%d %H:%M} UTC" if facts.valid_after else "always"),
        ("valid until", until),
        ("signing CA", f"{facts.ca_type} {facts.ca_fingerprint}"),
    ]
    width = max(len(label) for label, _ in rows)
    for label, value in rows:
        echo(f"{label:<{width}}  {value}")
    if problem is not None:
        warn(f"this certificate {problem}")
