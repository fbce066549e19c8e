"""``xfer as2 send/resend/receipts/receipt``: AS2 sends with control over the Message-ID, and receipts.

``xfer put FILE partner:`` sends over AS2 too; these commands add what only AS2 has: resending
a message that was not delivered under its original Message-ID (so the partner can recognise a
duplicate), and the receipt records every send leaves.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Optional

import typer

from ..errors import UsageError, XferError
from .common import (
    Connection,
    JsonFlag,
    QuietFlag,
    echo,
    emit_json,
    human_size,
    info,
    open_remote,
    warn,
    with_connection_options,
)
from .completion import complete_as2_target

if TYPE_CHECKING:
    from ..adapters.as2 import AS2Adapter
    from ..adapters.base import TransferResult
    from ..as2.receipts import Receipt

__all__ = ["app"]

app = typer.Typer(help="AS2: send with a chosen Message-ID, resend, and list receipts.", no_args_is_help=True)


def _as2_adapter(profile: str, connection: Connection) -> AS2Adapter:
    from ..adapters.as2 import AS2Adapter

    adapter = open_remote(profile, connection)
    if not isinstance(adapter, AS2Adapter):
        adapter.close()
        raise UsageError(f"{profile} is not an AS2 profile", hint='set protocol = "as2" in the profile')
    return adapter


def _send(
    adapter: AS2Adapter, file: str, filename: str | None, message_id: str | None, *, json_output: bool, quiet: bool,
    unless_delivered: bool = False,
) -> None:
    """One send; on failure the receipt is still printed with --json, then the error funnel runs."""
    try:
        result = adapter.send(file, filename=filename, message_id=message_id, unless_delivered=unless_delivered)
    except XferError:
        if json_output and adapter.last_receipt is not None:
            emit_json(adapter.last_receipt.to_dict())
        raise
    receipt = adapter.last_receipt
    assert receipt is not None
    if json_output:
        emit_json(receipt.to_dict())
    else:
        _summary(result, adapter, quiet=quiet)
    if receipt.warning:
        warn(f"{adapter.settings.server}: {receipt.warning} (message {receipt.message_id})")


def _summary(result: TransferResult, adapter: AS2Adapter, *, quiet: bool) -> None:
    where = f"{adapter.settings.profile_name or adapter.settings.server}:"
    rate = f" ({human_size(result.rate)}/s)" if result.elapsed > 0.05 else ""
    note = result.details.get("note", "")
    info(f"sent {result.local} -> {where}{result.remote}  {human_size(result.size)} in {result.elapsed:.2f} s"
         f"{rate}  {note}", quiet=quiet)


@app.command("send")
@with_connection_options
def send(
    file: Annotated[str, typer.Argument(help="The file to send (one file per AS2 message).")],
    target: Annotated[str, typer.Argument(help="AS2 profile: PROFILE or PROFILE:/NAME (NAME = file name sent).",
                                          autocompletion=complete_as2_target)],
    connection: Connection,
    resend: Annotated[
        Optional[str],  # noqa: UP045 - typer needs a runtime Optional
        typer.Option("--resend", metavar="MESSAGE-ID", help="Send again under this Message-ID (after a failure)."),
    ] = None,
    json_output: JsonFlag = False,
    quiet: QuietFlag = False,
) -> None:
    """Send a file to an AS2 partner and check the receipt (MDN)."""
    import posixpath

    from ..urls import parse_target

    parsed = parse_target(target if ":" in target else f"{target}:")
    if not parsed.profile:
        raise UsageError('AS2 sends need a profile (protocol = "as2"), not a URL', hint="xfer profile add ...")
    adapter = _as2_adapter(parsed.profile, connection)
    with adapter:
        _send(adapter, file, posixpath.basename(parsed.path) or None, resend, json_output=json_output, quiet=quiet)


@app.command("resend")
@with_connection_options
def resend_command(
    message_id: Annotated[str, typer.Argument(metavar="MESSAGE-ID", help="The Message-ID of the earlier attempt.")],
    connection: Connection,
    profile: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option("--profile", help="Send with this profile instead of the one recorded in the receipt."),
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Resend even if the partner confirmed it.")] = False,
    json_output: JsonFlag = False,
    quiet: QuietFlag = False,
) -> None:
    """Resend a message that was not delivered, with the same file and the same Message-ID."""
    from ..as2.receipts import ReceiptStore

    receipt = ReceiptStore().load(message_id)
    if not force:
        receipt.require_undelivered()
    name = profile or receipt.profile
    if not name:
        raise UsageError("the receipt names no profile", hint="pass --profile NAME")
    # The adapter refuses content other than the record's before anything is sent (also for
    # `send --resend`): Receipt.require_content.
    adapter = _as2_adapter(name, connection)
    with adapter:
        # Asked again under the record's lock: another resend may have been confirmed meanwhile.
        _send(adapter, receipt.file, receipt.filename, receipt.message_id, json_output=json_output, quiet=quiet,
              unless_delivered=not force)


def _row(receipt: Receipt) -> str:
    when = receipt.created.replace("T", " ").replace("+00:00", "Z")
    return f"{when}  {receipt.status:<16} {receipt.profile or '-':<14} {receipt.filename}  {receipt.message_id}"


@app.command("receipts")
def receipts(
    json_output: JsonFlag = False,
    limit: Annotated[int, typer.Option("--limit", "-n", help="Show at most this many (newest first).")] = 50,
    status: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option("--status", help="Only receipts with this status (e.g. not-delivered)."),
    ] = None,
) -> None:
    """List the receipts of AS2 messages sent from this account, newest first."""
    from ..as2.receipts import ReceiptStore

    store = ReceiptStore()
    found = [r for r in store.list() if status is None or r.status == status][: max(limit, 0)]
    if json_output:
        emit_json([r.to_dict() for r in found])
        return
    if not found:
        info(f"no AS2 receipts in {store.folder}")
        return
    for receipt in found:
        echo(_row(receipt))


@app.command("receipt")
def receipt_command(
    message_id: Annotated[str, typer.Argument(metavar="MESSAGE-ID", help="Message-ID (with or without < >).")],
    json_output: JsonFlag = False,
) -> None:
    """Show one receipt: what was sent, the MIC, and what the partner's MDN said."""
    from ..as2.receipts import ReceiptStore

    receipt = ReceiptStore().load(message_id)
    if json_output:
        emit_json(receipt.to_dict())
        return
    rows = [
        ("message id", receipt.message_id),
        ("status", receipt.summary),
        ("profile", receipt.profile or "-"),
        ("to", f"{receipt.as2_to} at {receipt.url}"),
        ("file", f"{receipt.file} ({receipt.size} bytes, sent as {receipt.filename})"),
        ("sha256", receipt.sha256 or "-"),
        ("security", ", ".join(x for x in (receipt.sign and f"signed {receipt.sign}",
                                           receipt.encrypt and f"encrypted {receipt.encrypt}",
                                           receipt.compress and "compressed") if x) or "none"),
        ("mic", f"{receipt.mic}, {receipt.mic_algorithm}"
                + {True: " (matched)", False: " (DIFFERS)", None: ""}[receipt.mic_matched]),
        ("disposition", receipt.disposition or "-"),
        ("warning", receipt.warning or "-"),
        ("mdn text", " ".join((receipt.mdn_text or "-").split())),
        ("error", receipt.error or "-"),
        ("attempts", str(receipt.attempts)),
        ("created", receipt.created),
        ("updated", receipt.updated),
    ]
    width = max(len(label) for label, _ in rows)
    for label, value in rows:
        echo(f"{label:<{width}}  {value}")
