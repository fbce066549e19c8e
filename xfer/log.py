"""The ``xfer`` logger tree, and what it must never show.

Every protocol trace goes through the stdlib :mod:`logging` logger ``xfer`` (children:
``xfer.tls``, ``xfer.ftp``, ``xfer.http``...), so a library user gets the same records as
the CLI's ``-v``/``-vv`` by configuring logging as usual::

    logging.basicConfig()
    logging.getLogger("xfer").setLevel(logging.INFO)     # -v:  TLS summary, commands, statuses, timings
    logging.getLogger("xfer").setLevel(logging.DEBUG)    # -vv: also HTTP headers (secrets masked)

Secrets are masked before a record is made: FTP ``PASS`` arguments (and every reply is
already redacted by the FTPS connection), and the HTTP headers that carry credentials.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping

__all__ = ["MASK", "SECRET_HEADERS", "CLIHandler", "masked_command", "masked_headers", "verbosity_level"]

#: What a secret is replaced with in a log record.
MASK = "********"

#: Headers whose values are credentials (RFC 9110 §11.6, RFC 6265), compared case-insensitively.
SECRET_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie", "set-cookie"})


def masked_headers(headers: Mapping[str, str] | Iterable[tuple[str, str]]) -> str:
    """``Name: value`` pairs, one per line, with the credential headers' values masked."""
    pairs = headers.items() if isinstance(headers, Mapping) else headers
    return "; ".join(f"{name}: {MASK if name.lower() in SECRET_HEADERS else value}" for name, value in pairs)


def masked_command(line: str) -> str:
    """An FTP command as it may be shown: ``PASS`` (and ``ACCT``) lose their argument."""
    verb = line.split(" ", 1)[0].upper()
    return f"{line.split(' ', 1)[0]} {MASK}" if verb in ("PASS", "ACCT") and " " in line else line


def verbosity_level(verbosity: int) -> int:
    """0: warnings only, 1 (``-v``): INFO, 2+ (``-vv``): DEBUG."""
    return logging.WARNING if verbosity <= 0 else logging.INFO if verbosity == 1 else logging.DEBUG


class CLIHandler(logging.Handler):
    """The CLI's one handler on ``xfer``: ``xfer: warning: …`` and ``xfer: <area>: …`` lines on stderr.

    ``write`` is the CLI's stderr writer (it escapes control characters).  Never stdout:
    ``--json`` output stays a single JSON document whatever the verbosity.
    """

    def __init__(self, write: Callable[[str], None], level: int = logging.WARNING) -> None:
        super().__init__(level)
        self._write = write

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = record.getMessage()
            if record.levelno >= logging.ERROR:
                prefix = "xfer: error: "
            elif record.levelno >= logging.WARNING:
                prefix = "xfer: warning: "
            else:
                area = record.name.split(".", 1)[1] if "." in record.name else "debug"
                prefix = f"xfer: {area}: "
            for line in message.splitlines() or [""]:
                self._write(prefix + line)
        except Exception:  # a broken stderr must not turn a transfer into a failure
            self.handleError(record)
