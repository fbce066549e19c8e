"""SFTP over SSH (``sftp://``): asyncssh on a private event loop, behind the synchronous adapter verbs.

Modules: :mod:`.session` (the SSH connection: host-key trust, login, the loop thread),
:mod:`.keys` (private keys, passphrases, OpenSSH user certificates), :mod:`.adapter`
(the verbs and asyncssh's errors as xfer's).  The registry's dotted path
``xfer.adapters.sftp:SFTPAdapter`` is re-exported here.
"""

from __future__ import annotations

from .adapter import SFTPAdapter

__all__ = ["SFTPAdapter"]
