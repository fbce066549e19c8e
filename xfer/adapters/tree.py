"""``rm -r``'s walk, once for every protocol that removes a tree entry by entry (FTPS, SFTP).

The whole tree is listed before anything is removed: whatever stops the walk (a cut or
oversized listing, a name the protocol must not delete by, a tree deeper than ``max_depth``:
a link loop, or a hostile server listing ``a/`` in every folder) stops it before anything is
deleted.  The walk is iterative.  The protocol lists (synchronously or not) and removes;
:class:`TreeWalk` says which folder to list next and, at the end, what to remove in which
order: every file, then the folders bottom-up::

    walk = TreeWalk(top, server=server)
    while (folder := walk.next_folder()) is not None:
        walk.found(list_folder(folder))          # or: await list_folder(folder)
    for path in walk.files: remove(path)
    for folder in walk.folders_bottom_up(): remove_folder(folder)
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from ..errors import RemoteError
from ..types import Entry

__all__ = ["MAX_TREE_DEPTH", "TreeWalk"]

#: Folders ``rm -r`` goes down before it stops.
MAX_TREE_DEPTH = 64


class TreeWalk:
    """The listing-first walk of the tree under ``top`` (see the module docstring).

    ``found`` takes the entries of the folder :meth:`next_folder` returned last, as the
    protocol lists them without following links: a link is removed, never gone through.
    """

    def __init__(self, top: str, *, server: str, max_depth: int = MAX_TREE_DEPTH) -> None:
        self.top = top
        self.server = server
        self.max_depth = max_depth
        #: Every folder, each before the folders inside it.
        self.folders: list[str] = []
        #: Every entry that is not a folder (files, links, others).
        self.files: list[str] = []
        self._pending: list[tuple[str, int]] = [(top, 0)]
        self._depth = 0

    def next_folder(self) -> str | None:
        """The next folder to list, or None once the whole tree is known.

        Raises :class:`~xfer.errors.RemoteError` for a folder deeper than ``max_depth``
        (nothing has been removed then).
        """
        if not self._pending:
            return None
        folder, self._depth = self._pending.pop()
        if self._depth > self.max_depth:
            raise RemoteError(
                f"{self.server}: {self.top} is nested more than {self.max_depth} folders deep "
                f"(at {folder}); rm -r removed nothing",
                hint="the server may list a folder inside itself (a link loop); remove it by hand",
                server=self.server, path=self.top,
            )
        self.folders.append(folder)
        return folder

    def found(self, entries: Iterable[Entry]) -> None:
        """The entries of the folder last returned by :meth:`next_folder`."""
        for entry in entries:
            if entry.type == "directory":
                self._pending.append((entry.path, self._depth + 1))
            else:
                self.files.append(entry.path)

    def folders_bottom_up(self) -> Iterator[str]:
        """The folders in an order where each comes after every folder inside it (``top`` last)."""
        return reversed(self.folders)
