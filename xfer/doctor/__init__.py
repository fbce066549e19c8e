"""``xfer doctor``: why a connection fails, step by step, and what to do about it.

::

    report = xfer.doctor.diagnose("partner")          # a profile name, NAME:/path, URL or Profile
    for step in report.steps:
        print(step.number, step.status, step.title, step.verdicts)

One module per responsibility: :mod:`.network` (resolution, TCP), :mod:`.handshake`
(TLS, the client-certificate request, acceptance), :mod:`.identity` (our certificate and
the verdict), :mod:`.protocol` (FTPS/HTTPS/WebDAV/AS2 through the real adapters),
:mod:`.clock`, :mod:`.report` (the data), :mod:`.render` (text), :mod:`.run` (the order).
"""

from __future__ import annotations

from .report import FAIL, OK, SKIP, Report, Step
from .run import diagnose

__all__ = ["FAIL", "OK", "SKIP", "Report", "Step", "diagnose"]
