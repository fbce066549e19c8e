"""`xfer doctor` against the real daemons: every identity/trust fault on every server of the bed,
in --json and in text, and the verdict names the actual cause.

Faults: a good identity, one issued by a CA the servers do not accept, an expired one, none,
a .p12 without its intermediate, and a server CA we do not trust.  Servers: nginx (HTTPS),
Apache (WebDAV), vsftpd explicit and implicit, proftpd, pure-ftpd, django-pyas2.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import tomli_w

from integration.bed import Bed, ServerInfo
from xfer.cli import main
from xfer.errors import ExitCode
from xfer.testing.pki import TestPKI

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

pytestmark = pytest.mark.integration

#: bed server -> the profile the bed writes for it
PROFILES = {
    "nginx": "nginx-https", "apache": "apache-webdav", "vsftpd-explicit": "vsftpd-explicit",
    "vsftpd-implicit": "vsftpd-implicit", "proftpd": "proftpd", "pureftpd": "pureftpd", "pyas2": "pyas2",
}

#: fault -> (failing step or None, words the verdicts or the error of that step must contain)
EXPECTED: dict[str, tuple[str | None, str]] = {
    "good": (None, ""),
    "untrusted": ("identity", "your issuer CN=xfer untrusted CA,O=xfer test PKI is not among the CAs"),
    "expired": ("identity", "your certificate expired on"),
    "none": ("identity", "no identity is configured, but the server requires a client certificate"),
    "leaf_only": ("identity", "the .p12 lacks the intermediate the server needs"),
    "server_ca_untrusted": ("tls", "we do not trust the server's certificate"),
}


#: pure-ftpd is configured with the intermediate in its CA bundle (`-C`): it completes the chain itself
#: and rightly accepts a .p12 without the intermediate.  The doctor must say so, not invent a fault.
ACCEPTS_LEAF_ONLY = {("pureftpd", "leaf_only")}


def _changes(pki: TestPKI, fault: str, table: dict[str, Any]) -> dict[str, Any]:
    table_of: dict[str, dict[str, Any]] = {
        "good": {},
        "untrusted": {"identity": str(pki.client_untrusted_p12)},
        "expired": {"identity": str(pki.client_expired_p12)},
        "none": {"identity": None, "identity_password": None},
        "leaf_only": {"identity": str(pki.client_leaf_only_p12)},
        "server_ca_untrusted": {"ca": str(pki.untrusted_ca)},
    }
    changes = table_of[fault]
    if fault == "none" and "as2" in table:
        changes["as2"] = {**table["as2"], "sign": "none"}  # signing needs an identity; the partner takes unsigned
    return changes


@pytest.mark.parametrize("fault", list(EXPECTED))
@pytest.mark.parametrize("server", list(PROFILES))
def test_doctor_on_the_bed(
    server: str, fault: str, bed: Bed, bed_server: Callable[[str], ServerInfo], bed_pki: TestPKI,
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    bed_server(server)  # skips (or fails under CI) if the server is not installed
    table = tomllib.loads((bed.profiles_dir / f"{PROFILES[server]}.toml").read_text())
    merged = {**table, **_changes(bed_pki, fault, table)}
    folder = tmp_path / "profiles"
    folder.mkdir()
    (folder / "partner.toml").write_text(tomli_w.dumps({k: v for k, v in merged.items() if v is not None}))
    monkeypatch.setenv("XFER_PROFILE_PATH", str(folder))
    failing, words = EXPECTED[fault]
    if (server, fault) in ACCEPTS_LEAF_ONLY:
        failing, words = None, ""

    code = main(["doctor", "partner", "--json"])
    out, err = capsys.readouterr()
    report = json.loads(out)
    last = report["steps"][-1]
    if failing is None:
        assert code == 0, json.dumps(report, indent=1)
        steps = {s["key"]: s for s in report["steps"]}
        assert steps["acceptance"]["facts"]["certificate_sent"] == "CN=xfer-client,O=xfer test PKI"
        assert steps["protocol"]["status"] == "ok"
        if server.startswith(("vsftpd", "proftpd")):
            # Both refuse a data connection that does not resume the session (vsftpd: 522).
            assert steps["protocol"]["facts"]["data_session_resumed"] is True
            assert steps["protocol"]["facts"]["data_session_reuse_required"] is True
        if fault == "leaf_only":
            assert steps["identity"]["facts"]["intermediate_included"] is False
            assert steps["identity"]["facts"]["chain_sent"] == ["CN=xfer-client,O=xfer test PKI"]
    else:
        assert code == ExitCode.TLS, json.dumps(report, indent=1)
        assert last["key"] == failing and last["status"] == "fail", json.dumps(last, indent=1)
        said = " ".join(last["verdicts"]) + " " + last["error"]["message"]
        assert words in said, said
        assert err.startswith("xfer: error: step ")

    code_text = main(["doctor", "partner"])
    text = capsys.readouterr().out
    assert code_text == code
    assert (words in text) if failing else ("result: every step passed" in text)
