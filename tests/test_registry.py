"""The registry is the one place a protocol is declared; specs are light; settings are typed.

A dummy protocol registered here (and nowhere else) must show up in URL parsing, profile
validation, the ``profile add`` flags, the README table and :func:`xfer.connect`.  If one of
those kept its own list of schemes or sections, the dummy would be missing from it.
"""

from __future__ import annotations

import ast
import dataclasses
import importlib
import json
import socket
import subprocess
import sys
from pathlib import Path
from typing import ClassVar

import pytest

import xfer
from tests.helpers import run
from xfer import registry
from xfer.adapters.as2 import AS2Adapter
from xfer.adapters.base import Adapter, Capability, ConnectionSettings
from xfer.cli.common import connection_parameters
from xfer.cli.profile import _section_parameters
from xfer.errors import ConfigError, InsecureSchemeRefused, UnsupportedOperation, UsageError
from xfer.options import render_markdown, sections
from xfer.profiles import Profile, save_profile
from xfer.protocols.as2 import AS2Options
from xfer.protocols.ftps import FTPSOptions
from xfer.protocols.https import HTTPSOptions
from xfer.protocols.spec import Option, ProfileFacts, ProtocolOptions, ProtocolSpec, Scheme
from xfer.testing.pki import TestPKI
from xfer.urls import parse_url

pytestmark = pytest.mark.usefixtures("config")


@dataclasses.dataclass(frozen=True)
class DummyOptions(ProtocolOptions):
    mode: str
    key_file: str | None


def _dummy_check(facts: ProfileFacts) -> None:
    if facts.table["mode"] == "never":
        raise ConfigError(f"{facts.where}: [dummy] mode = \"never\" is refused by the dummy's own check")


class DummyAdapter(Adapter):
    """Connects to nothing; shows what settings a protocol without TLS receives."""

    capabilities: ClassVar[frozenset[Capability]] = frozenset()


DUMMY = ProtocolSpec(
    label="Dummy",
    section="dummy",
    schemes=(Scheme("dummys", 2222, f"{__name__}:DummyAdapter", note="a test", insecure_aliases=("dummy",)),),
    options=(
        Option("mode", str, "fast", "How the dummy runs", choices=("fast", "slow", "never")),
        Option("key_file", str, None, "A key the dummy signs in with (not TLS)", path=True),
    ),
    settings_type=DummyOptions,
    validate=_dummy_check,
    tls=False,  # authenticates another way, as SSH would
)


@pytest.fixture
def dummy(monkeypatch: pytest.MonkeyPatch) -> ProtocolSpec:
    monkeypatch.setattr(registry, "PROTOCOLS", [*registry.PROTOCOLS, DUMMY])
    return DUMMY


def test_a_registered_protocol_reaches_url_parsing(dummy: ProtocolSpec) -> None:
    endpoint = parse_url("dummys://host/in")
    assert (endpoint.scheme, endpoint.port) == ("dummys", 2222)
    with pytest.raises(InsecureSchemeRefused, match=r"dummy:// sends .* clear text") as caught:
        parse_url("dummy://host/")
    assert caught.value.hint == "use dummys://"
    with pytest.raises(UsageError) as unknown:
        parse_url("gopher://host/")
    assert unknown.value.hint and "dummys:// (a test)" in unknown.value.hint


def test_without_registration_the_protocol_is_unknown() -> None:
    # The other half of the proof: nothing outside the registry knows the dummy.
    with pytest.raises(UsageError, match="unsupported scheme dummys://"):
        parse_url("dummys://host/")
    assert "dummy" not in sections() and "dummys" not in render_markdown()
    with pytest.raises(UnsupportedOperation, match="unknown scheme"):
        registry.adapter_class("dummys")


