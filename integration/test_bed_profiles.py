"""The profiles a native bed writes (no daemon needed: the bed is described, not started).

:mod:`integration.profiles` turns ports into TOML tables and knows nothing of the bed;
``Bed.write_profiles`` feeds it this run's servers.  (The two modules used to import each
other; tests/test_layers.py keeps the integration package free of import cycles.)
"""

from __future__ import annotations

import stat
import sys
from pathlib import Path

from integration.bed import Bed, ServerInfo

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - the 3.10 backport xfer itself depends on
    import tomli as tomllib


def _info(name: str, url: str, port: int, tmp_path: Path) -> ServerInfo:
    return ServerInfo(name=name, url=url, host="127.0.0.1", port=port, root=tmp_path / name, log=tmp_path / "log",
                      version="1", package="p", pid=0, start_seconds=0.0)


def test_bed_writes_one_profile_per_target_of_its_servers(tmp_path: Path) -> None:
    servers = {
        "nginx": _info("nginx", "https://127.0.0.1:41001/", 41001, tmp_path),
        "proftpd": _info("proftpd", "ftpes://127.0.0.1:41002/", 41002, tmp_path),
    }
    bed = Bed(run_dir=tmp_path, servers=servers, missing={"apache": "not installed"},
              pki_folder=tmp_path / "pki", profiles_dir=tmp_path / "profiles")

    folder = bed.write_profiles()

    assert folder == tmp_path / "profiles"
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    written = {p.stem: tomllib.loads(p.read_text()) for p in folder.glob("*.toml")}
    assert sorted(written) == ["nginx-https", "nginx-webdav", "proftpd"]  # apache is missing: no profile
    assert written["nginx-https"]["url"] == "https://127.0.0.1:41001/"
    assert written["nginx-webdav"]["url"] == "davs://127.0.0.1:41001/"
    assert written["proftpd"]["url"] == "ftpes://127.0.0.1:41002/"
    assert written["proftpd"]["password"] == f"file:{tmp_path / 'ftp-password.txt'}"
    assert written["nginx-https"]["identity"] == str(tmp_path / "pki" / "client.p12")
