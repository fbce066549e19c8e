"""What ``--help`` shows a newcomer: an example for every command, plain placeholders
(``SOURCE... TARGET``, ``--identity FILE``, not Typer's ``<list[str]>`` type labels), and on
``xfer --help`` the exit codes and the environment variables.

Examples live here, one table for the whole CLI, so that a test can hold every command to
having one; :func:`tidy` applies them and the placeholders to the click command tree once.

The pages are also stored, as Typer renders them, in :mod:`.help_pages` (``xfer --help``
prints them without importing Typer, issue 14); after changing any help text, examples or
options, run ``python -m xfer.cli.help_store`` to write that module again
(``tests/test_help_pages.py`` fails until it matches).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

__all__ = ["EXAMPLES", "ROOT_EPILOG", "tidy", "walk"]

#: Command path (without "xfer") -> example command lines, each one a line the CLI parses as
#: written (tests/test_cli_help.py parses every example of every page with the real parser).
EXAMPLES: dict[str, list[str]] = {
    "put": ["xfer put invoice.edi partner:/inbox/", "xfer put -r outgoing/ partner:/inbox/ -P 4",
            "pg_dump db | xfer put - partner:/inbox/db.sql",
            "xfer put report.csv https://files.example.com/in/ --identity me.p12 --identity-password env:PW"],
    "get": ["xfer get partner:/outbox/orders.csv .", "xfer get -r partner:/outbox/ incoming/",
            "xfer get 'partner:/outbox/*.csv' in/ --remove-source-files", "xfer get partner:/big.iso - | sha256sum",
            "xfer get --resume --retries 10 partner:/big.iso ."],
    "sync": ["xfer sync outbox/ partner:/inbox", "xfer sync partner:/outbox inbox/ -P 4 --remove-source-files",
             "xfer sync site/ partner:/www --delete --dry-run"],
    "ls": ["xfer ls partner:/outbox/", "xfer ls partner:/ --json"],
    "rm": ["xfer rm partner:/inbox/old.edi", "xfer rm -r partner:/inbox/tmp/"],
    "mkdir": ["xfer mkdir partner:/inbox/2026/11"],
    "mv": ["xfer mv partner:/inbox/a.edi done/a.edi", "xfer mv partner:/inbox/a.edi b.edi"],
    "demo": ["xfer demo", "xfer demo --json"],
    "doctor": ["xfer doctor partner",
               "xfer doctor ftpes://ftp.example.com/ --identity me.p12 --identity-password env:PW",
               "xfer doctor partner --json --warn-days 30"],
    "profile": ["xfer profile add partner ftpes://ftp.example.com/in --identity me.p12 --identity-password keyring",
                "xfer profile list", "xfer profile test partner"],
    "profile add": ["xfer profile add partner ftpes://ftp.example.com/in --identity ~/ids/me.p12 "
                    "--identity-password keyring --username acme --password env:FTP_PW",
                    "xfer profile add partner-as2 https://as2.example.com/as2 --protocol as2 --as2-from ACME "
                    "--as2-to PARTNER --as2-partner-cert partner.pem --identity me.p12 --identity-password keyring"],
    "profile list": ["xfer profile list", "xfer profile list --json"],
    "profile show": ["xfer profile show partner", "xfer profile show partner --json"],
    "profile rm": ["xfer profile rm partner"],
    "profile test": ["xfer profile test partner", "xfer profile test partner --json --warn-days 30"],
    "identity": ["xfer identity show me.p12 --identity-password prompt"],
    "identity show": ["xfer identity show me.p12 --identity-password prompt",
                      "xfer identity show me.p12 --identity-password env:PW --warn-days 30"],
    "as2": ["xfer as2 send invoice.edi partner-as2", "xfer as2 receipts"],
    "as2 send": ["xfer as2 send invoice.edi partner-as2", "xfer as2 send invoice.edi partner-as2:/INV-0042.edi"],
    "as2 resend": ["xfer as2 resend '<20261128.1234@example.com>'",
                   "xfer as2 resend '<20261128.1234@example.com>' --profile partner-as2"],
    "as2 receipts": ["xfer as2 receipts", "xfer as2 receipts --json --status not-delivered"],
    "as2 receipt": ["xfer as2 receipt '<20261128.1234@example.com>'"],
}

ROOT_EPILOG = """\b
Examples:
  xfer put invoice.edi partner:/inbox/
  xfer doctor partner
  xfer --install-completion          (then PROFILE: targets complete in the shell)

