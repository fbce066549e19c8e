"""The CLI process defers imports its dependencies make for features xfer never calls
(xfer/cli/startup.py, issue 14): requests' charset detection, webdavclient3's XML and date parsers,
urllib3's package metadata, Typer's subprocess.

Each case runs in a child process: the stand-in is process-wide, and this test process
has long imported requests.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

_CHILD = r"""
import json, sys, warnings
warnings.simplefilter("error")  # requests warns if it finds no (or an unsupported) charset detector
if sys.argv[1] == "deferred":
    from xfer.cli.startup import trim_start_up
    trim_start_up()
import requests
loaded_at_import = "charset_normalizer.api" in sys.modules
response = requests.Response()
response._content = "Grüße aus Köln, das ist schön: Übergrößenträger".encode("latin-1")
response.encoding = None
guessed, text = response.apparent_encoding, response.text
import charset_normalizer.md  # a submodule import after the stand-in gave way
print(json.dumps({"loaded_at_import": loaded_at_import, "guessed": guessed, "text": text,
                  "version": vars(requests)["charset_normalizer_version"]}))
"""


def _child(mode: str) -> dict[str, object]:
    done = subprocess.run([sys.executable, "-c", _CHILD, mode], capture_output=True, text=True, timeout=60,
                          check=True)
    result: dict[str, object] = json.loads(done.stdout)
    return result


def test_requests_imports_without_running_the_charset_detector_and_still_guesses() -> None:
    plain, deferred = _child("plain"), _child("deferred")
    assert plain["loaded_at_import"] is True  # what the stand-in saves: requests loads it at import
    assert deferred["loaded_at_import"] is False
    # The guess, when asked for, is the real detector's, and requests saw the installed version.
    keys = ("guessed", "text", "version")
    assert {k: deferred[k] for k in keys} == {k: plain[k] for k in keys}
    import charset_normalizer

    assert deferred["version"] == charset_normalizer.__version__


_WEBDAV_CHILD = r"""
import json, sys
if sys.argv[1] == "deferred":
    from xfer.cli.startup import trim_start_up
    trim_start_up()
import webdav3.client
# What the real modules import: the stand-ins do not.
real_parts = ("lxml._elementpath", "dateutil.parser._parser", "dateutil.tz")
loaded_at_import = sorted(m for m in real_parts if m in sys.modules)
xml = (b'<?xml version="1.0"?><d:multistatus xmlns:d="DAV:"><d:response><d:href>/a%20b.txt</d:href><d:propstat>'
       b'<d:prop><d:getcontentlength>5</d:getcontentlength><d:getlastmodified>Mon, 30 Nov 2026 03:04:05 GMT'
       b'</d:getlastmodified></d:prop></d:propstat></d:response></d:multistatus>')
infos = webdav3.client.WebDavXmlUtils.parse_get_list_info_response(xml)  # webdavclient3's own use of lxml
modified = webdav3.client.dateutil_parser.parse(infos[0]["modified"]).isoformat()  # and of dateutil
from dateutil import parser  # a later import gets the real module
print(json.dumps({"loaded_at_import": loaded_at_import, "infos": infos, "modified": modified,
                  "real": type(parser.parser).__name__, "etree": type(sys.modules["lxml.etree"]).__name__}))
"""

#: A submodule of a deferred package, imported while the stand-in is still in place.
_SUBMODULE_CHILD = r"""
from xfer.cli.startup import trim_start_up
trim_start_up()
import sys, webdav3.client
assert type(sys.modules["dateutil.parser"]).__name__ == "StandIn"
from dateutil.parser.isoparser import isoparse
print(isoparse("2026-11-30T03:04:05").isoformat())
"""

#: Only the console script's process defers: a program that calls main() keeps its own imports.
_ENTRY_CHILD = r"""
import os, sys
from xfer import cli
sys.argv = ["xfer", "ls", sys.argv[1]]
if os.environ["ENTRY"] == "run":
    try:
        cli.run()
    except SystemExit:  # run() ends the process with the exit code; the finders are read after it
        pass
