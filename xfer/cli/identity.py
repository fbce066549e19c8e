"""``xfer identity show``: what is inside a PKCS#12 file, and whether it can be used."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from .common import JsonFlag, echo, emit_json, warn

__all__ = ["app"]

app = typer.Typer(help="Inspect PKCS#12 client identities.", no_args_is_help=True)


@app.command("show")
def show(
    file: Annotated[str, typer.Argument(help="The .p12/.pfx file.")],
    identity_password: Annotated[
        Optional[str],  # noqa: UP045 - typer needs a runtime Optional
        typer.Option("--identity-password", help="Password reference (env:VAR, file:PATH, keyring:NAME, prompt)."),
    ] = None,
    json_output: JsonFlag = False,
) -> None:
    """Subject, issuer, validity, key, usages, fingerprint and chain of an identity."""
    from ..identity import Identity
    from ..secrets import resolve

    password = resolve(identity_password, field_name="identity_password") if identity_password else None
    details = Identity.load(file, password).inspect()
    if json_output:
        emit_json(details.to_dict())
        return
    rows = [
        ("file", details.source),
        ("subject", details.subject),
        ("issuer", details.issuer),
        ("serial", details.serial),
        ("valid from", f"{details.not_before:%Y-%m-%d %H:%M} UTC"),
        ("valid until", f"{details.not_after:%Y-%m-%d %H:%M} UTC ({details.days_left} days left)"),
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
