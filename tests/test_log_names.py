"""Records of xfer's loggers hold only text every handler can write (:func:`xfer.log.logger`).

A name that is not UTF-8 is a ``str`` with lone surrogates.  A warning naming it (a file passed
over, a twin kept) failed in any handler that writes UTF-8 -- "--- Logging error ---" in a library
user's log file -- and crashed pytest-xdist's workers, which send captured logs to their
controller as UTF-8: a CI run lost a thousand tests to one such warning.
"""

from __future__ import annotations

import io
import logging

from xfer.log import logger


def test_a_name_that_is_not_utf8_is_logged_escaped_and_the_rest_as_it_is() -> None:
    written_bytes = io.BytesIO()
    stream = io.TextIOWrapper(written_bytes, encoding="utf-8", errors="strict")
    handler = logging.StreamHandler(stream)
    errors: list[logging.LogRecord] = []
    handler.handleError = errors.append  # type: ignore[method-assign,assignment]
    log = logger("xfer.test-names")
    log.addHandler(handler)
    log.propagate = False
    try:
        log.warning("skipped %s: %s", "bad\udcff\udcfe.txt", "café, ok")
        log.warning("keyed %(name)s", {"name": "dir\udcff"})
        log.warning("caf\udce9 in the message itself")
    finally:
        log.removeHandler(handler)
    stream.flush()
    written = written_bytes.getvalue().decode("utf-8")
    assert errors == []
    assert written.splitlines() == ["skipped bad\\udcff\\udcfe.txt: café, ok", "keyed dir\\udcff",
                                    "caf\\udce9 in the message itself"]


def test_each_logger_gets_the_filter_once() -> None:
    first = logger("xfer.test-once")
    assert logger("xfer.test-once") is first and len(first.filters) == 1
