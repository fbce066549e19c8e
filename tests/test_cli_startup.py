"""The CLI process defers requests' charset detection (xfer/cli/startup.py, issue 14).

Each case runs in a child process: the stand-in is process-wide, and this test process
has long imported requests.
"""

from __future__ import annotations

import json
import subprocess
import sys

_CHILD = r"""
import json, sys, warnings
warnings.simplefilter("error")  # requests warns if it finds no (or an unsupported) charset detector
if sys.argv[1] == "deferred":
    from xfer.cli.startup import defer_charset_detection
    defer_charset_detection()
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