def test_a_registered_protocol_reaches_profile_validation(dummy: ProtocolSpec) -> None:
    profile = Profile.from_mapping("d1", {"url": "dummys://h/x", "dummy": {"mode": "slow"}})
    assert profile.spec is dummy
    assert profile.protocol_options() == {"mode": "slow", "key_file": None}
    with pytest.raises(ConfigError, match=r"unknown key 'dummy\.speed'"):
        Profile.from_mapping("d1", {"url": "dummys://h/", "dummy": {"speed": 1}})
    with pytest.raises(ConfigError, match=r"dummy\.mode must be one of fast, slow, never"):
        Profile.from_mapping("d1", {"url": "dummys://h/", "dummy": {"mode": "warp"}})
    with pytest.raises(ConfigError, match="refused by the dummy's own check"):
        Profile.from_mapping("d1", {"url": "dummys://h/", "dummy": {"mode": "never"}})
    with pytest.raises(ConfigError, match=r"table \[dummy\] does not apply to a https profile"):
        Profile.from_mapping("d1", {"url": "https://h/", "dummy": {"mode": "slow"}})
    missing = Profile.from_mapping("d1", {"url": "dummys://h/", "dummy": {"key_file": "/nonexistent/key"}})
    with pytest.raises(ConfigError, match=r"\[dummy\] key_file file /nonexistent/key does not exist"):
        missing.check_files()


def test_a_registered_protocol_reaches_the_cli_flags_and_the_readme(dummy: ProtocolSpec) -> None:
    flags = {param.name for param in _section_parameters()}
    assert {"opt__dummy__mode", "opt__dummy__key_file"} <= flags
    assert "| `[dummy] mode` | fast / slow / never | `fast` | How the dummy runs |" in render_markdown()
    # The connection flags are the top-level options every protocol shares: none is per protocol.
    assert not {param.name for param in connection_parameters()} & {"mode", "key_file"}


def test_a_registered_protocol_connects_without_tls(dummy: ProtocolSpec) -> None:
    with xfer.connect("dummys://h/in") as remote:
        assert isinstance(remote, DummyAdapter)
        settings = remote.settings
        assert settings.tls is None and settings.identity is None
        assert settings.options == DummyOptions(mode="fast", key_file=None)
        assert (settings.port, settings.root) == (2222, "/in")
        with pytest.raises(UsageError, match="without TLS have no TLS context"):
            settings.ssl_context  # noqa: B018 - the property is what is tested


def test_profile_test_of_a_protocol_without_tls(dummy: ProtocolSpec, capsys: pytest.CaptureFixture[str]) -> None:
    # `profile test` is the doctor's report: a protocol without TLS skips the TLS steps (numbering kept).
    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = listener.getsockname()[1]
        save_profile(Profile.from_mapping("d1", {"url": f"dummys://127.0.0.1:{port}/", "dummy": {"mode": "slow"}}))
        code, out, err = run(capsys, "profile", "test", "d1", "--json")
    assert code == 0, err
    report = json.loads(out)
    assert (report["server"], report["protocol"], report["ok"]) == (f"127.0.0.1:{port}", "dummys", True)
    assert [(s["key"], s["status"]) for s in report["steps"]] == [
        ("network", "ok"), ("tls", "skip"), ("client_certificate_request", "skip"), ("identity", "skip"),
        ("acceptance", "skip"), ("protocol", "ok"), ("clock", "skip")]


def test_registry_lookups() -> None:
    assert registry.clear_text_schemes() == {"http": "https", "ftp": "ftpes", "dav": "davs", "webdav": "davs"}
    assert list(registry.url_schemes()) == ["https", "ftps", "ftpes", "davs", "sftp"]
    assert list(registry.profile_only_schemes()) == ["as2"]
    assert {name: registry.default_port(name) for name in ("https", "ftps", "ftpes", "davs", "as2", "sftp")} == {
        "https": 443, "ftps": 990, "ftpes": 21, "davs": 443, "as2": 443, "sftp": 22,
    }
    with pytest.raises(UsageError, match="unsupported scheme as2://"):
        parse_url("as2://partner/")  # profile-only: chosen with protocol = "as2"


_DECLARED_BY_SPECS = {"schemes", "default_port"}


def test_every_dotted_adapter_path_imports_the_class_that_serves_it() -> None:
    for spec in registry.PROTOCOLS:
        for scheme in spec.schemes:
            cls = registry.adapter_class(scheme.name)
            assert issubclass(cls, Adapter)
            # The spec is the only declaration of schemes and ports: no adapter (nor a base) repeats them.
            for klass in cls.__mro__:
                assert not _DECLARED_BY_SPECS & set(vars(klass)), (klass, scheme.name)


