"""One result schema: every ``--json`` of put/get/ls/rm/mkdir/mv validates against the packaged JSON Schema.

Run against each in-process server (HTTPS, explicit and implicit FTPS, WebDAV; AS2 for put),
through the CLI, so what is checked is what a script reads.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import tomli_w

from tests.helpers import run
from xfer.testing import Endpoint
from xfer.types import COMMON_RESULT_KEYS, Entry, TransferResult


def _schema() -> dict[str, Any]:
    text = resources.files("xfer").joinpath("schema/result.schema.json").read_text(encoding="utf-8")
    schema: dict[str, Any] = json.loads(text)
    jsonschema.Draft202012Validator.check_schema(schema)
    return schema


def _check(document: Any, kind: str) -> None:
    """Validate ``document`` against the schema's ``kind`` definition, and against the whole schema."""
    schema = _schema()
    part = {**schema, "$ref": f"#/$defs/{kind}"}
    del part["anyOf"]
    items = document if isinstance(document, list) else [document]
    for item in items:
        jsonschema.validate(item, part, cls=jsonschema.Draft202012Validator)
    jsonschema.validate(document, schema, cls=jsonschema.Draft202012Validator)


def _cli(capsys: pytest.CaptureFixture[str], *args: str) -> Any:
    code, out, err = run(capsys, *args, "--json")
    assert code == 0, err
    return json.loads(out)


@pytest.fixture
def profile(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[[Endpoint], str]:
    folder = tmp_path / "profiles"
    folder.mkdir()
    monkeypatch.setenv("XFER_PROFILE_PATH", str(folder))
    monkeypatch.setenv("XFER_CONFIG_DIR", str(tmp_path / "config"))

    def save(endpoint: Endpoint) -> str:
        (folder / "partner.toml").write_text(tomli_w.dumps(endpoint.profile.to_toml()))
        return "partner"

    return save


@pytest.mark.parametrize("protocol", ["https", "ftpes", "ftps", "davs", "sftp"])
def test_every_command_prints_the_schema(
    protocol: str,
    xfer_serve: Callable[..., Endpoint],
    profile: Callable[[Endpoint], str],
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    endpoint = xfer_serve(protocol)
    name = profile(endpoint)
    local = tmp_path / "invoice.edi"
    local.write_bytes(b"UNB+UNOA:1+X'" * 100)
    writable = protocol != "https" or "mkdir" in {c.value for c in _capabilities(name)}

    put = _cli(capsys, "put", str(local), f"{name}:/invoice.edi")
    _check(put, "transfer")
    assert put[0]["protocol"] == protocol
    if protocol != "https":  # FTPS, WebDAV and SFTP upload under a temporary name by default
        assert isinstance(put[0]["temp_name"], str) and put[0]["temp_name"] != "invoice.edi"
    listing = _cli(capsys, "ls", f"{name}:/")
    _check(listing, "entry")
    assert "invoice.edi" in [e["name"] for e in listing]
    got = _cli(capsys, "get", f"{name}:/invoice.edi", str(tmp_path / "back.edi"))
    _check(got, "transfer")
    assert got[0]["size_verified"] is None and got[0]["temp_name"] is None
    assert got[0]["tls_version"] in ((None,) if protocol == "sftp" else ("TLSv1.2", "TLSv1.3"))
    if writable:
        made = _cli(capsys, "mkdir", f"{name}:/folder/deeper")
        _check(made, "operation")
        assert made["recursive"] is True  # missing parents are created (review M-10: it said false)
        moved = _cli(capsys, "mv", f"{name}:/invoice.edi", "/folder/done.edi")
        _check(moved, "operation")
        assert moved == {"action": "mv", "path": "/invoice.edi", "destination": "/folder/done.edi",
                         "recursive": False, "protocol": protocol}
        into = _cli(capsys, "mv", f"{name}:/folder/done.edi", "/folder/deeper/")
        assert into["destination"] == "/folder/deeper/done.edi"  # the file's new path, not the folder
        _check(_cli(capsys, "rm", f"{name}:/folder", "-r"), "operation")
        for number in range(2):
            _cli(capsys, "put", str(local), f"{name}:/t{number}.tmp")
        removed = _cli(capsys, "rm", f"{name}:/*.tmp")  # review A: one result per removed path, an array
        _check(removed, "operation")
        assert sorted(item["path"] for item in removed) == ["/t0.tmp", "/t1.tmp"]
        _cli(capsys, "mkdir", f"{name}:/empty")
        _check(_cli(capsys, "ls", f"{name}:/empty"), "entry")  # [] is valid (it was not under oneOf)


def test_small_files_sent_together_print_the_schema(
    xfer_serve: Callable[..., Endpoint],
    profile: Callable[[Endpoint], str],
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    """``put -r`` of small files over HTTPS pipelines them (a ``pipelined`` key on each)."""
    name = profile(xfer_serve("https"))
    tree = tmp_path / "tree"
    tree.mkdir()
    for number in range(5):
        (tree / f"{number}.edi").write_bytes(b"UNB+UNOA:1+X'" * number)
    put = _cli(capsys, "put", "-r", str(tree), f"{name}:/")
    _check(put, "transfer")
    assert [item.get("pipelined") for item in put] == [None, True, True, True, True]  # the first opens


def _capabilities(name: str) -> frozenset[Any]:
    import xfer

    with xfer.connect(name) as remote:
        return remote.capabilities


def test_as2_put_prints_the_schema(
    xfer_as2_server: Endpoint,
    profile: Callable[[Endpoint], str],
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    name = profile(xfer_as2_server)
    local = tmp_path / "ORDERS.edi"
    local.write_bytes(b"UNB+UNOA:1+X'")
    put = _cli(capsys, "put", str(local), f"{name}:/ORDERS.edi")
    _check(put, "transfer")
    assert put[0]["protocol"] == "as2" and put[0]["status"] == "confirmed"


def test_the_schema_refuses_what_drifted() -> None:
    """The schema is strict enough to catch the old per-protocol spellings."""
    good = TransferResult("put", "/l", "/r", 1, 0.1, protocol="davs", size_verified=True).to_dict()
    _check([good], "transfer")
    _check([{**good, "source_removed": True}, {**good, "source_removed": False}], "transfer")
    with pytest.raises(jsonschema.ValidationError):
        _check([{**good, "source_removed": "yes"}], "transfer")
    assert list(good)[: len(COMMON_RESULT_KEYS)] == list(COMMON_RESULT_KEYS)
    for drifted in ({**good, "verified_size": True}, {**good, "temp_name": True}, {**good, "http_status": "200"}):
        with pytest.raises(jsonschema.ValidationError):
            _check([drifted], "transfer")
    missing = dict(good)
    del missing["size_verified"]
    with pytest.raises(jsonschema.ValidationError):
        _check([missing], "transfer")
    with pytest.raises(ValueError, match="common result keys"):
        TransferResult("put", "/l", "/r", 1, 0.1, details={"temp_name": True})
    assert Entry("a", "/a", "file").to_dict()["extra"] == {}
