"""Transfers in a child process: 1 GiB with flat memory, and a real put/get under strace.

The child is a fresh interpreter doing only the transfer, so its peak RSS (VmHWM, see
``tests/child.py``) and its system calls are the client's alone; the server runs in
this process.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from xfer.testing.contract import make_file, sha256_of
from xfer.testing.https_server import HTTPSServer
from xfer.testing.pki import TestPKI

from .child import run_child

CHILD = textwrap.dedent(
    """
    import sys
    from xfer.adapters.base import ConnectionSettings
    from xfer.adapters.https import HTTPSAdapter
    from xfer.identity import Identity
    from xfer.tls import create_ssl_context

    port, p12, password, ca, source, target = sys.argv[1:7]
    identity = Identity.load(p12, password)
    context = create_ssl_context(identity, ca=ca)
    settings = ConnectionSettings(scheme="https", host="127.0.0.1", port=int(port), root="/",
                                  ssl_context=context, timeout=60)
    with HTTPSAdapter(settings) as remote:
        remote.put_file(source, "/big/file.bin")
        remote.get_file("/big/file.bin", target)
    """
)


@pytest.fixture
def server(pki: TestPKI, tmp_path_factory: pytest.TempPathFactory) -> Iterator[HTTPSServer]:
    with HTTPSServer(pki, root=tmp_path_factory.mktemp("srv")) as srv:
        yield srv


def _child(tmp_path: Path, server: HTTPSServer, pki: TestPKI, source: Path, target: Path) -> list[str]:
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    return [str(script), str(server.port), str(pki.client_p12), pki.password, str(pki.root_ca),
            str(source), str(target)]


@pytest.mark.slow
def test_one_gib_put_and_get_with_flat_memory(server: HTTPSServer, pki: TestPKI, tmp_path: Path) -> None:
    source, target = tmp_path / "source.bin", tmp_path / "back.bin"
    expected = make_file(source, 1 << 30, seed=7)
    script, *args = _child(tmp_path, server, pki, source, target)
    child = run_child(Path(script), *args)
    assert child.returncode == 0, child.stderr
    peak_mb = child.peak_mb
    print(f"client peak RSS {peak_mb:.0f} MB for a 1 GiB put + get")
    assert peak_mb < 100, f"client peak RSS {peak_mb:.0f} MB for a 1 GiB put + get"
    assert sha256_of(server.root / "big" / "file.bin") == expected
    assert sha256_of(target) == expected
    assert server.handshakes == 1


@pytest.mark.skipif(sys.platform != "linux", reason="strace is Linux-only")
def test_real_put_and_get_write_no_key_to_disk(server: HTTPSServer, pki: TestPKI, tmp_path: Path) -> None:
    strace = shutil.which("strace")
    assert strace, "strace is required (integration/setup.sh installs it)"
    source, target = tmp_path / "source.bin", tmp_path / "back.bin"
    make_file(source, 1 << 20)
    log = tmp_path / "strace.log"
    subprocess.run(
        [strace, "-f", "-y", "-s", "64", "-o", str(log),
         "-e", "trace=openat,open,creat,write,pwrite64,writev,rename,renameat,renameat2,link,linkat",
         sys.executable, *_child(tmp_path, server, pki, source, target)],
        check=True, capture_output=True, env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
    )
    lines = log.read_text().splitlines()
    temp = re.escape(f"{tmp_path}/.back.bin.") + r"[0-9a-f]+\.xfer-part"
    created = [line for line in lines if re.search(r"O_CREAT|creat\(", line)]
    assert created, "the download's temp file should show up as the one created file"
    unexpected = [line for line in created if not re.search(temp, line)]
    assert not unexpected, f"files created during a put/get: {unexpected}"
    disk_writes = [
        line for line in lines
        if re.match(r"^\d+\s+(write|pwrite64|writev)\(\d+</", line)
        and not re.search(r"\(\d+<(/dev/|/memfd:|/proc/)", line)
    ]
    assert disk_writes and all(re.search(temp, line) for line in disk_writes), (
        f"only the download temp file may be written: {[w for w in disk_writes if not re.search(temp, w)][:3]}"
    )
    assert not [line for line in disk_writes if "PRIVATE KEY" in line]
    renames = [line for line in lines if re.match(r"^\d+\s+(rename|link)", line)]
    assert len(renames) == 1 and re.search(temp, renames[0]) and str(target) in renames[0]
    memfd = [line for line in lines if re.search(r"write\(\d+</memfd:xfer-key", line)]
    assert memfd and all("ENCRYPTED PRIVATE KEY" in line for line in memfd)
