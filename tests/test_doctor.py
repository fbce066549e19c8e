"""`xfer doctor`: each identity/trust fault is diagnosed with the verdict that names its cause.

Every fault against every in-process server (HTTPS, explicit and implicit FTPS, WebDAV,
AS2), in text and in --json.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import tomli_w

from xfer.cli import main
from xfer.errors import ExitCode
from xfer.testing import create_pki, serve
from xfer.testing.endpoints import Endpoint
from xfer.testing.pki import TestPKI

PROTOCOLS = ["https", "ftpes", "ftps", "davs", "as2"]


@pytest.fixture(scope="module")
def module_pki(tmp_path_factory: pytest.TempPathFactory) -> TestPKI:
    return create_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(params=PROTOCOLS)
def endpoint(request: pytest.FixtureRequest, module_pki: TestPKI, tmp_path: Path) -> Iterator[Endpoint]:
    with serve(request.param, module_pki, root=tmp_path / "srv") as running:
        yield running


def save_profile(endpoint: Endpoint, folder: Path, monkeypatch: pytest.MonkeyPatch, **changes: Any) -> None:
    """Write the endpoint's profile as ``partner`` with ``changes`` (None removes a key)."""
    folder.mkdir(exist_ok=True)
    data = {**endpoint.profile.to_toml(), **changes}
    data = {k: v for k, v in data.items() if v is not None}
    (folder / "partner.toml").write_text(tomli_w.dumps(data))
    monkeypatch.setenv("XFER_PROFILE_PATH", str(folder))


def fault_changes(pki: TestPKI, fault: str) -> dict[str, Any]:
    changes: dict[str, dict[str, Any]] = {
        "good": {},
        "untrusted": {"identity": str(pki.client_untrusted_p12)},
        "expired": {"identity": str(pki.client_expired_p12)},
        "none": {"identity": None, "identity_password": None},
        "leaf_only": {"identity": str(pki.client_leaf_only_p12)},
        "server_ca_untrusted": {"ca": str(pki.untrusted_ca)},
        # An identity that does not open (review A: --json printed nothing): the report still comes.
        "wrong_password": {"identity_password": f"file:{pki.root_ca}"},
        "not_pkcs12": {"identity": str(pki.root_ca)},
    }
    return changes[fault]


#: fault -> (failing step, words the failing step's verdict or error must contain)
EXPECTED: dict[str, tuple[str | None, str]] = {
    "good": (None, ""),
    "untrusted": ("identity",
                  "your issuer CN=xfer untrusted CA,O=xfer test PKI is not among the CAs the server accepts"),
    "expired": ("identity", "your certificate expired on"),
    "none": ("identity", "no identity is configured, but the server requires a client certificate"),
    "leaf_only": ("identity", "the .p12 lacks the intermediate the server needs"),
    "server_ca_untrusted": ("tls", "we do not trust the server's certificate"),
    "wrong_password": ("identity", "password"),
    "not_pkcs12": ("identity", "not PKCS#12"),
}


