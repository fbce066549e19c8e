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

__all__ = ["MASK", "SECRET_HEADERS", "CLIHandler", "logger", "masked_command", "masked_headers", "verbosity_level"]

#: What a secret is replaced with in a log record.
MASK = "********"

#: Headers whose values are credentials (RFC 9110 §11.6, RFC 6265), compared case-insensitively.
SECRET_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie", "set-cookie"})


def logger(name: str) -> logging.Logger:
    """The logger ``name`` of xfer's tree, whose records hold only text every handler can write.

    A name that is not UTF-8 (a local file's bytes, a server's Latin-1 name) is a ``str`` with
    lone surrogates: a handler writing UTF-8 (a log file, pytest-xdist sending captured logs to
    its controller) fails on it ("--- Logging error ---", or a crashed test worker).  Such text
    goes into the record escaped as ``\\udcff``, as the CLI shows it; the CLI's own escaping of
    control characters is unchanged."""
    found = logging.getLogger(name)
    if not any(isinstance(each, _EncodableText) for each in found.filters):
        found.addFilter(_ENCODABLE)
    return found


class _EncodableText(logging.Filter):
    """Escapes lone surrogates in a record's message and arguments (see :func:`logger`)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = _encodable(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(_encodable(arg) for arg in record.args)
        elif isinstance(record.args, Mapping):
            record.args = {key: _encodable(value) for key, value in record.args.items()}
        return True


_ENCODABLE = _EncodableText()


def _encodable(value: object) -> object:
    if not isinstance(value, str) or value.isascii():
        return value
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return value.encode("utf-8", "backslashreplace").decode("utf-8")
    return value


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