\b
Exit codes:
  0 ok   1 error   2 usage   3 config/profile   4 identity or TLS
  5 connect/timeout   6 remote (not found, denied)   7 integrity (size, checksum, MIC)
  8 unsupported   9 a certificate expires within --warn-days   130 interrupted

\b
Environment:
  XFER_CONFIG_DIR     folder of the configuration (profiles/NAME.toml)
  XFER_PROFILE_PATH   folders searched for profiles first (separated by ':' or ';' on Windows)
  XFER_DATA_DIR       folder of xfer's data (AS2 receipts in as2/receipts)
  ALL_PROXY           proxy for every protocol: http://HOST:PORT (CONNECT),
                      socks5:// or socks5h://; FTPS and SFTP read only this one
  HTTPS_PROXY         proxy for HTTPS, WebDAV and AS2 (before ALL_PROXY); these
                      also take https://HOST:PORT (TLS to the proxy)
  NO_PROXY            hosts reached directly (names, .domains, addresses)
  The --proxy option (profile key proxy) wins over these; "direct": no proxy.

Run `xfer COMMAND --help` for the options and examples of each command."""

#: Placeholder of an option's value, by option name; otherwise the name in capitals.
_OPTION_METAVARS = {
    "identity": "FILE", "identity_password": "REF", "password": "REF", "ca": "FILE", "pin": "SHA256:HEX",
    "username": "USER", "timeout": "SECONDS", "tls_min": "VERSION", "tls_max": "VERSION",
    "max_listing": "MIB", "parallel": "N", "warn_days": "N", "proxy": "URL", "retries": "N",
    "retry_wait": "SECONDS", "limit_rate": "RATE",
}


# Typer 0.29 vendors its own click (``typer._click``): commands and parameters are duck-typed here.


def walk(command: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    """Every command of the tree, with its path (``("profile", "add")``), the root first."""
    yield path, command
    # Typer's group is not a click.Group subclass; both keep their subcommands in ``commands``.
    for name, sub in getattr(command, "commands", {}).items():
        yield from walk(sub, (*path, name))


def _argument_usage(param: Any) -> str:
    name = param.metavar or (param.name or "ARG").upper()
    many = "..." if param.nargs != 1 else ""
    # Arguments declared optional only to give a clearer error when missing are still shown plain.
    return f"{name}{many}"


def _fixed(value: str) -> Any:
    return lambda *args, **kwargs: value


def _option_metavar(param: Any) -> str:
    if param.metavar:
        return str(param.metavar)
    return _OPTION_METAVARS.get(param.name or "", (param.name or "VALUE").upper().replace("_", "-"))


def tidy(root: Any) -> Any:
    """Examples as epilogs, plain placeholders; returns ``root`` (changed in place)."""
    root.epilog = ROOT_EPILOG
    for path, command in walk(root):
        examples = EXAMPLES.get(" ".join(path))
        if path and examples:
            block = "\n".join(f"  {line}" for line in examples)
            command.epilog = f"\b\nExamples:\n{block}" + (f"\n\n{command.epilog}" if command.epilog else "")
        for param in command.params:
            # Instance attributes win over Typer's methods: "SOURCE..." instead of "{SOURCE}..."
            # in the usage line, no "<list[str]>" type label beside an argument, "FILE" not "<str>".
            if param.param_type_name == "argument":
                param._usage_display_name = _fixed(_argument_usage(param))
                param._rich_display_name = _fixed(_argument_usage(param).removesuffix("..."))
                param.display_type_rich = _fixed("")
            elif not param.is_flag and not param.count:
                param.display_type_rich = _fixed(_option_metavar(param))
    return root