def run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(args)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("fault", list(EXPECTED))
def test_doctor_names_the_cause(
    fault: str, endpoint: Endpoint, module_pki: TestPKI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    changes = fault_changes(module_pki, fault)
    if fault == "none" and endpoint.protocol == "as2":
        # Signing needs an identity (a config error otherwise): this partner takes unsigned messages.
        changes["as2"] = {**endpoint.profile.to_toml()["as2"], "sign": "none"}
    save_profile(endpoint, tmp_path / "profiles", monkeypatch, **changes)
    failing, words = EXPECTED[fault]

    code, out, err = run(["doctor", "partner", "--json"], capsys)
    report = json.loads(out)
    steps = {s["key"]: s for s in report["steps"]}
    assert code == report["exit_code"], err
    if failing is None:
        assert code == 0, out
        assert report["ok"] is True
        assert [s["status"] for s in report["steps"]].count("fail") == 0
        assert steps["acceptance"]["facts"]["accepted"] is True
        assert steps["acceptance"]["facts"]["certificate_sent"] == "CN=xfer-client,O=xfer test PKI"
        assert steps["tls"]["facts"]["server_chain"][0]["sha256"].startswith("sha256:")
        assert steps["tls"]["facts"]["trusted"] is True
        assert steps["tls"]["facts"]["trusted_by_system_store"] is False  # the test CA is not a public one
        assert steps["identity"]["facts"]["intermediate_included"] is True
        assert "protocol" in steps and steps["protocol"]["status"] == "ok"
    else:
        assert code == ExitCode.TLS, out
        assert report["ok"] is False
        last = report["steps"][-1]
        assert last["status"] == "fail" and last["key"] == failing, json.dumps(last, indent=1)
        said = " ".join(last["verdicts"]) + " " + last["error"]["message"]
        assert words in said, said
        assert last["fix"]
        if fault in ("wrong_password", "not_pkcs12"):  # the server was still reached and looked at
            assert steps["network"]["status"] == "ok" and steps["tls"]["facts"]["server_chain"]
    # The same diagnosis in words.
    code_text, text, _ = run(["doctor", "partner"], capsys)
    assert code_text == code
    assert text.startswith("xfer doctor: partner")
    if failing is None:
        assert "✗" not in text and "result: every step passed" in text
    else:
        assert "✗" in text and words in text and "fix: " in text


def test_profile_test_is_the_doctor_report(
    endpoint: Endpoint, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    save_profile(endpoint, tmp_path / "profiles", monkeypatch)
    code, out, _ = run(["profile", "test", "partner", "--json"], capsys)
    assert code == 0
    report = json.loads(out)
    assert [s["key"] for s in report["steps"]][:5] == [
        "network", "tls", "client_certificate_request", "identity", "acceptance"]


@pytest.mark.parametrize("fault", ["untrusted", "expired", "none", "leaf_only"])
def test_doctor_reads_nginx_style_rejections(
    fault: str, module_pki: TestPKI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Like nginx `ssl_verify_client on`: the handshake passes, HTTP 400 explains; the verdict is the same."""
    with serve("https", module_pki, root=tmp_path / "srv", client_cert="nginx") as running:
        save_profile(running, tmp_path / "profiles", monkeypatch, **fault_changes(module_pki, fault))
        code, out, _ = run(["doctor", "partner", "--json"], capsys)
    failing, words = EXPECTED[fault]
    last = json.loads(out)["steps"][-1]
    assert code == ExitCode.TLS
    assert last["key"] == failing and last["status"] == "fail", json.dumps(last, indent=1)
    said = " ".join(last["verdicts"]) + " " + last["error"]["message"]
    assert words in said, said


@pytest.mark.parametrize("demands", [True, False], ids=["reuse-demanded", "reuse-optional"])
@pytest.mark.parametrize("protocol", ["ftpes", "ftps"])
def test_doctor_tells_whether_the_data_channel_demands_session_reuse(
    protocol: str, demands: bool, module_pki: TestPKI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    with serve(protocol, module_pki, root=tmp_path / "srv", require_session_reuse=demands) as running:
        save_profile(running, tmp_path / "profiles", monkeypatch)
        code, out, _ = run(["doctor", "partner", "--json"], capsys)
    assert code == 0
    facts = {s["key"]: s for s in json.loads(out)["steps"]}["protocol"]["facts"]
    assert facts["data_session_resumed"] is True  # ours always is
    assert facts["data_session_reuse_required"] is demands
    assert (facts["data_without_reuse_reply"] or "").startswith("522" if demands else "")
    assert facts["feature_flags"]["MLST"] is True and facts["username"] == "xfer"


@pytest.fixture
def pha_server(module_pki: TestPKI) -> Iterator[tuple[int, list[bool]]]:
    """A TLS 1.3 server that asks for the client certificate only after the request arrived
    (post-handshake authentication, as Apache does with a per-location SSLVerifyClient)."""
    import socket
    import ssl
    import threading

    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(module_pki.server_cert, module_pki.server_key)
    ctx.load_verify_locations(module_pki.root_ca)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    ctx.verify_mode = ssl.CERT_REQUIRED
    ctx.post_handshake_auth = True  # server side: no CertificateRequest in the handshake itself
    listener = socket.create_server(("127.0.0.1", 0))
    seen: list[bool] = []

    def serve() -> None:
        while True:
            try:
                raw, _ = listener.accept()
            except OSError:
                return
            try:
                with ctx.wrap_socket(raw, server_side=True) as conn:
                    data = b""
                    while b"\r\n\r\n" not in data:
                        data += conn.recv(4096)
                    conn.verify_client_post_handshake()
                    conn.settimeout(1.0)
                    conn.do_handshake()  # sends the CertificateRequest
                    try:
                        conn.recv(1)  # takes the client's Certificate; no more data follows
                    except TimeoutError:
                        pass
                    seen.append(bool(conn.getpeercert()))
                    body = b"ok" if seen[-1] else b"no"
                    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\n" + body)
            except (OSError, ssl.SSLError):
                continue

    threading.Thread(target=serve, daemon=True).start()
    try:
        yield listener.getsockname()[1], seen
    finally:
        listener.close()


def test_doctor_sees_a_post_handshake_certificate_request(
    pha_server: tuple[int, list[bool]], module_pki: TestPKI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    port, seen = pha_server
    folder = tmp_path / "profiles"
    folder.mkdir()
    (folder / "partner.toml").write_text(tomli_w.dumps({
        "url": f"https://127.0.0.1:{port}/", "identity": str(module_pki.client_p12),
        "identity_password": f"file:{module_pki.password_file}", "ca": str(module_pki.root_ca), "timeout": 5}))
    monkeypatch.setenv("XFER_PROFILE_PATH", str(folder))
    code, out, _ = run(["doctor", "partner", "--json"], capsys)
    steps = {s["key"]: s for s in json.loads(out)["steps"]}
    assert code == 0
    assert steps["client_certificate_request"]["facts"]["requested"] is True
    assert steps["client_certificate_request"]["facts"]["after_handshake"] is True
    assert steps["acceptance"]["facts"]["certificate_sent"] == "CN=xfer-client,O=xfer test PKI"
    assert seen and seen[0] is True  # the server did get our certificate
    run(["doctor", "partner"], capsys)


@pytest.mark.parametrize("fault", ["pin", "host"])
def test_doctor_fails_the_tls_step_for_a_wrong_pin_or_host(
    fault: str, module_pki: TestPKI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    options: dict[str, Any] = (
        {"cert": module_pki.wrong_host_cert, "key": module_pki.wrong_host_key} if fault == "host" else {})
    with serve("https", module_pki, root=tmp_path / "srv", **options) as running:
        save_profile(running, tmp_path / "profiles", monkeypatch, pin="sha256:" + "ab" * 32 if fault == "pin" else None)
        code, out, _ = run(["doctor", "partner", "--json"], capsys)
    last = json.loads(out)["steps"][-1]
    assert code == ExitCode.TLS and last["key"] == "tls" and last["status"] == "fail"
    if fault == "pin":
        assert last["error"]["type"] == "PinMismatch" and last["facts"]["pin_match"] is False
    else:
        assert last["error"]["type"] == "HostnameMismatch" and last["facts"]["host_name_match"] is False
        assert last["facts"]["server_chain"][0]["sans"] == ["wrong.invalid"]


def test_doctor_takes_a_url_with_the_connection_flags(
    module_pki: TestPKI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("XFER_CONFIG_DIR", str(tmp_path / "config"))
    with serve("ftpes", module_pki, root=tmp_path / "srv") as running:
        password = f"file:{module_pki.folder / 'ftp-password.txt'}"
        code, out, _ = run(["doctor", running.url, "--identity", str(module_pki.client_leaf_only_p12),
                            "--identity-password", f"file:{module_pki.password_file}", "--ca", str(module_pki.root_ca),
                            "--username", "xfer", "--password", password], capsys)
    assert code == ExitCode.TLS
    assert "the .p12 lacks the intermediate the server needs" in out and out.startswith(f"xfer doctor: {running.url}")


@pytest.mark.parametrize("protocol", ["ftpes", "https", "davs"])
def test_protocol_step_lists_the_profile_folder_not_the_folder_twice(
    protocol: str, pki: TestPKI, tmp_path: Path
) -> None:
    """A profile URL with a path (``ftpes://host/inbox``): the adapter's paths are under it."""
    from xfer.doctor import diagnose
    from xfer.profiles import Profile
    from xfer.testing.endpoints import serve

    with serve(protocol, pki, root=tmp_path / "root") as endpoint:
        (endpoint.root / "inbox").mkdir()
        (endpoint.root / "inbox" / "a.txt").write_text("a")
        values = {**endpoint.profile.to_toml(), "url": endpoint.url.rstrip("/") + "/inbox/"}
        report = diagnose(Profile.from_mapping("inbox", values))
    assert report.failed is None, [(s.key, s.lines) for s in report.steps if s.status != "ok"]
    protocol_step = next(s for s in report.steps if s.key == "protocol")
    if protocol == "davs":  # PROPFIND Depth 1 of /inbox/: the folder itself and its one member
        assert protocol_step.facts["propfind_responses"] == 2
    else:
        assert protocol_step.facts["entries"] == 1


def test_doctor_sends_nothing_to_an_as2_inbox(
    module_pki: TestPKI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Issue 15: `doctor` reaches the AS2 endpoint over mTLS and makes its application exchange,
    but never POSTs a message: the partner's inbox stays empty, no receipt is recorded."""
    monkeypatch.setenv("XFER_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setenv("XFER_DATA_DIR", str(tmp_path / "data"))  # where a send's receipt would go
    with serve("as2", module_pki, root=tmp_path / "inbox") as endpoint:
        save_profile(endpoint, tmp_path / "profiles", monkeypatch)
        code = main(["doctor", "partner", "--json"])
        out, err = capsys.readouterr()
        assert code == 0, err
        report = json.loads(out)
        assert report["ok"] is True
        server = endpoint.server
        assert server.handshakes and "xfer-client" in [cn for _, cn in server.handshakes]  # it did connect
        assert server.received == [] and server.app.statuses == []  # no POST reached the receiver
    assert [p for p in (tmp_path / "inbox").rglob("*") if p.is_file()] == []
    assert not (tmp_path / "data").exists() or [p for p in (tmp_path / "data").rglob("*") if p.is_file()] == []


README = Path(__file__).resolve().parent.parent / "README.md"


def _documented() -> tuple[set[str], set[str], set[str], set[str], dict[str, set[str]]]:
    """From the README's `xfer doctor` section: the report's keys, a step's keys, an error's keys,
    a server_chain entry's keys, and the fact keys of each step."""
    text = " ".join(README.read_text(encoding="utf-8").split())
    section = text.split("`--json` prints one document:", 1)[1].split("A value that could not be learned", 1)[0]
    top_part, rest = section.split(", and `steps`, each with ", 1)
    step_part, facts_part = rest.split("Stable fact keys:", 1)
    ticked = re.compile(r"`(\w+)`")
    top = set(ticked.findall(top_part)) | {"steps"}
    error_match = re.search(r"`error` \(([^)]*)\)", step_part)
    assert error_match is not None
    error = set(ticked.findall(error_match.group(1)))
    step = set(ticked.findall(re.sub(r"\([^)]*\)", "", step_part)))
    chain_match = re.search(r"\(each: ([^)]*)\)", facts_part)
    assert chain_match is not None
    chain = set(ticked.findall(chain_match.group(1)))
    facts: dict[str, set[str]] = {}
    current = ""
    for raw in re.sub(r"\(each: [^)]*\)", "", facts_part).split(";"):
        segment = raw.strip()
        named = re.match(r"([a-z_]+)\s", segment)
        if named and not segment.startswith(("(", "`")):
            current = named.group(1)
        keys = set(ticked.findall(segment))
        if "the certificate keys above" in segment:
            keys |= chain
        facts.setdefault(current, set()).update(keys)
    return top, step, error, chain, facts


def test_doctor_json_keys_are_the_readme_list(module_pki: TestPKI, tmp_path: Path) -> None:
    """Every key `doctor --json` prints is documented in the README, and every documented key is
    printed by some report (every protocol, a proxy, a failure)."""
    from xfer.doctor import diagnose
    from xfer.testing.proxy import ConnectProxy

    top, step_keys, error_keys, chain_keys, documented = _documented()
    reports = []
    for protocol in ("https", "ftpes", "ftps", "davs", "as2", "sftp"):
        with serve(protocol, module_pki, root=tmp_path / protocol) as endpoint:
            reports.append(diagnose(endpoint.profile).to_dict())
            if protocol == "https":
                with ConnectProxy() as proxy:
                    reports.append(diagnose(endpoint.profile, {"proxy": proxy.url}).to_dict())
    reports.append(diagnose("ftpes://127.0.0.1:1/", {"timeout": 2}).to_dict())  # nothing listens: a failure
    seen: dict[str, set[str]] = {}
    for report in reports:
        assert set(report) == top
        for step in report["steps"]:
            assert set(step) == step_keys
            assert step["status"] in ("ok", "fail", "skip")
            if step["error"] is not None:
                assert set(step["error"]) == error_keys
            undocumented = set(step["facts"]) - documented.get(step["key"], set())
            assert not undocumented, f"{report['protocol']} {step['key']}: {sorted(undocumented)} not in the README"
            for certificate in step["facts"].get("server_chain") or []:
                assert set(certificate) == chain_keys
            seen.setdefault(step["key"], set()).update(step["facts"])
    assert any(step["error"] for report in reports for step in report["steps"])
    # Every protocol's report that got through has the same seven steps (review M-10: SFTP had no clock).
    for report in reports[:7]:
        assert [step["key"] for step in report["steps"]][-1] == "clock", report["protocol"]
        assert len(report["steps"]) == 7, report["protocol"]
    for key, keys in documented.items():
        assert keys <= seen.get(key, set()), f"README documents {key} {sorted(keys - seen.get(key, set()))}: never seen"
