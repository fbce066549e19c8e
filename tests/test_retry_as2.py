"""AS2 retries: a resend with the same Message-ID when no receipt arrived, every attempt recorded (issue 13)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import xfer.client
from xfer.adapters.as2 import AS2Adapter
from xfer.errors import IntegrityError, XferError
from xfer.profiles import Profile
from xfer.retry import RetryPolicy
from xfer.testing.as2_server import AS2Server
from xfer.testing.faults import Cut, FaultProxy
from xfer.testing.pki import TestPKI

PAYLOAD = b"UNA:+.? 'UNB+UNOC:3+SENDER+RECEIVER'\n" * 6000  # ~220 kB


@pytest.fixture(autouse=True)
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "data"
    monkeypatch.setenv("XFER_DATA_DIR", str(folder))
    return folder


@pytest.fixture
def server(pki: TestPKI, tmp_path: Path) -> Iterator[AS2Server]:
    with AS2Server(pki, root=tmp_path / "inbox") as srv:
        yield srv


def connect(pki: TestPKI, srv: AS2Server, proxy: FaultProxy, monkeypatch: pytest.MonkeyPatch,
            **as2: Any) -> AS2Adapter:
    monkeypatch.setenv("XFER_T_PW", pki.password)
    table: dict[str, Any] = {"as2_from": "XFERCLIENT", "as2_to": srv.as2_id, "partner_cert": str(pki.partner_cert),
                             "sign": "sha256", "encrypt": "aes256-cbc", "mdn": "signed-sync", **as2}
    url = srv.url.replace(f"{srv.host}:{srv.port}", f"127.0.0.1:{proxy.port}")
    data: dict[str, Any] = {"url": url, "protocol": "as2", "ca": str(pki.root_ca), "as2": table,
                            "identity": str(pki.client_p12), "identity_password": "env:XFER_T_PW",
                            "retry_wait": 0.01}
    adapter = xfer.client.connect(Profile.from_mapping("partner", data))
    assert isinstance(adapter, AS2Adapter)
    return adapter


def receipts(data_dir: Path) -> list[dict[str, Any]]:
    return [json.loads(p.read_text()) for p in sorted((data_dir / "as2" / "receipts").glob("*.json"))]


def test_busy_partner_gets_a_resend_with_the_same_message_id(
    pki: TestPKI, server: AS2Server, tmp_path: Path, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    invoice = tmp_path / "invoice.edi"
    invoice.write_bytes(PAYLOAD)
    server.fail_next(503)  # no receipt: the partner read the message, then failed
    with FaultProxy((server.host, server.port)) as proxy, connect(pki, server, proxy, monkeypatch) as remote:
        result = remote.put_file(invoice, "/")
    assert result.attempts == 2
    [record] = receipts(data_dir)  # one message, one record: the resend continued it
    assert record["message_id"] == result.details["message_id"]
    assert record["attempts"] == 2
    assert [h["status"] for h in record["history"]] == ["sending", "delivery-unknown", "sending", "confirmed"]
    assert [r.message_id for r in server.received] == [record["message_id"]]
    assert (server.root / "invoice.edi").read_bytes() == PAYLOAD


def test_cut_after_the_partner_processed_is_resent_as_a_duplicate(
    pki: TestPKI, server: AS2Server, tmp_path: Path, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The receipt is lost on the way back: the resend carries the same Message-ID, and the
    partner, which has the message already, recognises the duplicate.  That copy was not
    processed and no receipt ever confirmed the first, so delivery is unproven (exit 7), not
    "confirmed": the user asks the partner instead of sending the invoice again."""
    invoice = tmp_path / "invoice.edi"
    invoice.write_bytes(PAYLOAD)
    with FaultProxy((server.host, server.port)) as probe, connect(pki, server, probe, monkeypatch) as remote:
        remote.put_file(invoice, "/")  # to learn how many bytes the handshake and the answer take
    answer_end = probe.connections[0].bytes_down
    # Cut the answer near its end: the partner has processed the message by then.
    plan = {0: Cut("down", after=answer_end - 200)}
    with FaultProxy((server.host, server.port), plan=plan) as proxy, \
            connect(pki, server, proxy, monkeypatch) as remote:
        with pytest.raises(IntegrityError, match="delivery is unproven"):
            remote.put_file(invoice, "/")
        assert remote.last_receipt is not None
        message_id = remote.last_receipt.message_id
    assert proxy.connections[0].was_cut
    ids = [r.message_id for r in server.received if r.message_id == message_id]
    assert len(ids) == 2  # the same message twice: processed, then recognised as a duplicate
    assert [r.disposition for r in server.received][-1] == "processed/warning: duplicate-document"
    record = next(r for r in receipts(data_dir) if r["message_id"] == message_id)
    assert record["attempts"] == 2
    assert [h["status"] for h in record["history"]] == ["sending", "delivery-unknown", "sending", "unverified"]


def test_a_retry_that_is_not_delivered_keeps_the_first_attempts_delivery_unknown(
    pki: TestPKI, server: AS2Server, tmp_path: Path, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The reviewer's case (review of the AS2 fixes, H2): attempt 1 went out whole and its receipt
    was lost (the partner processed it); the retry failed before delivery, and the final error
    and record said "not delivered; safe to resend" as if nothing had ever arrived."""
    invoice = tmp_path / "invoice.edi"
    invoice.write_bytes(PAYLOAD)
    with FaultProxy((server.host, server.port)) as probe, connect(pki, server, probe, monkeypatch) as remote:
        remote.put_file(invoice, "/")  # to learn how many bytes the handshake and the answer take
    answer_end = probe.connections[0].bytes_down
    # Attempt 1: the answer cut near its end (processed); attempt 2: reset before a byte went up.
    plan = {0: Cut("down", after=answer_end - 200), 1: Cut("up", after=0, how="rst")}
    with FaultProxy((server.host, server.port), plan=plan) as proxy, \
            connect(pki, server, proxy, monkeypatch) as remote:
        remote.retry_policy = RetryPolicy(retries=1, wait=0.01)
        with pytest.raises(XferError) as caught:
            remote.put_file(invoice, "/")
        assert len(proxy.connections) == 2
        assert remote.last_receipt is not None
        message_id = remote.last_receipt.message_id
    error = caught.value
    assert "not delivered" not in error.message and "safe to resend" not in error.message
    assert "delivery unknown" in error.message and "the partner may have it" in error.message
    assert error.hint is not None and f"xfer as2 resend '{message_id}'" in error.hint
    record = next(r for r in receipts(data_dir) if r["message_id"] == message_id)
    assert record["status"] == "delivery-unknown" and record["attempts"] == 2
    assert [h["status"] for h in record["history"]] == ["sending", "delivery-unknown", "sending", "delivery-unknown"]
    assert [r.message_id for r in server.received].count(message_id) == 1  # processed once


def test_a_receipt_that_arrived_is_never_resent(
    pki: TestPKI, server: AS2Server, tmp_path: Path, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    invoice = tmp_path / "invoice.edi"
    invoice.write_bytes(PAYLOAD)
    with FaultProxy((server.host, server.port)) as proxy:
        with connect(pki, server, proxy, monkeypatch, as2_to="SOMEONE-ELSE") as remote:
            with pytest.raises(XferError):
                remote.put_file(invoice, "/")
        assert len(proxy.connections) == 1
    [record] = receipts(data_dir)
    assert record["attempts"] == 1