else:
    cli.main()
print(sorted(type(f).__name__ for f in sys.meta_path if type(f).__module__ == "xfer.cli.startup"))
"""


def test_webdavclient3_imports_without_its_parsers_and_still_parses() -> None:
    runs = {mode: json.loads(subprocess.run([sys.executable, "-c", _WEBDAV_CHILD, mode], capture_output=True,
                                            text=True, timeout=60, check=True).stdout)
            for mode in ("plain", "deferred")}
    assert runs["plain"]["loaded_at_import"] == ["dateutil.parser._parser", "dateutil.tz", "lxml._elementpath"]
    assert runs["deferred"]["loaded_at_import"] == []
    keys = ("infos", "modified", "real", "etree")
    assert {k: runs["deferred"][k] for k in keys} == {k: runs["plain"][k] for k in keys}
    assert runs["plain"]["modified"] == "2026-11-30T03:04:05+00:00"
    # The real etree took the stand-in's place in sys.modules once used (a C extension: its own type).
    assert runs["deferred"]["etree"] == runs["plain"]["etree"] != "StandIn"


def test_a_submodule_of_a_deferred_package_imports_while_the_stand_in_is_there() -> None:
    done = subprocess.run([sys.executable, "-c", _SUBMODULE_CHILD], capture_output=True, text=True, timeout=60,
                          check=True)
    assert done.stdout.strip() == "2026-11-30T03:04:05"


def test_only_the_console_script_defers_imports(tmp_path: Path) -> None:
    found = {}
    for entry in ("run", "main"):
        done = subprocess.run([sys.executable, "-c", _ENTRY_CHILD, str(tmp_path)], capture_output=True, text=True,
                              timeout=60, check=True, env={**os.environ, "ENTRY": entry})
        found[entry] = done.stdout.strip().splitlines()[-1]
    # A local listing imports neither requests nor webdavclient3: the finder is still waiting.
    assert found == {"run": "['_Finder']", "main": "[]"}


#: urllib3 imports importlib.metadata for ``version``, and Typer subprocess for ``launch``: both stand-ins
#: until used, and each use gets the real module's answer.
_STDLIB_CHILD = r"""
import json, sys
if sys.argv[1] == "deferred":
    from xfer.cli.startup import trim_start_up
    trim_start_up()
import typer, urllib3, urllib3.http2
real_parts = ("importlib.metadata._meta", "_posixsubprocess")  # what the real modules import
loaded_at_import = sorted(m for m in real_parts if m in sys.modules)
kinds = {name: type(sys.modules[name]).__name__ for name in ("importlib.metadata", "subprocess")}
version = urllib3.http2.version("urllib3")  # urllib3's own use, through the name it imported
ran = typer.main.subprocess.run([sys.executable, "-c", "print(6 * 7)"], capture_output=True, text=True).stdout
import importlib.metadata, subprocess  # later imports get the real modules
print(json.dumps({"loaded_at_import": loaded_at_import, "kinds": kinds, "version": version, "ran": ran,
                  "real": [type(importlib.metadata.PackageNotFoundError).__name__,
                           subprocess.CompletedProcess.__name__, type(sys.modules["subprocess"]).__name__]}))
