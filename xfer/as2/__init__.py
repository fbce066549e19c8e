"""AS2 (RFC 4130) message layer: CMS pieces, outgoing messages, MDNs and a receiving side.

Pure library code with no networking: the AS2 adapter (``xfer/adapters/as2.py``) posts what
:func:`~xfer.as2.message.build_message` returns and hands the response to
:func:`~xfer.as2.mdn.parse_mdn` / :func:`~xfer.as2.mdn.check_mdn`.
"""

from __future__ import annotations

__all__: list[str] = []
