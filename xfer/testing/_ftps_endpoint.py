"""What the in-process FTPS servers of :mod:`xfer.testing` share: their URL, and an open adapter.

Private; :class:`~xfer.testing.ftps_server.FTPSServer` (pyftpdlib) and
:class:`~xfer.testing.ftps_fake.FakeFTPSServer` (purpose-built) are the public classes.
"""

from __future__ import annotations

import dataclasses
import os
import ssl
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..adapters.ftps import FTPSAdapter
    from .pki import TestPKI

__all__ = ["FTPSEndpoint"]


class FTPSEndpoint:
    """What every in-process FTPS server here offers a test: its URL, and an open adapter on it."""

    implicit: bool
    host: str
    user: str
    password: str

    def _endpoint(
        self, pki: TestPKI, root: str | os.PathLike[str], *, implicit: bool, host: str, user: str, password: str
    ) -> None:
        self.pki = pki
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.implicit = implicit
        self.host = host
        self.user = user
        self.password = password

    @property
    def port(self) -> int:
        raise NotImplementedError

    @property
    def scheme(self) -> str:
        """``ftps`` (implicit) or ``ftpes`` (explicit), as in xfer URLs."""
        return "ftps" if self.implicit else "ftpes"

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.host}:{self.port}/"

    def adapter(
        self,
        context: ssl.SSLContext,
        *,
        host: str | None = None,
        username: str | None = None,
        password: str | None = None,
        timeout: float = 10.0,
        root: str = "/",
        max_listing: int | None = None,
        retries: int | None = None,
        **options: Any,
    ) -> FTPSAdapter:
        """An open xfer adapter on this server (explicit or implicit to match), logged in as
        :attr:`user` unless told otherwise.  ``options`` are the ``[ftps]`` profile options;
        ``max_listing`` (bytes) replaces the default cap on one listing, ``retries`` the default
        number of retries (0: what one try does)."""
        from ..adapters.base import ConnectionSettings
        from ..adapters.ftps import ExplicitFTPSAdapter, ImplicitFTPSAdapter

        cls = ImplicitFTPSAdapter if self.implicit else ExplicitFTPSAdapter
        settings = ConnectionSettings(
            scheme=self.scheme,
            host=host or self.host,
            port=self.port,
            root=root,
            ssl_context=context,
            username=self.user if username is None else username,
            password=self.password if password is None else password,
            timeout=timeout,
            options=options,
        )
        if max_listing is not None:
            settings = dataclasses.replace(settings, max_listing=max_listing)
        if retries is not None:
            settings = dataclasses.replace(settings, retries=retries)
        return cls(settings)
