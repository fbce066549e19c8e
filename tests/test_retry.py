"""The retry policy (xfer.retry): classification, backoff math, Retry-After, and the CLI's view of it (issue 13)."""

from __future__ import annotations

import dataclasses
import email.utils
import logging
import time
from pathlib import Path
from typing import Any

import pytest

import xfer
from xfer.adapters.base import ConnectionSettings
from xfer.adapters.https import HTTPSAdapter
from xfer.errors import (
    AuthenticationFailed,
    ClientCertificateRejected,
    ConnectError,
    ConnectionDropped,
    ConnectTimeout,
    IntegrityError,
    LocalError,
    RemoteError,
    RemoteNotFound,
    RemotePermissionDenied,
    RemoteStorageFull,
    ServerCertificateUntrusted,
    ServerError,
    TransferCut,
    UsageError,
    XferError,
)
from xfer.http_errors import retry_after
from xfer.retry import MAX_WAIT, RetryPolicy, is_transient
from xfer.testing.hostile_https import Reply, ScriptedHTTPSServer
from xfer.testing.pki import TestPKI
from xfer.tls import create_ssl_context

# -- classification ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "error",
    [
        ConnectError("refused"), ConnectTimeout("slow"), ConnectionDropped("cut"), TransferCut("ended early"),
        ServerError("x", reply_code=421), ServerError("x", reply_code=425), ServerError("x", reply_code=426),
        ServerError("x", reply_code=450), ServerError("x", reply_code=451),
        RemoteError("x", status=408), RemoteError("x", status=429), ServerError("x", status=502),
        ServerError("x", status=503), ServerError("x", status=504), ServerError("x", status=500),
    ],
    ids=repr,
)
def test_transient(error: Exception) -> None:
    assert is_transient(error)


@pytest.mark.parametrize(
    "error",
    [
        ServerCertificateUntrusted("bad cert"), ClientCertificateRejected("no"), AuthenticationFailed("530"),
        RemoteNotFound("x", status=404), RemoteNotFound("x", reply_code=550), RemotePermissionDenied("x", status=403),
        RemoteStorageFull("x", reply_code=451),  # "451 disk full" is not "try again"
        IntegrityError("MIC differs"), UsageError("bad"), LocalError("disk"), RemoteError("x", status=400),
        ServerError("x", status=501), ValueError("not ours"), KeyboardInterrupt(),
    ],
    ids=repr,
)
def test_never_retried(error: BaseException) -> None:
    assert not is_transient(error)


def test_500_only_for_idempotent_requests() -> None:
    assert is_transient(ServerError("x", status=500), idempotent=True)
    assert not is_transient(ServerError("x", status=500), idempotent=False)
    assert is_transient(ServerError("x", status=503), idempotent=False)  # (AS2: a resend is a known duplicate)


@pytest.mark.parametrize("status", [502, 503, 504])
def test_a_gateway_answer_to_a_request_that_is_not_repeatable_is_not_retried(status: int) -> None:
    """Review K, finding 4: a 502/504 may come after the backend took a form POST; before, it went again."""
    assert is_transient(ServerError("x", status=status), idempotent=False)
    assert not is_transient(ServerError("x", status=status), repeatable=False)


def test_a_request_that_is_not_repeatable_is_retried_only_if_nothing_went_out() -> None:
    assert is_transient(ConnectError("refused"), repeatable=False)
    assert not is_transient(ConnectionDropped("cut"), repeatable=False)
    assert not is_transient(TransferCut("cut"), repeatable=False)


# -- backoff -------------------------------------------------------------------------------


def test_full_jitter_exponential_capped() -> None:
    top = RetryPolicy(wait=1.0, random=lambda: 1.0)
    assert [top.delay(n) for n in range(1, 9)] == [1, 2, 4, 8, 16, 32, 60, 60]
    assert RetryPolicy(wait=1.0, random=lambda: 0.25).delay(3) == 1.0
    assert RetryPolicy(wait=0.0, random=lambda: 1.0).delay(5) == 0.0
    assert top.delay(50) == MAX_WAIT


