"""xfer's real-server test bed: nginx, Apache mod_dav, vsftpd, proftpd, pure-ftpd, django-pyas2.

``python -m integration up|down|status`` by hand; :class:`integration.bed.Bed` from Python;
``integration/conftest.py`` for pytest.  See integration/README.md.
"""

from integration.bed import SERVER_NAMES, Bed, BedError, ServerInfo

__all__ = ["SERVER_NAMES", "Bed", "BedError", "ServerInfo"]
