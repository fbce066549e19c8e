"""Dask reads partner servers in worker *processes*: 200 CSV files over FTPS and over WebDAV.

The workers are separate processes (``processes=True``), so everything they need travels
the way it would to another machine: the task graph holds the filesystem's profile name
and options, the identity password only as an ``env:`` reference.  The workers resolve it
from their own environment (inherited here, set by a deployment elsewhere) and find the
profile through ``$XFER_PROFILE_PATH``.  The answer must equal the same computation on the
local copies of the files.
"""

from __future__ import annotations

import os
import pickle
from collections.abc import Iterator

import cloudpickle
import dask.dataframe as dd
import pandas as pd
import pytest
import tomli_w
from distributed import Client, LocalCluster

from tests.fsspec_helpers import ensure_registered
from xfer.filesystem import XferFileSystem
from xfer.testing.endpoints import Endpoint, serve
from xfer.testing.pki import TestPKI

FILES = 200
PASSWORD_VARIABLE = "XFER_DASK_TEST_IDENTITY_PW"
FTP_PASSWORD_VARIABLE = "XFER_DASK_TEST_FTP_PW"


def orders(index: int) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "file": index,
            "sku": [f"SKU-{(index * 7 + n) % 23:02d}" for n in range(20)],
            "amount": [index * 100 + n for n in range(20)],
        }
    )


@pytest.fixture(scope="module")
def bed(pki: TestPKI, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Endpoint]]:
    """An FTPS and a WebDAV server, each with 200 CSV files in /outbox, their profiles saved
    (secrets as env: references), the environment set, and a 2-process Dask cluster."""
    folder = tmp_path_factory.mktemp("dask")
    profiles = folder / "profiles"
    profiles.mkdir()
    with pytest.MonkeyPatch.context() as env:
        env.setenv(PASSWORD_VARIABLE, pki.password)
        env.setenv("XFER_PROFILE_PATH", str(profiles))
        env.setenv("XFER_CONFIG_DIR", str(folder / "config"))
        with serve("ftpes", pki, root=folder / "ftps") as ftps, serve("davs", pki, root=folder / "dav") as dav:
            env.setenv(FTP_PASSWORD_VARIABLE, ftps.server.password)
            for name, endpoint in (("ftps-partner", ftps), ("dav-partner", dav)):
                data = endpoint.profile.to_toml()
                data["identity_password"] = f"env:{PASSWORD_VARIABLE}"
                if "password" in data:
                    data["password"] = f"env:{FTP_PASSWORD_VARIABLE}"
                (profiles / f"{name}.toml").write_text(tomli_w.dumps(data))
                outbox = endpoint.root / "outbox"
                outbox.mkdir()
                for index in range(FILES):
                    orders(index).to_csv(outbox / f"orders-{index:03d}.csv", index=False)
            ensure_registered()
            XferFileSystem.clear_instance_cache()
            yield {"ftps-partner": ftps, "dav-partner": dav}
            XferFileSystem.clear_instance_cache()


@pytest.fixture(scope="module")
def client(bed: dict[str, Endpoint]) -> Iterator[Client]:
    # Started after the environment is set: spawned worker processes inherit it.  No memory
    # limit: on a busy machine Dask would pause workers for memory this test does not use.
    # The dashboard on any free port (":0"): None means Dask's fixed 8787, which another run on
    # the machine may hold (a warning then, and a race).
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0",
                      memory_limit=0) as cluster:
        with Client(cluster) as dask_client:
            yield dask_client


def _cached_instances() -> int:
    from xfer.filesystem import XferFileSystem

    return len(XferFileSystem._cache)


@pytest.mark.parametrize("profile", ["ftps-partner", "dav-partner"])
def test_read_csv_on_worker_processes(
    profile: str, bed: dict[str, Endpoint], client: Client, pki: TestPKI
) -> None:
    frame = dd.read_csv(f"xfer://{profile}/outbox/*.csv")
    assert frame.npartitions == FILES
    graph = frame.__dask_graph__()
    for dumped in (cloudpickle.dumps(dict(graph)), pickle.dumps(frame)):
        assert pki.password.encode() not in dumped
        assert bed["ftps-partner"].server.password.encode() not in dumped
    # One pass over the files: per-SKU sums and counts, reduced as a tree (no shuffle).
    result = frame.groupby("sku")["amount"].agg(["sum", "count"], split_out=1).compute()

    local = pd.concat(
        [pd.read_csv(path) for path in sorted((bed[profile].root / "outbox").glob("*.csv"))], ignore_index=True
    )
    expected = local.groupby("sku")["amount"].agg(["sum", "count"])
    assert result["sum"].to_dict() == expected["sum"].to_dict()
    assert result["count"].to_dict() == expected["count"].to_dict()
    assert int(result["count"].sum()) == len(local) == FILES * 20
    # The reading happened in the worker processes: each holds its own filesystem instance.
    assert all(pid != os.getpid() for pid in client.run(os.getpid).values())
    assert all(count >= 1 for count in client.run(_cached_instances).values())