def test_retry_after_wins_over_backoff() -> None:
    policy = RetryPolicy(wait=1.0, random=lambda: 1.0)
    assert policy.delay(1, ServerError("busy", status=503, retry_after=17.0)) == 17.0
    assert policy.delay(1, ServerError("busy", status=503, retry_after=100_000.0)) == 600.0


def test_retry_after_header_forms() -> None:
    assert retry_after("120") == 120.0
    assert retry_after(None) is None and retry_after("soon") is None
    later = email.utils.formatdate(time.time() + 30, usegmt=True)
    when = retry_after(later)
    assert when is not None and 25 <= when <= 31
    assert retry_after(email.utils.formatdate(time.time() - 300, usegmt=True)) == 0.0


def test_loop_counts_tries_sleeps_and_numbers_the_last_error() -> None:
    waits: list[float] = []
    reopened: list[int] = []
    tries: list[int] = []

    def flaky() -> str:
        tries.append(1)
        raise ConnectionDropped("cut")

    policy = RetryPolicy(retries=3, wait=1.0, sleep=waits.append, random=lambda: 0.5)
    with pytest.raises(ConnectionDropped) as caught:
        policy.run(flaky, reopen=lambda: reopened.append(1))
    assert len(tries) == 4 and len(reopened) == 3
    assert waits == [0.5, 1.0, 2.0]
    assert caught.value.attempt == 4

    outcomes: list[Exception | str] = [ConnectionDropped("cut"), "done"]

    def once_flaky() -> str:
        outcome = outcomes.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    assert policy.run(once_flaky) == ("done", 2)


def test_permanent_error_is_not_retried_and_keeps_its_fields() -> None:
    calls: list[int] = []

    def missing() -> None:
        calls.append(1)
        raise RemoteNotFound("gone", status=404)

    with pytest.raises(RemoteNotFound) as caught:
        RetryPolicy(retries=5, sleep=lambda s: None).run(missing)
    assert calls == [1] and caught.value.attempt is None


def test_zero_retries_is_one_try() -> None:
    calls: list[int] = []

    def cut() -> None:
        calls.append(1)
        raise ConnectionDropped("cut")

    with pytest.raises(ConnectionDropped):
        RetryPolicy(retries=0).run(cut)
    assert calls == [1]


# -- Retry-After from a real (scripted) server ------------------------------------------------


def _adapter(srv: ScriptedHTTPSServer, pki: TestPKI, **options: Any) -> HTTPSAdapter:
    remote = xfer.connect(srv.url + "/", ca=str(pki.root_ca), **options)
    assert isinstance(remote, HTTPSAdapter)
    return remote


@pytest.mark.parametrize(("status", "header", "expected"), [(503, "7", 7.0), (429, "3", 3.0)])
def test_retry_after_is_honoured(pki: TestPKI, tmp_path: Path, status: int, header: str, expected: float) -> None:
    busy = Reply(status=status, headers={"Retry-After": header}, body=b"busy\n")
    with ScriptedHTTPSServer(pki, {"/f": busy}) as srv, _adapter(srv, pki) as remote:
        waits: list[float] = []

        def sleep(seconds: float) -> None:
            waits.append(seconds)
            srv.replies["/f"] = Reply(body=b"the file")  # the server has recovered

        remote.retry_policy = dataclasses.replace(remote.retry_policy, sleep=sleep)
        result = remote.get_file("/f", tmp_path / "f")
    assert waits == [expected]
    assert (tmp_path / "f").read_bytes() == b"the file"
    assert result.attempts == 2
    assert [path for _, path in srv.requests] == ["/f", "/f"]


def test_not_found_is_asked_once(pki: TestPKI, tmp_path: Path) -> None:
    with ScriptedHTTPSServer(pki, {}) as srv, _adapter(srv, pki) as remote:
        with pytest.raises(RemoteNotFound):
            remote.get_file("/missing", tmp_path / "x")
        with pytest.raises(RemoteNotFound):
            remote.info("/missing")
    assert [path for _, path in srv.requests].count("/missing") == 2  # once per call, no retry
    assert list(tmp_path.iterdir()) == []


