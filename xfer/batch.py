"""Running many transfers: one after another on one connection, or over N connections.

Each transfer is a :class:`Task` (what to move, and the function that moves it
over a given adapter).  :func:`run_tasks` runs them in order on ``remote``; with
``parallel > 1`` up to ``parallel - 1`` more connections are opened and each worker
thread gets its own adapter — adapters are never shared between threads.  The extra
connections reuse ``remote``'s settings (the same TLS context and resolved secrets),
so nothing is prompted for or decrypted twice.

The first failure stops the batch: transfers still running are aborted at their
next block (through their progress callback), so their atomic writers remove the
partial files; the failure is raised once the workers have stopped.  Ctrl-C does
the same.  A worker stuck on a silent server is given :data:`GRACE_SECONDS`, then
abandoned (its thread is a daemon) after its partial download is removed.  A server
that refuses extra connections (per-user limits are common) just means fewer workers.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from .adapters.base import Adapter, ProgressCallback, TransferResult
from .errors import ConnectError, Interrupted, RemoteError, TLSError
from .transfer import discard_partial_downloads

__all__ = ["GRACE_SECONDS", "CallbackFactory", "Task", "run_tasks"]

#: Given (local path, remote path, size or None), return a progress callback (or None).
CallbackFactory = Callable[[str, str, int | None], ProgressCallback | None]

#: How long a stopping batch waits for workers blocked in the network before leaving them.
GRACE_SECONDS = 2.0


@dataclass(frozen=True)
class Task:
    """One transfer: ``run(adapter, callback)`` does it; the rest is for progress display."""

    local: str
    remote: str
    size: int | None
    run: Callable[[Adapter, ProgressCallback | None], TransferResult]


class _Stopped(Interrupted):
    """Raised inside a worker's transfer when the batch is stopping (never escapes run_tasks)."""


def run_tasks(
    remote: Adapter,
    tasks: list[Task],
    *,
    callbacks: CallbackFactory | None = None,
    parallel: int = 1,
    reconnect: Callable[[], Adapter] | None = None,
) -> list[TransferResult]:
    """Run ``tasks``; results come back in task order.

    ``reconnect`` opens another connection; the default builds one more adapter of
    ``remote``'s class from the same settings.
    """
    if parallel <= 1 or len(tasks) <= 1:
        return [task.run(remote, _callback(callbacks, task)) for task in tasks]
    opener = reconnect or (lambda: type(remote)(remote.settings))
    return _Batch(remote, tasks, callbacks, min(parallel, len(tasks)), opener).run()


def _callback(callbacks: CallbackFactory | None, task: Task) -> ProgressCallback | None:
    return callbacks(task.local, task.remote, task.size) if callbacks else None


class _Batch:
    def __init__(
        self,
        remote: Adapter,
        tasks: list[Task],
        callbacks: CallbackFactory | None,
        workers: int,
        reconnect: Callable[[], Adapter],
    ) -> None:
        self.remote = remote
        self.tasks = tasks
        self.callbacks = callbacks
        self.workers = workers
        self.reconnect = reconnect
        self.todo: queue.SimpleQueue[int] = queue.SimpleQueue()
        for index in range(len(tasks)):
            self.todo.put(index)
        self.results: dict[int, TransferResult] = {}
        self.failure: BaseException | None = None
        self.stop = threading.Event()
        self.lock = threading.Lock()

    def run(self) -> list[TransferResult]:
        threads = [
            threading.Thread(target=self._work, args=(n,), name=f"xfer-transfer-{n}", daemon=True)
            for n in range(self.workers)
        ]
        for thread in threads:
            thread.start()
        try:
            while any(t.is_alive() for t in threads) and not self.stop.is_set():
                threads[0].join(0.1)  # short waits: the main thread stays responsive to Ctrl-C
            self._wind_down(threads)
        except KeyboardInterrupt:
            self.stop.set()
            try:
                self._wind_down(threads)
            finally:
                discard_partial_downloads()
            raise
        if self.failure is not None:
            raise self.failure
        # A task handed back by a worker that could not connect, after worker 0 had
        # already found the queue empty, is still to do: run it here, on the first connection.
        for index in range(len(self.tasks)):
            if index not in self.results:
                task = self.tasks[index]
                self.results[index] = task.run(self.remote, _callback(self.callbacks, task))
        return [self.results[index] for index in range(len(self.tasks))]

    def _wind_down(self, threads: list[threading.Thread]) -> None:
        """Wait for the workers; after a stop, only for a while, then clean up after them."""
        deadline = time.monotonic() + GRACE_SECONDS if self.stop.is_set() else None
        for thread in threads:
            while thread.is_alive():
                if deadline is None and self.stop.is_set():
                    deadline = time.monotonic() + GRACE_SECONDS
                if deadline is not None and time.monotonic() >= deadline:
                    # Blocked in the network; its socket timeout will end it.  Its partial
                    # download must not outlive this call.
                    discard_partial_downloads()
                    return
                thread.join(0.1)

    def _work(self, number: int) -> None:
        adapter: Adapter | None = None
        try:
            while not self.stop.is_set():
                try:
                    index = self.todo.get_nowait()
                except queue.Empty:
                    return
                if adapter is None:
                    adapter = self._connect(number, index)
                    if adapter is None:
                        return
                task = self.tasks[index]
                result = task.run(adapter, self._guarded(_callback(self.callbacks, task)))
                with self.lock:
                    self.results[index] = result
        except _Stopped:
            return
        except BaseException as exc:
            with self.lock:
                if self.failure is None:
                    self.failure = exc
            self.stop.set()
        finally:
            if adapter is not None and adapter is not self.remote:
                adapter.close()

    def _connect(self, number: int, index: int) -> Adapter | None:
        """Worker 0 uses the caller's connection; the others open their own, lazily."""
        if number == 0:
            return self.remote
        try:
            adapter = self.reconnect()
        except (ConnectError, TLSError, RemoteError):
            # "421 too many connections" and friends: one worker fewer, not a failed batch.
            # Worker 0 is always there to take the task back.
            self.todo.put(index)
            return None
        if self.stop.is_set():
            self.todo.put(index)
            adapter.close()
            return None
        return adapter

    def _guarded(self, callback: ProgressCallback | None) -> ProgressCallback:
        def guarded(transferred: int, total: int | None) -> None:
            if self.stop.is_set():
                raise _Stopped("stopped because another transfer of the batch failed")
            if callback is not None:
                callback(transferred, total)

        return guarded
