"""The AS2 commands: `xfer put` to an AS2 profile, `xfer as2 send/resend/receipts/receipt`.

Exit codes and the one-line stderr contract, against the in-process AS2 receiver.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import one_error, run
from xfer.errors import ExitCode
from xfer.testing.as2_server import AS2Server
from xfer.testing.pki import TestPKI

PAYLOAD = b"UNA:+.? 'UNB+UNOC:3+XFERCLIENT+XFERPARTNER'\n" * 20


@pytest.fixture(autouse=True)
def dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XFER_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setenv("XFER_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("XFER_PROFILE_PATH", raising=False)
    return tmp_path


@pytest.fixture
def invoice(tmp_path: Path) -> Path:
    path = tmp_path / "orders.edi"
    path.write_bytes(PAYLOAD)
    return path


@pytest.fixture
def server(pki: TestPKI, tmp_path: Path) -> Iterator[AS2Server]:
    with AS2Server(pki, root=tmp_path / "inbox") as srv:
        yield srv


def write_profile(dirs: Path, pki: TestPKI, srv: AS2Server, name: str = "partner", **as2: Any) -> str:
    table = {
        "as2_from": "XFERCLIENT", "as2_to": srv.as2_id, "partner_cert": str(pki.partner_cert),
        "sign": "sha256", "encrypt": "aes256-cbc", "compress": True, "mdn": "signed-sync", **as2,
    }
    lines = [
        f'url = "{srv.url}"', 'protocol = "as2"', f'identity = "{pki.client_p12}"',
        f'identity_password = "file:{pki.password_file}"', f'ca = "{pki.root_ca}"', "", "[as2]",
    ]
    for key, value in table.items():
        lines.append(f"{key} = {str(value).lower() if isinstance(value, bool) else json.dumps(value)}")
    folder = dirs / "config" / "profiles"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.toml").write_text("\n".join(lines) + "\n")
    return name


def test_put_to_as2_profile(
    capsys: pytest.CaptureFixture[str], dirs: Path, pki: TestPKI, server: AS2Server, invoice: Path
) -> None:
    write_profile(dirs, pki, server)
    code, _, err = run(capsys, "put", str(invoice), "partner:")
    assert code == 0, err
    message_id = server.received[-1].message_id
    assert message_id and message_id in err and "MDN processed" in err
    assert (server.root / "orders.edi").read_bytes() == PAYLOAD


def test_put_json_carries_message_id(
    capsys: pytest.CaptureFixture[str], dirs: Path, pki: TestPKI, server: AS2Server, invoice: Path
) -> None:
    write_profile(dirs, pki, server)
    code, out, _ = run(capsys, "put", str(invoice), "partner:/ORDERS-1.edi", "--json")
    [result] = json.loads(out)
    assert code == 0 and result["status"] == "confirmed" and result["remote"] == "/ORDERS-1.edi"
    assert result["message_id"] == server.received[-1].message_id and result["mic_matched"] is True


def test_as2_send_json_is_the_receipt(
    capsys: pytest.CaptureFixture[str], dirs: Path, pki: TestPKI, server: AS2Server, invoice: Path
) -> None:
    write_profile(dirs, pki, server)
    code, out, _ = run(capsys, "as2", "send", str(invoice), "partner", "--json")
    receipt = json.loads(out)
    assert code == 0 and receipt["status"] == "confirmed" and receipt["profile"] == "partner"
    assert receipt["content_type"] == "application/EDIFACT" and receipt["mdn_raw"]
    code, out, _ = run(capsys, "as2", "receipts", "--json")
    assert code == 0 and [r["message_id"] for r in json.loads(out)] == [receipt["message_id"]]
    code, out, _ = run(capsys, "as2", "receipts")
    assert code == 0 and receipt["message_id"] in out and "confirmed" in out
    code, out, _ = run(capsys, "as2", "receipt", receipt["message_id"].strip("<>"))
    assert code == 0 and "(matched)" in out and "processed" in out


def test_no_mdn_says_not_confirmed(
    capsys: pytest.CaptureFixture[str], dirs: Path, pki: TestPKI, server: AS2Server, invoice: Path
) -> None:
    write_profile(dirs, pki, server, mdn="none")
    code, _, err = run(capsys, "as2", "send", str(invoice), "partner")
    assert code == 0 and "sent, not confirmed" in err


@pytest.mark.parametrize(
    ("server_options", "as2", "code", "needle"),
    [
        ({"partner_cert": "client_untrusted_cert"}, {}, ExitCode.INTEGRITY, "authentication-failed"),
        ({}, {"as2_to": "NOBODY"}, ExitCode.REMOTE, "unknown-trading-partner"),
        ({"require_signature": True}, {"sign": "none"}, ExitCode.REMOTE, "insufficient-message-security"),
    ],
    ids=["authentication-failed", "unknown-partner", "insufficient-security"],
)
def test_rejections_exit_codes(
    capsys: pytest.CaptureFixture[str],
    dirs: Path,
    pki: TestPKI,
    tmp_path: Path,
    invoice: Path,
    server_options: dict[str, Any],
    as2: dict[str, Any],
    code: int,
    needle: str,
) -> None:
    options = {k: getattr(pki, v) if k == "partner_cert" else v for k, v in server_options.items()}
    with AS2Server(pki, root=tmp_path / "in", **options) as srv:
        write_profile(dirs, pki, srv, **as2)
        got, out, err = run(capsys, "as2", "send", str(invoice), "partner", "--json")
    assert got == code
    assert needle in one_error(err)
    assert json.loads(out)["status"] == "rejected"  # --json still prints the receipt


def test_not_delivered_then_resend(
    capsys: pytest.CaptureFixture[str], dirs: Path, pki: TestPKI, server: AS2Server, invoice: Path
) -> None:
    write_profile(dirs, pki, server)
    server.fail_next(404)
    code, _, err = run(capsys, "put", str(invoice), "partner:", "--retries", "0")
    assert code == ExitCode.REMOTE
    line = one_error(err)
    assert "not delivered; safe to resend with the same Message-ID <" in line
    message_id = line.rsplit("Message-ID ", 1)[1].strip()
    assert f"hint: fix the cause, then: xfer as2 resend '{message_id}'" in err
    code, out, _ = run(capsys, "as2", "receipts", "--status", "not-delivered", "--json")
    assert [r["message_id"] for r in json.loads(out)] == [message_id]

    code, _, err = run(capsys, "as2", "resend", message_id)
    assert code == 0, err
    assert message_id in err
    assert [r.message_id for r in server.received] == [message_id]
    # Confirmed now: a second resend is refused (usage), --force sends and gets the duplicate warning.
    code, _, err = run(capsys, "as2", "resend", message_id)
    assert code == ExitCode.USAGE and "already confirmed" in one_error(err)
    code, _, err = run(capsys, "as2", "resend", message_id, "--force")
    assert code == 0 and "xfer: warning:" in err and "duplicate-document" in err


@pytest.mark.parametrize("old_id", ["<xfer-20250101000000-0f1e@host.>", "<xfer-20250101000000-0f1e@a..b>"])
def test_resend_of_an_id_recorded_by_an_older_generator(
    capsys: pytest.CaptureFixture[str], dirs: Path, pki: TestPKI, server: AS2Server, invoice: Path,
    monkeypatch: pytest.MonkeyPatch, old_id: str,
) -> None:
    # The reviewer's case: the old generator made ids with a host like "host." or "a..b"; such a
    # recorded message could no longer be resent (`xfer as2 resend` -> UsageError, exit 2).
    import xfer.as2.message

    write_profile(dirs, pki, server)
    with monkeypatch.context() as patched:
        patched.setattr(xfer.as2.message, "new_message_id", lambda domain=None: old_id)
        server.fail_next(404)
        code, _, err = run(capsys, "put", str(invoice), "partner:", "--retries", "0")
    assert code == ExitCode.REMOTE and old_id in one_error(err)
    code, _, err = run(capsys, "as2", "resend", old_id)
    assert code == 0, err
    assert [r.message_id for r in server.received] == [old_id]
    # Typed by the user for a message that was never recorded, the same form is still refused.
    code, _, err = run(capsys, "as2", "send", str(invoice), "partner", "--resend", old_id.replace("0f1e", "9999"))
    assert code == ExitCode.USAGE and "not a valid Message-ID" in one_error(err)


def test_server_error_after_sending_is_delivery_unknown(
    capsys: pytest.CaptureFixture[str], dirs: Path, pki: TestPKI, server: AS2Server, invoice: Path
) -> None:
    # The reviewer's case: an HTTP 500 after the partner read the whole message was reported
    # "not delivered; safe to resend" although the partner may have stored it.
    write_profile(dirs, pki, server)
    server.fail_next(500)
    code, out, err = run(capsys, "put", str(invoice), "partner:", "--retries", "0")
    assert code == ExitCode.REMOTE
    line = one_error(err, "was sent, receipt not received: delivery unknown")
    assert "HTTP 500" in line and "not delivered" not in line
    code, out, _ = run(capsys, "as2", "receipts", "--json")
    assert [r["status"] for r in json.loads(out)] == ["delivery-unknown"]


def test_send_with_resend_option(
    capsys: pytest.CaptureFixture[str], dirs: Path, pki: TestPKI, server: AS2Server, invoice: Path
) -> None:
    write_profile(dirs, pki, server)
    code, _, err = run(capsys, "as2", "send", str(invoice), "partner", "--resend", "<chosen-1@example.com>")
    assert code == 0, err
    assert server.received[-1].message_id == "<chosen-1@example.com>"


def test_resend_refuses_changed_file(
    capsys: pytest.CaptureFixture[str], dirs: Path, pki: TestPKI, server: AS2Server, invoice: Path
) -> None:
    write_profile(dirs, pki, server)
    server.fail_next(503)
    code, out, _ = run(capsys, "as2", "send", str(invoice), "partner", "--json")
    message_id = json.loads(out)["message_id"]
    invoice.write_bytes(PAYLOAD + b"changed")
    code, _, err = run(capsys, "as2", "resend", message_id)
    assert code == ExitCode.USAGE and "changed" in one_error(err)


def test_send_resend_refuses_other_content(
    capsys: pytest.CaptureFixture[str], dirs: Path, pki: TestPKI, server: AS2Server, invoice: Path, tmp_path: Path
) -> None:
    # The reviewer's case: a corrected invoice sent under the Message-ID of the confirmed one was
    # dropped by the partner as a duplicate, yet reported "confirmed ... (matched)", and its record
    # replaced the record of what the partner really had.
    write_profile(dirs, pki, server)
    code, out, _ = run(capsys, "as2", "send", str(invoice), "partner", "--json")
    first = json.loads(out)
    assert code == 0 and first["status"] == "confirmed"
    corrected = tmp_path / "corrected.edi"
    corrected.write_bytes(PAYLOAD + b"amount=999'\n")
    code, _, err = run(capsys, "as2", "send", str(corrected), "partner", "--resend", first["message_id"])
    assert code == ExitCode.USAGE, err
    assert "is not the content of message" in one_error(err) and "hint: send the new content as a new message" in err
    assert [r.message_id for r in server.received] == [first["message_id"]]
    code, out, _ = run(capsys, "as2", "receipt", first["message_id"], "--json")
    record = json.loads(out)
    assert (record["file"], record["sha256"], record["mdn_raw"]) == (first["file"], first["sha256"], first["mdn_raw"])
    assert record["history"] == first["history"]


def test_unknown_receipt_and_non_as2_profile(
    capsys: pytest.CaptureFixture[str], dirs: Path, pki: TestPKI, invoice: Path
) -> None:
    code, _, err = run(capsys, "as2", "resend", "<nope@host>")
    assert code == ExitCode.USAGE and "no AS2 receipt" in one_error(err)
    folder = dirs / "config" / "profiles"
    folder.mkdir(parents=True)
    (folder / "web.toml").write_text(f'url = "https://127.0.0.1:9/"\nca = "{pki.root_ca}"\n')
    code, _, err = run(capsys, "as2", "send", str(invoice), "web")
    assert code == ExitCode.USAGE and "not an AS2 profile" in one_error(err)


def test_mic_mismatch_exit_code(
    capsys: pytest.CaptureFixture[str], dirs: Path, pki: TestPKI, tmp_path: Path, invoice: Path
) -> None:
    from xfer.as2.mdn import build_mdn
    from xfer.identity import Identity

    partner = Identity.load(pki.partner_p12, pki.password)

    def forge(received: Any, headers: Any) -> tuple[dict[str, str], bytes]:
        return build_mdn(original_message_id=received.message_id, our_as2_id="XFERPARTNER",
                         partner_as2_id="XFERCLIENT", mic="AAAA", mic_algorithm="sha256", signer=partner)

    with AS2Server(pki, root=tmp_path / "in", mdn_hook=forge) as srv:
        write_profile(dirs, pki, srv)
        code, _, err = run(capsys, "put", str(invoice), "partner:")
    assert code == ExitCode.INTEGRITY and "MIC" in one_error(err)


def test_ls_on_an_as2_profile_names_no_url_scheme(
    capsys: pytest.CaptureFixture[str], dirs: Path, pki: TestPKI, server: AS2Server
) -> None:
    write_profile(dirs, pki, server)
    code, _, err = run(capsys, "ls", "partner:/")
    assert code == ExitCode.UNSUPPORTED, err
    line = one_error(err)
    assert "an AS2 profile does not support ls" in line and "as2://" not in err
    for args in (("get", "partner:/x", str(dirs)), ("get", "-r", "partner:/x", str(dirs))):
        code, _, err = run(capsys, *args)
        assert code == ExitCode.UNSUPPORTED, (args, err)
        assert one_error(err).endswith("an AS2 profile does not support get"), (args, err)  # not "get_file"


def _partner_pem(folder: Path, name: str, *, days: tuple[int, int], key_encipherment: bool = True) -> Path:
    """A self-signed partner certificate valid from ``days[0]`` to ``days[1]`` days from now."""
    import datetime as dt

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = dt.datetime.now(dt.timezone.utc)
    usage = x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=key_encipherment,
                          data_encipherment=False, key_agreement=False, key_cert_sign=False, crl_sign=False,
                          encipher_only=False, decipher_only=False)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now + dt.timedelta(days=days[0])).not_valid_after(now + dt.timedelta(days=days[1]))
            .add_extension(usage, critical=True).sign(key, hashes.SHA256()))
    path = folder / f"{name}.pem"
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return path


def test_expired_partner_certificate_is_a_warning_and_its_signed_receipt_no_proof(
    capsys: pytest.CaptureFixture[str], dirs: Path, pki: TestPKI, tmp_path: Path, invoice: Path
) -> None:
    # The reviewer's case: a partner certificate expired for years was used without a word.  The
    # message goes (the partner may still decrypt), but a receipt signed with that certificate is
    # no proof (review, session 26, M1: it was "confirmed", exit 0, even with --checksum).
    from xfer.identity import Identity

    expired = Identity.load(pki.client_expired_p12, pki.password)  # the partner's, still in use
    with AS2Server(pki, root=tmp_path / "in", identity=expired) as srv:
        write_profile(dirs, pki, srv, partner_cert=str(pki.client_expired_cert))
        code, _, err = run(capsys, "put", str(invoice), "partner:")
    assert code == ExitCode.INTEGRITY, err
    assert (tmp_path / "in" / invoice.name).read_bytes() == invoice.read_bytes()  # delivered, unproven
    [line] = [x for x in err.splitlines() if x.startswith("xfer: warning:")]
    assert "AS2 partner certificate CN=" in line and f"({pki.client_expired_cert}) expired on " in line
    assert f"{expired.not_after:%Y-%m-%d}" in line and "ask for their current certificate" in line
    assert f"is signed with a certificate that expired on {expired.not_after:%Y-%m-%d}" in one_error(err)


def test_not_yet_valid_partner_certificate_is_a_warning(
    capsys: pytest.CaptureFixture[str], dirs: Path, pki: TestPKI, server: AS2Server, tmp_path: Path, invoice: Path
) -> None:
    future = _partner_pem(tmp_path, "future", days=(100, 500))
    write_profile(dirs, pki, server, partner_cert=str(future), encrypt="none", mdn="unsigned-sync")
    code, _, err = run(capsys, "put", str(invoice), "partner:")
    assert code == 0, err
    [line] = [x for x in err.splitlines() if x.startswith("xfer: warning:")]
    assert "CN=future" in line and "is not valid before" in line


def test_partner_certificate_without_key_encipherment_is_refused(
    capsys: pytest.CaptureFixture[str], dirs: Path, pki: TestPKI, server: AS2Server, tmp_path: Path, invoice: Path
) -> None:
    signing_only = _partner_pem(tmp_path, "signonly", days=(-1, 300), key_encipherment=False)
    write_profile(dirs, pki, server, partner_cert=str(signing_only))
    code, _, err = run(capsys, "put", str(invoice), "partner:")
    assert code == ExitCode.CONFIG, err
    line = one_error(err, "may not be used for encryption (its keyUsage lacks keyEncipherment)")
    assert "CN=signonly" in line and "hint: ask the partner for their encryption certificate" in err
    assert server.received == []
    # Not encrypting: the certificate only verifies receipts, which keyUsage allows.
    write_profile(dirs, pki, server, partner_cert=str(signing_only), encrypt="none", mdn="unsigned-sync")
    code, _, err = run(capsys, "put", str(invoice), "partner:")
    assert code == 0, err


@pytest.mark.parametrize("value", ["application/edi-x12;\rX-Injected: 1", "application/edi-x12; charset=\u00fctf-8"],
                         ids=["carriage-return", "non-ascii"])
def test_bad_content_type_is_a_config_error(
    capsys: pytest.CaptureFixture[str], dirs: Path, pki: TestPKI, server: AS2Server, invoice: Path, value: str
) -> None:
    # The reviewer's case: both passed the check and crashed below it (exit 1, internal error).
    write_profile(dirs, pki, server, content_type=value)
    code, _, err = run(capsys, "put", str(invoice), "partner:")
    assert code == ExitCode.CONFIG, err
    assert "[as2] content_type = " in one_error(err, "is not a valid Content-Type")
    assert server.received == []
