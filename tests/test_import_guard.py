"""Start-up guard (issue 14): a command imports what its protocol needs and nothing else.

Scripts call xfer once per file, and every import is paid on every call: WebDAV's lxml for an
HTTPS listing, requests for FTPS, the AS2/CMS code for anything but AS2, rich for ``--json``.
Each case runs the real CLI in a child process against an in-process server and reads the
child's ``sys.modules`` at exit.  Timings are the bench's business (``python -m bench``),
not a test's: this checks the list, which does not flake.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from xfer.testing.endpoints import Endpoint, serve
from xfer.testing.pki import TestPKI

_CHILD = r"""
import atexit, json, sys
atexit.register(lambda: sys.stderr.write("\nMODULES " + json.dumps(sorted(sys.modules)) + "\n"))
sys.argv = ["xfer", *sys.argv[1:]]
from xfer.cli import run
run()  # the console script's entry point: its process is xfer's (imports may be deferred)
"""

#: Never imported by a command on that protocol (top-level packages and xfer modules).
_HTTP_ONLY = {"requests", "urllib3", "charset_normalizer"}
_WEBDAV_ONLY = {"webdav3", "lxml", "xfer.adapters.webdav", "xfer.adapters._dav_xml"}
_FTPS_ONLY = {"xfer.adapters.ftps", "ftplib"}
_AS2_ONLY = {"xfer.as2", "xfer.adapters.as2"}
_TEST_ONLY = {"pyftpdlib", "wsgidav", "cheroot", "OpenSSL", "xfer.testing", "fsspec", "dask", "pandas"}
#: Never for a plain transfer: Typer's pydantic converters (xfer/cli/coercion.py converts plain
#: values itself), the X.509 name decoder (only error messages and doctor quote the server's CA
#: names), the sync machinery; requests' charset guesser, urllib3's importlib.metadata and Typer's
#: subprocess are stand-ins until used (cli/startup.py).
_NO_COMMAND = {"pydantic", "pydantic_core", "typer._adapters", "asn1crypto", "xfer.sync", "charset_normalizer.api",
               "tomllib",  # a URL target reads no profile file
               # What the real importlib.metadata (urllib3's) and subprocess (Typer's) import: stand-ins until used.
               "importlib.metadata._meta", "_posixsubprocess",
               # The identity is read and checked from DER (xfer/pfx.py) and handed to OpenSSL as DER:
               # cryptography's X.509 objects and key loaders are for identity show, doctor, AS2, messages.
               "cryptography.x509", "cryptography.hazmat.primitives.serialization"}
#: A run imports only its own command's module of xfer/cli (xfer.cli.COMMANDS); `--help` prints a stored
#: page and imports none.
_OTHER_COMMANDS = {"xfer.cli.sync", "xfer.cli.profile", "xfer.cli.identity", "xfer.cli.demo", "xfer.cli.doctor",
                   "xfer.cli.as2"}
#: What webdavclient3's parsers import when they are real: a WebDAV command has stand-ins (cli/startup.py).
_WEBDAV_PARSERS = {"lxml._elementpath", "dateutil.parser._parser", "dateutil.tz"}
_NOT_FOR = {
    "https": _WEBDAV_ONLY | _FTPS_ONLY | _AS2_ONLY | _TEST_ONLY | _NO_COMMAND | _OTHER_COMMANDS,
    "ftpes": _HTTP_ONLY | _WEBDAV_ONLY | _AS2_ONLY | _TEST_ONLY | _NO_COMMAND | _OTHER_COMMANDS,
    "davs": _FTPS_ONLY | _AS2_ONLY | _TEST_ONLY | _NO_COMMAND | _OTHER_COMMANDS | _WEBDAV_PARSERS,
}


def _modules(args: list[str], env: dict[str, str] | None = None) -> tuple[int, set[str]]:
    child = subprocess.run([sys.executable, "-c", _CHILD, *args], capture_output=True, text=True, timeout=60,
                           check=False, env={**os.environ, **(env or {})})
    listed = child.stderr.rsplit("\nMODULES ", 1)
    assert len(listed) == 2, child.stderr
    return child.returncode, set(json.loads(listed[1]))


def _loaded(modules: set[str], names: set[str]) -> list[str]:
    return sorted(m for m in modules if m in names or m.split(".")[0] in names
                  or any(m.startswith(n + ".") for n in names))


@pytest.fixture(params=sorted(_NOT_FOR))
def endpoint(request: pytest.FixtureRequest, pki: TestPKI, tmp_path: Path) -> Iterator[Endpoint]:
    with serve(request.param, pki, root=tmp_path) as running:
        (running.root / "a.txt").write_text("a")
        yield running


def _flags(endpoint: Endpoint) -> list[str]:
    flags = ["--identity", str(endpoint.identity), "--identity-password", endpoint.identity_password,
             "--ca", str(endpoint.ca)]
    if endpoint.profile.get("username"):
        flags += ["--username", endpoint.profile.get("username"), "--password", endpoint.profile.get("password")]
    return flags


#: (command, output): ls has no --quiet; "summary" is the human output (stderr not a terminal).
_OUTPUTS = [("ls", "--json"), ("ls", "summary"),
            *[(c, o) for c in ("get", "put") for o in ("--json", "--quiet", "summary")]]


@pytest.mark.parametrize(("command", "output"), _OUTPUTS)
def test_a_connecting_command_imports_only_its_protocol(endpoint: Endpoint, command: str, output: str,
                                                         tmp_path: Path) -> None:
    (tmp_path / "up.txt").write_text("up")
    target = {"ls": [endpoint.url], "get": [endpoint.url + "a.txt", str(tmp_path / "a.txt")],
              "put": [str(tmp_path / "up.txt"), endpoint.url + "up.txt"]}[command]
    code, modules = _modules([command, *target, *_flags(endpoint), *([output] if output != "summary" else [])])
    assert code == 0
    assert _loaded(modules, _NOT_FOR[endpoint.protocol]) == []
    if command != "ls":  # an HTML index page's parser, for a listing answered in HTML only
        assert _loaded(modules, {"html.parser", "xfer.adapters._html_links"}) == []
    # JSON, a listing, a summary line on a stderr that is not a terminal: plain text, no
    # terminal toolkit (rich draws progress bars, for a person watching).
    assert _loaded(modules, {"rich"}) == []


@pytest.mark.parametrize("columns", ["80", "60"], ids=["stored-page", "typer"])
def test_help_imports_no_network_or_crypto_code(columns: str) -> None:
    """Both ways to a help page: the stored one, and Typer's (a terminal narrower than the stored
    pages), which builds every command: no command module may import network or crypto code."""
    code, modules = _modules(["--help"], {"COLUMNS": columns})
    assert code == 0
    assert _loaded(modules, {"requests", "urllib3", "cryptography", "ssl", "xfer.adapters", "xfer.tls",
                             "xfer.identity", "rich", *_TEST_ONLY, *_NO_COMMAND}) == []


#: An SFTP command: none of the TLS protocols' code (asyncssh brings its own crypto).  pyOpenSSL is
#: left out of the test-only list here: asyncssh imports it where it is installed, for X.509 in SSH.
_NOT_FOR_SFTP = (_HTTP_ONLY | _WEBDAV_ONLY | _FTPS_ONLY | _AS2_ONLY | (_TEST_ONLY - {"OpenSSL"}) | _OTHER_COMMANDS
                 | {"pydantic", "pydantic_core", "typer._adapters", "xfer.sync", "xfer.tls", "xfer.pfx", "rich"})


@pytest.mark.parametrize("command", ["ls", "get", "put"])
def test_an_sftp_command_imports_only_its_protocol(command: str, pki: TestPKI, tmp_path: Path) -> None:
    """Through a profile (the known_hosts file is a profile option), as the bed's SFTP profile is used."""
    import tomli_w

    (tmp_path / "served").mkdir()
    (tmp_path / "served" / "a.txt").write_text("a")
    (tmp_path / "up.txt").write_text("up")
    with serve("sftp", pki, root=tmp_path / "served") as endpoint:
        profiles = tmp_path / "profiles"
        profiles.mkdir()
        (profiles / "guard.toml").write_text(tomli_w.dumps(endpoint.profile.to_toml()))
        target = {"ls": ["guard:/"], "get": ["guard:/a.txt", str(tmp_path / "a.txt")],
                  "put": [str(tmp_path / "up.txt"), "guard:/up.txt"]}[command]
        code, modules = _modules([command, *target, "--json"], {"XFER_PROFILE_PATH": str(profiles)})
    assert code == 0
    assert _loaded(modules, _NOT_FOR_SFTP) == []