def test_post_answered_500_is_not_retried_but_put_is(pki: TestPKI, tmp_path: Path) -> None:
    (tmp_path / "f").write_bytes(b"data")
    failing = Reply(status=500, body=b"oops\n")
    with ScriptedHTTPSServer(pki, {"/up/f": failing, "/up/": failing}) as srv:
        with _adapter(srv, pki, retry_wait=0.0) as remote, pytest.raises(ServerError):
            remote.put_file(tmp_path / "f", "/up/f")
        puts = sum(1 for method, _ in srv.requests if method == "PUT")
    assert puts == 4  # PUT is idempotent: 1 + 3 retries


def _posting(port: int, pki: TestPKI) -> HTTPSAdapter:
    """An adapter uploading by form POST (``upload_method = "POST"``), 3 retries without a wait."""
    settings = ConnectionSettings(
        scheme="https", host="127.0.0.1", port=port, root="/", timeout=10, retries=3, retry_wait=0.0,
        ssl_context=create_ssl_context(None, ca=pki.root_ca),
        options={"upload_method": "POST", "verify_upload": False},
    )
    return HTTPSAdapter(settings)


@pytest.mark.parametrize("first", [Reply(lost=True), Reply(status=502, body=b"bad gateway\n"),
                                   Reply(status=503, body=b"busy\n"), Reply(status=504, body=b"timed out\n")],
                         ids=["answer-lost", "502", "503", "504"])
def test_a_form_post_that_went_out_is_not_sent_again(pki: TestPKI, tmp_path: Path, first: Reply) -> None:
    """Review K, finding 4: the server read the whole POST, then its answer was lost (a reset right
    after; on a fresh connection this is also the "closed after the handshake" case) or a gateway
    answered for a backend that may have taken it.  Before: the POST went again (two submissions)."""
    (tmp_path / "invoice.edi").write_bytes(b"UNB+UNOA:1+SENDER+RECEIVER'\n" * 100)
    with ScriptedHTTPSServer(pki, {"POST /inbox/": first}) as srv:
        with _posting(srv.port, pki) as remote, pytest.raises(XferError) as failure:
            remote.put_file(tmp_path / "invoice.edi", "/inbox/invoice.edi")
        posts = sum(1 for method, _ in srv.requests if method == "POST")
    assert posts == 1
    assert "may or may not have reached the server, and it was not sent again" in str(failure.value)


def test_a_form_post_that_could_not_connect_is_tried_again(pki: TestPKI, tmp_path: Path) -> None:
    """Nothing went out when the connection could not be made: another try cannot be a second copy."""
    (tmp_path / "f").write_bytes(b"data")
    with ScriptedHTTPSServer(pki, {}) as srv:
        port = srv.port
    with _posting(port, pki) as remote, pytest.raises(ConnectError) as failure:
        remote.put_file(tmp_path / "f", "/f")
    assert failure.value.attempt == 4


def test_ls_is_retried(pki: TestPKI, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="xfer.retry")
    busy = Reply(status=502, body=b"bad gateway\n")
    with ScriptedHTTPSServer(pki, {"/d/": busy}) as srv, _adapter(srv, pki) as remote:
        def sleep(seconds: float) -> None:
            srv.replies["/d/"] = Reply(headers={"Content-Type": "application/json"}, body=b"[]")

        remote.retry_policy = dataclasses.replace(remote.retry_policy, sleep=sleep)
        assert remote.ls("/d") == []
    assert [r.getMessage().split(":")[1].strip() for r in caplog.records] == ["HTTP 502"]


# -- a parallel batch stops a worker that waits to retry -------------------------------------


class _FakeAdapter:
    """Just what run_tasks needs from an adapter: settings to copy, a retry policy, close()."""

    def __init__(self, settings: object = None) -> None:
        self.settings = settings
        self.retry_policy = RetryPolicy(retries=3, wait=1.0, random=lambda: 1.0)

    def close(self) -> None:
        pass


