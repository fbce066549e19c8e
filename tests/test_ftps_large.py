"""1 GiB put and get over FTPS with flat memory: the client runs in a child process.

The child's peak RSS is its own VmHWM (see ``tests/child.py`` for why not rusage).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from xfer.testing.contract import make_file, sha256_of
from xfer.testing.ftps_server import FTPSServer
from xfer.testing.pki import TestPKI

from .child import run_child

GIB = 1 << 30

CHILD = r"""
import json, sys
from xfer.identity import Identity
from xfer.tls import create_ssl_context
from xfer.adapters.base import ConnectionSettings
from xfer.adapters.ftps import ExplicitFTPSAdapter

args = json.loads(sys.argv[1])
identity = Identity.load(args["p12"], args["password"])
ctx = create_ssl_context(identity, ca=args["ca"], maximum_version=args["tls"])
settings = ConnectionSettings(scheme="ftpes", host="127.0.0.1", port=args["port"], root="/",
                              ssl_context=ctx, username=args["user"], password=args["ftp_password"],
                              timeout=60)
with ExplicitFTPSAdapter(settings) as remote:
    put = remote.put_file(args["source"], "/big.bin")
    get = remote.get_file("/big.bin", args["target"])
print(json.dumps({"put": put.to_dict(), "get": get.to_dict()}))
"""


@pytest.mark.slow
@pytest.mark.parametrize("tls", ["1.2", "1.3"])
def test_one_gib_put_and_get_with_flat_memory(
    pki: TestPKI, tmp_path_factory: pytest.TempPathFactory, tmp_path: Path, tls: str
) -> None:
    source, target = tmp_path / "source.bin", tmp_path / "back.bin"
    expected = make_file(source, GIB)
    with FTPSServer(pki, root=tmp_path_factory.mktemp("ftps-big"), tls_max=tls) as srv:
        args = {
            "p12": str(pki.client_p12), "password": pki.password, "ca": str(pki.root_ca), "tls": tls,
            "port": srv.port, "user": srv.user, "ftp_password": srv.password,
            "source": str(source), "target": str(target),
        }
        script = tmp_path / "child.py"
        script.write_text(CHILD)
        child = run_child(script, json.dumps(args))
    assert child.returncode == 0, child.stderr
    report = json.loads(child.stdout)
    peak_mb = child.peak_mb
    print(f"FTPS 1 GiB put+get, TLS {tls}: client peak RSS {peak_mb:.1f} MB")
    assert peak_mb < 100, f"peak RSS {peak_mb:.0f} MB"
    assert report["put"]["size"] == report["get"]["size"] == GIB
    assert report["put"]["size_verified"] is True
    assert report["put"]["data_sessions_resumed"] == report["get"]["data_sessions_resumed"] == 1
    assert sha256_of(target) == expected
    source.unlink()
    target.unlink()
