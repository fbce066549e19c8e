"""A long FTPS run outlives the server's TLS session: xfer logs in afresh instead of failing.

vsftpd (``require_ssl_reuse=YES``, the default) and proftpd refuse a data connection that does
not resume the control connection's TLS session, with ``522``.  The server resumes a session
only for its lifetime (OpenSSL's default: two hours): a run longer than that (a big ``sync``, a
nightly ``get -r``) meets a ``522`` on a control connection whose data connections all resumed
until then.  That is an expired session, not a TLS problem: xfer drops the control connection
and the retry logs in with a new session.  A ``522`` on a connection that never resumed stays
the TLS error it was (exit 4, no retry): the server's reuse requirement is not met at all.

The in-process server really expires its sessions (``FTPSServer(session_timeout=1)``, OpenSSL's
own session lifetime), so the refusal is the one a real server gives.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

import xfer
from tests.helpers import save_ftps_profile
from xfer.errors import ExitCode, TLSError
from xfer.testing.ftps_server import FTPSServer
from xfer.testing.pki import TestPKI


@pytest.mark.parametrize("tls_max", ["1.2", "1.3"])
def test_a_session_that_expires_during_a_run_is_renewed_by_logging_in_again(
    pki: TestPKI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tls_max: str
) -> None:
    # 3 s: the retry's new session must still be alive at its first data connection, which
    # follows a login and an EPSV; on a loaded CI machine 1 s was once too short (a 522 again).
    with FTPSServer(pki, root=tmp_path / "served", session_timeout=3, tls_max=tls_max) as srv:
        (srv.root / "a.bin").write_bytes(b"a" * 1000)
        (srv.root / "b.bin").write_bytes(b"b" * 2000)
        profile = save_ftps_profile(srv, pki, tmp_path / "profiles", monkeypatch)
        with xfer.connect(profile, retry_wait=0.01) as remote:
            [first] = remote.get("/a.bin", str(tmp_path / "a.bin"))
            time.sleep(3.5)  # the control connection's session (made at login) leaves the server's cache
            [second] = remote.get("/b.bin", str(tmp_path / "b.bin"))
        logins = [c for c in srv.commands if c.startswith("USER ")]
    assert (first.attempts, second.attempts) == (1, 2)
    assert (tmp_path / "b.bin").read_bytes() == b"b" * 2000
    assert len(logins) == 2
    # Refused once (the expired session), then resumed again on the new connection.
    assert srv.data_sessions == [True, False, True]


def test_a_refusal_before_any_resumption_is_still_a_tls_error_with_no_retry(
    pki: TestPKI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A 522 on the first data connection of a control connection is the reuse requirement not
    met (here: the session expired before it was ever resumed), not a session grown old with
    use: it stays a TLS error (exit 4), and nothing is retried: a retry would only repeat it."""
    with FTPSServer(pki, root=tmp_path / "served", session_timeout=1) as srv:
        (srv.root / "a.bin").write_bytes(b"a" * 1000)
        profile = save_ftps_profile(srv, pki, tmp_path / "profiles", monkeypatch)
        with xfer.connect(profile, retry_wait=0.01) as remote:
            time.sleep(2.5)
            with pytest.raises(TLSError, match="refused the TLS data connection") as caught:
                remote.get("/a.bin", str(tmp_path / "a.bin"))
        logins = [c for c in srv.commands if c.startswith("USER ")]
    assert caught.value.exit_code == ExitCode.TLS and "522" in str(caught.value)
    assert len(logins) == 1
    assert not (tmp_path / "a.bin").exists()