def test_batch_failure_ends_a_worker_waiting_to_retry(monkeypatch: pytest.MonkeyPatch) -> None:
    import xfer.retry
    from xfer.batch import Task, run_tasks

    monkeypatch.setattr(xfer.retry, "_sleep", time.sleep)  # real waits: the point is ending one
    tries: list[float] = []

    def missing(adapter: object, callback: object) -> object:
        time.sleep(0.3)  # the other worker is in its wait by then
        raise AuthenticationFailed("the login is refused now")  # a stop (a file's own failure is not)

    def flaky(adapter: object, callback: object) -> object:
        def cut() -> object:
            tries.append(time.monotonic())
            raise ConnectionDropped("cut")
        return adapter.retry_policy.run(cut)  # type: ignore[attr-defined]

    tasks = [Task("a", "/a", 1, missing), Task("b", "/b", 1, flaky)]  # type: ignore[arg-type]
    remote = _FakeAdapter()
    original = remote.retry_policy
    with pytest.raises(AuthenticationFailed):
        run_tasks(remote, tasks, parallel=2, reconnect=_FakeAdapter)  # type: ignore[arg-type]
    time.sleep(1.5)  # a worker left waiting would have started its second try by now
    assert len(tries) == 1, "a worker retried after the batch had stopped"
    assert remote.retry_policy is original  # the caller's adapter gets its own policy back


# -- options -------------------------------------------------------------------------------


def test_retry_options_are_validated_like_every_option() -> None:
    from xfer.errors import ConfigError
    from xfer.profiles import Profile

    base = {"url": "https://example.com/"}
    profile = Profile.from_mapping("partner", {**base, "retries": 0, "retry_wait": 0.5, "resume": True})
    assert (profile.get("retries"), profile.get("retry_wait"), profile.get("resume")) == (0, 0.5, True)
    assert Profile.from_mapping("partner", base).get("retries") == 3
    for bad in ({"retries": -1}, {"retry_wait": -1.0}, {"resume": "yes"}, {"retries": 1.5}):
        with pytest.raises(ConfigError):
            Profile.from_mapping("partner", {**base, **bad})


@pytest.mark.parametrize("status", [408, 429])
def test_a_form_post_the_server_says_it_did_not_process_goes_again(pki: TestPKI, tmp_path: Path, status: int) -> None:
    """Review N, finding 3: 408 and 429 say the request was not processed, so a second copy is no
    second submission; the rule for POSTs that may have been taken stopped retrying them too, and
    said they "may or may not have reached the server"."""
    (tmp_path / "invoice.edi").write_bytes(b"UNB+UNOA:1+SENDER+RECEIVER'\n" * 100)
    refused = Reply(status=status, headers={"Retry-After": "0"}, body=b"not now\n")
    with ScriptedHTTPSServer(pki, {"POST /inbox/": refused}) as srv:
        with _posting(srv.port, pki) as remote, pytest.raises(XferError) as failure:
            remote.put_file(tmp_path / "invoice.edi", "/inbox/invoice.edi")
        posts = sum(1 for method, _ in srv.requests if method == "POST")
    assert posts == 4
    assert "may or may not have reached the server" not in str(failure.value)


def test_a_close_after_the_handshake_with_nothing_sent_goes_again_for_a_post_after_a_429() -> None:
    """Review R: the first try of a form POST was answered 429 (the server took our certificate);
    the second's connection closed right after its handshake with nothing sent.  Taken for a cut,
    it must still say that nothing went out (its cause chain carries the byte counts): sent again,
    not "may or may not have reached the server"."""
    tries: list[int] = []

    def operation() -> str:
        tries.append(1)
        low = ConnectionResetError("closed")
        if len(tries) == 1:
            low.xfer_bytes_moved = (2000, 300)  # type: ignore[attr-defined]
            try:
                raise low
            except OSError as exc:
                raise RemoteError("busy", status=429, server="s") from exc
        if len(tries) == 2:
            low.xfer_closed_after_handshake = True  # type: ignore[attr-defined]
            low.xfer_bytes_moved = (0, 0)  # type: ignore[attr-defined]
            try:
                raise low
            except OSError as exc:
                raise ConnectionDropped("closed", server="s") from exc
        return "sent"

    import xfer.tls.translate  # noqa: F401  # (the byte counts are read only where xfer's TLS code is loaded)

    assert RetryPolicy(retries=3, sleep=lambda seconds: None).run(operation, repeatable=False) == ("sent", 3)
