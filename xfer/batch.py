"""Running many transfers: one after another on one connection, or over N connections.

Each transfer is a :class:`Task` (what to move, and the function that moves it
over a given adapter).  :func:`run_tasks` runs them in order on ``remote``; with
``parallel > 1`` it opens up to ``parallel - 1`` more connections with ``reconnect``
and gives each worker its own adapter — adapters are never shared between threads.

The first failure stops the batch: transfers still running are aborted at their
next block (through their progress callback), so their atomic writers remove the
partial files; the failure is raised once everything has stopped.  Ctrl-C does the
same and then re-raises KeyboardInterrupt.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass

from .adapters.base import Adapter, ProgressCallback, TransferResult
from .errors import Interrupted

__all__ = ["CallbackFactory", "Task", "run_tasks"]

#: Given (local path, remote path, size or None), return a progress callback (or None).
CallbackFactory = Callable[[str, str, int | None], ProgressCallback | None]


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
    """Run ``tasks``; results come back in task order."""
    if parallel <= 1 or reconnect is None or len(tasks) <= 1:
        return [task.run(remote, _callback(callbacks, task)) for task in tasks]
    return _Batch(remote, tasks, callbacks, min(parallel, len(tasks)), reconnect).run()


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
            for thread in threads:
                while thread.is_alive():
                    thread.join(0.2)  # short joins: the main thread stays responsive to Ctrl-C
        except KeyboardInterrupt:
            self.stop.set()
            for thread in threads:
                thread.join()
            raise
        if self.failure is not None:
            raise self.failure
        return [self.results[index] for index in range(len(self.tasks))]

    def _work(self, number: int) -> None:
        adapter: Adapter | None = None
        try:
            while not self.stop.is_set():
                try:
                    index = self.todo.get_nowait()
                except queue.Empty:
                    return
                if adapter is None:
                    # Worker 0 uses the caller's connection; the others open their own, lazily,
                    # so a batch of two files never opens a connection it does not use.
                    adapter = self.remote if number == 0 else self.reconnect()
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

    def _guarded(self, callback: ProgressCallback | None) -> ProgressCallback:
        def guarded(transferred: int, total: int | None) -> None:
            if self.stop.is_set():
                raise _Stopped("stopped because another transfer of the batch failed")
            if callback is not None:
                callback(transferred, total)

        return guarded