def test_no_second_declaration_of_schemes_or_ports_in_the_package() -> None:
    """Outside ``xfer/protocols``, no class body declares schemes or default ports, and no code builds a
    :class:`Scheme` or :class:`ProtocolSpec`: the registry's specs are the one place."""
    package = Path(xfer.__file__).parent
    found = []
    for source in sorted(package.rglob("*.py")):
        if source.parent.name == "protocols":
            continue
        tree = ast.parse(source.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef):
                for item in node.body:
                    targets = item.targets if isinstance(item, ast.Assign) else (
                        [item.target] if isinstance(item, ast.AnnAssign) else [])
                    names = {target.id for target in targets if isinstance(target, ast.Name)}
                    if names & _DECLARED_BY_SPECS:
                        found.append(f"{source.relative_to(package)}:{item.lineno} {node.name}")
            elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in (
                    "Scheme", "ProtocolSpec"):
                found.append(f"{source.relative_to(package)}:{node.lineno} {node.func.id}(...)")
    assert found == []


def test_missing_package_names_the_pip_package(monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.import_module

    def without_webdav3(name: str, package: str | None = None) -> object:
        if name == "xfer.adapters.webdav":
            raise ModuleNotFoundError("No module named 'webdav3'", name="webdav3")
        return real(name, package)

    monkeypatch.setattr(importlib, "import_module", without_webdav3)
    with pytest.raises(ConfigError, match="needs the Python package 'webdavclient3'") as caught:
        registry.adapter_class("davs")
    assert caught.value.hint == "pip install webdavclient3"


HEAVY = ("requests", "urllib3", "ftplib", "cryptography", "webdav3", "asn1crypto", "pyftpdlib", "OpenSSL")


def _heavy_after(statement: str) -> list[str]:
    code = (
        "import sys\n"
        f"{statement}\n"
        f"print(sorted({{m.split('.')[0] for m in sys.modules}} & set({HEAVY!r})))\n"
    )
    repo = str(Path(__file__).resolve().parent.parent)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=repo)
    return eval(result.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]  # a printed list of names


def test_specs_import_nothing_heavy() -> None:
    statement = (
        "import xfer.registry, xfer.options, xfer.urls, xfer.profiles\n"
        "from xfer.protocols import as2, ftps, https, webdav\n"
        "[spec.declared for spec in xfer.registry.PROTOCOLS]; xfer.options.render_markdown()\n"
        "xfer.profiles.Profile.from_mapping('p1', {'url': 'https://h/', 'protocol': 'as2', "
        "'as2': {'as2_from': 'A', 'as2_to': 'B', 'sign': 'none', 'encrypt': 'none', 'mdn': 'none'}})"
    )
    assert _heavy_after(statement) == []
    # The probe sees heavy imports when there are some (so the assertion above can fail).
    assert {"requests", "urllib3"} <= set(_heavy_after("import xfer.adapters.https"))


def test_typed_settings_are_frozen_and_parsed_once() -> None:
    settings = ConnectionSettings(scheme="ftpes", host="h", port=21, root="/", options={"keepalive": 5})
    assert settings.options == FTPSOptions(epsv=True, upload_temp_name=True, keepalive=5.0)
    assert settings.options_as(FTPSOptions).keepalive == 5.0
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.options.keepalive = 1  # type: ignore[misc]
    with pytest.raises(TypeError, match="hold FTPSOptions, not HTTPSOptions"):
        settings.options_as(HTTPSOptions)
    # A mistake in a hand-built table is refused when the settings are built, not mid-transfer.
    with pytest.raises(ConfigError, match=r"\[ftps\]: unknown key 'epsvv'"):
        ConnectionSettings(scheme="ftpes", host="h", port=21, root="/", options={"epsvv": False})
    # A copy keeps the typed options and the TLS settings (adapters and test servers use replace).
    assert dataclasses.replace(settings, max_listing=10).options is settings.options


def test_as2_settings_hold_the_loaded_certificate_and_identity(pki: TestPKI) -> None:
    # Built by the AS2 spec when connecting (no request is made): objects, not file names.
    profile = Profile.from_mapping("as2p", {
        "url": "https://127.0.0.1:9/as2", "protocol": "as2", "identity": str(pki.client_p12),
        "identity_password": f"file:{pki.password_file}",
        "as2": {"as2_from": "A", "as2_to": "B", "partner_cert": str(pki.server_cert)},
    })
    with xfer.connect(profile) as remote:
        assert isinstance(remote, AS2Adapter)
        options = remote.settings.options_as(AS2Options)
        assert options.partner_certificate is not None and options.url == "https://127.0.0.1:9/as2"
        assert options.signing_identity is remote.settings.identity is not None
        assert "partner_certificate" not in repr(options) and "signing_identity" not in repr(options)
