"""``HTTPSAdapter.info_each``: the pipelined ``HEAD``\\ s answer as ``info`` answers one path at a
time, for every kind of answer (a file, a folder, 404, a refused ``HEAD`` found or not in the
listing, a name that needs escaping, a name that cannot be sent)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from xfer.adapters.base import Entry, ListedPath
from xfer.errors import UsageError, XferError
from xfer.testing.https_server import HTTPSServer
from xfer.testing.pki import TestPKI
from xfer.tls import XferSSLContext

from .test_sync import make_tree
from .test_sync_index import index_adapter

ContextFactory = Callable[..., XferSSLContext]

PATHS = ["/out/a.txt", "/out/sub", "/out/missing.txt", "/out/secret.txt", "/out/hidden-gone.txt",
         "/out/with space #1?.txt", "/out/caf\u00e9.txt", "/nowhere/x.txt"]


def _shown(found: Entry | XferError) -> tuple[str, object]:
    if isinstance(found, Entry):
        return ("entry", (found.path, found.type, found.size))
    return (type(found).__name__, getattr(found, "status", None))


@pytest.mark.parametrize("head_status", [None, 405])
def test_info_each_answers_as_info_does(
    pki: TestPKI, client_context: ContextFactory, tmp_path: Path, head_status: int | None
) -> None:
    make_tree(tmp_path / "srv" / "out", {"a.txt": b"a", "sub/b.txt": b"bb", "secret.txt": b"s",
                                         "with space #1?.txt": b"w", "caf\u00e9.txt": b"c"})
    with HTTPSServer(pki, root=tmp_path / "srv", index="json", head_status=head_status,
                     statuses={"/out/secret.txt": 403, "/out/hidden-gone.txt": 403}) as srv:
        with index_adapter(srv, client_context(), "json") as remote:
            together = remote.info_each(PATHS)
            alone: list[Entry | XferError] = []
            for path in PATHS:
                try:
                    alone.append(remote.info(path))
                except XferError as own:
                    alone.append(own)
            refused = remote.info_each(["/out/a.txt", "/out/bad\\name", "/out/sub",
                                        ListedPath("/out/caf\udce9.txt")])  # (a local name not UTF-8: no URL)
    assert [_shown(found) for found in together] == [_shown(found) for found in alone]
    assert _shown(together[0]) == ("entry", ("/out/a.txt", "file", 1))
    assert _shown(together[2]) == ("RemoteNotFound", 404 if head_status is None else 405)
    # (Under a folder that is not there: 404; without HEAD the folder's own look is refused.)
    assert _shown(together[-1]) == (("RemoteNotFound", 404) if head_status is None else ("UnsupportedOperation", 405))
    assert isinstance(refused[1], UsageError) and _shown(refused[2])[0] == "entry"
    assert isinstance(refused[3], UsageError)  # that name's own: before, it failed the whole call
