"""pytest plugin (entry point ``pytest11``): mTLS test fixtures for users' own test suites.

``xfer_pki``: a throwaway PKI (root CA, server and client identities) for the session.
"""

from __future__ import annotations

import pytest

from .pki import TestPKI, create_pki


@pytest.fixture(scope="session")
def xfer_pki(tmp_path_factory: pytest.TempPathFactory) -> TestPKI:
    """A throwaway PKI: ``xfer_pki.client_p12``, ``.password``, ``.root_ca``, ``.server_cert``..."""
    return create_pki(tmp_path_factory.mktemp("xfer-pki"))