"""


def test_urllib3_and_typer_import_without_metadata_and_subprocess_and_still_use_them() -> None:
    runs = {mode: json.loads(subprocess.run([sys.executable, "-c", _STDLIB_CHILD, mode], capture_output=True,
                                            text=True, timeout=60, check=True).stdout)
            for mode in ("plain", "deferred")}
    assert runs["plain"]["loaded_at_import"] == ["_posixsubprocess", "importlib.metadata._meta"]
    assert runs["deferred"]["loaded_at_import"] == []
    assert runs["deferred"]["kinds"] == {"importlib.metadata": "StandIn", "subprocess": "StandIn"}
    keys = ("version", "ran", "real")
    assert {k: runs["deferred"][k] for k in keys} == {k: runs["plain"][k] for k in keys}
    from importlib.metadata import version

    assert runs["deferred"]["version"] == version("urllib3")
    assert runs["deferred"]["ran"] == "42\n"
    assert runs["deferred"]["real"] == ["type", "CompletedProcess", "module"]


#: Importing asyncssh looks for liboqs with ctypes.util.find_library; the compiler step is recorded.
_LIBRARY_CHILD = r"""
import ctypes.util, json, sys
stdlib = ctypes.util.find_library
compiler = []
real_gcc = ctypes.util._findLib_gcc
ctypes.util._findLib_gcc = lambda name: compiler.append(name) or real_gcc(name)
if sys.argv[1] == "trimmed":
    from xfer.cli.startup import trim_start_up
    trim_start_up()
replaced_early = ctypes.util.find_library is not stdlib
import asyncssh, asyncssh.crypto.pq
at_import = list(compiler)
found = {"libc": ctypes.util.find_library("c"), "absent": ctypes.util.find_library("xfer-no-such-library")}
after = list(compiler)
print(json.dumps({"replaced_early": replaced_early, "replaced": ctypes.util.find_library is not stdlib,
                  "at_import": at_import, "compiler": after, "libc_stdlib": stdlib("c"),
                  "oqs": asyncssh.crypto.pq._oqs_lib, **found}))
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="ctypes asks a C compiler on Linux only")
def test_importing_asyncssh_runs_no_compiler_to_look_for_a_library() -> None:
    env = {k: v for k, v in os.environ.items() if k != "LIBRARY_PATH"}  # (with it, the stdlib's function answers)
    runs = {mode: json.loads(subprocess.run([sys.executable, "-c", _LIBRARY_CHILD, mode], capture_output=True,
                                            text=True, timeout=60, check=True, env=env).stdout)
            for mode in ("plain", "trimmed")}
    if runs["plain"]["oqs"] is None:  # (where liboqs is installed, a step before the compiler finds it)
        assert runs["plain"]["at_import"] == ["oqs", "liboqs"]  # what the step saves: asyncssh's look-ups
    assert runs["trimmed"]["compiler"] == []  # at import, and for the look-ups after it
    # Replaced only when asyncssh is imported (no other command pays for ctypes), and the loader's answers
    # are the stdlib's: an installed library by its soname, a missing one None.
    assert runs["trimmed"]["replaced_early"] is False and runs["trimmed"]["replaced"] is True
    assert runs["trimmed"]["libc"] == runs["trimmed"]["libc_stdlib"] == runs["plain"]["libc"]
    assert runs["trimmed"]["libc"] and runs["trimmed"]["absent"] is None


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="ctypes asks a C compiler on Linux only")
def test_with_library_path_set_the_stdlib_finds_libraries() -> None:
    """gcc also searches LIBRARY_PATH, and the loader may reach a library there another way (an RPATH)."""
    child = r"""
import ctypes.util, json
from xfer.cli.startup import find_libraries_as_the_loader
compiler = []
real_gcc = ctypes.util._findLib_gcc
ctypes.util._findLib_gcc = lambda name: compiler.append(name) or real_gcc(name)
find_libraries_as_the_loader()
print(json.dumps([ctypes.util.find_library("xfer-no-such-library"), compiler]))
"""
    runs = {}
    for library_path in ("", "/nonexistent"):
        env = {**os.environ, "LIBRARY_PATH": library_path} if library_path else {
            k: v for k, v in os.environ.items() if k != "LIBRARY_PATH"}
        done = subprocess.run([sys.executable, "-c", child], capture_output=True, text=True, timeout=60,
                              check=True, env=env)
        runs[library_path] = json.loads(done.stdout)
    assert runs == {"": [None, []], "/nonexistent": [None, ["xfer-no-such-library"]]}
