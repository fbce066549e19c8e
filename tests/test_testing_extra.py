"""``xfer.testing`` without the ``testing`` extra: importing a server that needs it says what to install.

Run in a child process in which pyftpdlib, wsgidav and cheroot cannot be imported, as after
``pip install xfer`` alone.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import WITHOUT_TESTING_EXTRA

_WITHOUT_EXTRA = WITHOUT_TESTING_EXTRA + """
import json
import xfer.testing
try:
    getattr(xfer.testing, sys.argv[1])
except ImportError as exc:
    print(json.dumps({"type": type(exc).__name__, "module_not_found": isinstance(exc, ModuleNotFoundError),
                      "name": exc.name, "message": str(exc)}))
else:
    print(json.dumps(None))
"""


def _import_without_extra(name: str) -> object:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parent.parent)}
    done = subprocess.run([sys.executable, "-c", _WITHOUT_EXTRA, name], capture_output=True, text=True, env=env,
                          timeout=60, check=True)
    return json.loads(done.stdout)


@pytest.mark.parametrize(("name", "missing"), [("FTPSServer", "pyftpdlib"), ("WebDAVServer", "cheroot")])
def test_a_server_needing_the_extra_names_it(name: str, missing: str) -> None:
    error = _import_without_extra(name)
    assert error == {
        "type": "TestingExtraMissing",
        "module_not_found": True,  # still an ImportError for `except ImportError` and importorskip
        "name": missing,
        "message": f"xfer.testing.{name} needs the 'testing' extra ({missing} is not installed): "
        "pip install 'xfer[testing]'",
    }


def test_servers_without_extra_modules_still_import() -> None:
    assert _import_without_extra("HTTPSServer") is None
    assert _import_without_extra("create_pki") is None
