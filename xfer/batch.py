"""Many files: what ``Adapter.put`` / ``Adapter.get`` plan, and running the transfers.

:func:`put_files` and :func:`get_files` turn sources (files, and with ``recursive``
folders) into one :class:`Task` per file; :func:`run_tasks` runs them one after
another on one connection, or over N connections.

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

import contextlib
import functools
import os
import posixpath
import queue
import stat
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Generic, TypeVar, cast, overload

from .errors import (
    BatchInterrupted,
    ConnectError,
    FilesFailed,
    Interrupted,
    RemoteError,
    RemoteIsFolder,
    RemoteNotFound,
    RemotePermissionDenied,
    TLSError,
    UnsupportedOperation,
    UsageError,
    XferError,
)
from .log import logger
from .options import DEFAULT_MAX_DEPTH
from .retry import RetryPolicy, is_transient, own_failure
from .transfer import PartialDownloads, is_temporary, local_error, local_errors, note_temporary, reporting_partials_to
from .types import Capability, Entry, ListedPath, ProgressCallback, TransferResult
from .urls import check_remote_path, is_utf8

if TYPE_CHECKING:
    # Annotations only: the adapters call into this module (Adapter.put / Adapter.get).
    from .adapters.base import Adapter

__all__ = [
    "GRACE_SECONDS", "CallbackFactory", "LazyTasks", "Task", "get_files", "local_tree", "make_local_folders",
    "put_files", "remote_tree", "run_tasks",
]

_log = logger(__name__)

#: Given (local path, remote path, size or None), return a progress callback (or None).
CallbackFactory = Callable[[str, str, int | None], ProgressCallback | None]

#: How long a stopping batch waits for workers blocked in the network before leaving them.
GRACE_SECONDS = 2.0

#: How long the workers after the first wait for its first group before they connect anyway:
#: 1,000 x 4 KiB to a local nginx, the first group (a connection opened, 32 files) took 12-15 ms;
#: over 40 ms round trips it cannot be back in less than ~120 ms, and the others had joined
#: only after it (0.86 s against 0.75 s when they connected at once).
_PATIENCE = 0.03

#: A group that waited this many times longer than it computed starts the other workers alone
#: (a distant server: 40 ms round trips against ~6 ms of Python per group of 32 small files).
#: The machine's load makes a group wait about as long as it computes, not three times as long
#: (two CPU hogs on two cores: 1-2.3 times).
_CLEARLY_WAITING = 3

#: The process's CPU time, in seconds: what a group computed, whichever thread did it (SFTP's
#: requests run on its session's event-loop thread: the worker's own clock saw 1 ms of a 20 ms
#: group, and every group as waiting).  Until the other workers connect, nothing else in the
#: process computes.  (A name of this module's so that tests can stand in for a machine whose
#: load they cannot control.)
cpu_time: Callable[[], float] = time.process_time
#: Whether that clock can time a group of small files (a few ms).  Windows' moves in scheduler
#: ticks (~16 ms): there every worker connects at once, as without the measure.
_FINE_CPU_CLOCK = sys.platform != "win32"


@dataclass(frozen=True, slots=True)
class Task:
    """One transfer: ``run(adapter, callback)`` does it; the rest is for progress display."""

    local: str
    remote: str
    size: int | None
    run: Callable[[Adapter, ProgressCallback | None], TransferResult]
    #: An upload that may go with others of its kind (:meth:`Adapter.put_together`), if it is small
    #: enough for the adapter; ``run`` is still what moves it when that does not.
    upload: bool = False
    #: The same for a download (:meth:`Adapter.get_together`), by the size its listing showed.
    download: bool = False
    #: An upload that gives the remote file the local file's time where the adapter can with the
    #: upload (see :meth:`Adapter.put_file`); a group holds only tasks alike in this.
    preserve_times: bool = False
    #: What follows the transfer when the task went together with others (alone, ``run`` does
    #: it itself): given the adapter and the transfer's result, the result to report.  Run on
    #: the worker's thread and connection, also after a stop (see ``_run_group``).
    after: Callable[[Adapter, TransferResult], TransferResult] | None = None
    #: Run once on the worker's connection when the task's group is done (after the group's last
    #: ``after`` or ``run``): what those queued to do at once (sync: remove the downloaded files'
    #: remote sources together).  Tasks of a group with the same ``finish`` have it run once.
    #: Also when files of the group failed on their own (the rest moved); not after a stop
    #: (another transfer stopped the batch, Ctrl-C): the batch is winding down, and what was
    #: queued stays undone (sync: those sources stay, for the next run to remove).  What it raises
    #: stops the batch: a hook keeps its files' own failures to itself (sync records them).
    finish: Callable[[Adapter], None] | None = None


_J = TypeVar("_J")


class LazyTasks(Sequence[Task], Generic[_J]):
    """The tasks of a large plan, each built when the runner asks for it.

    A plan of 100,000 files holds only its compact jobs (paths and a size); a
    :class:`Task` (with its function) exists only while it runs.
    """

    def __init__(self, jobs: Sequence[_J], make: Callable[[_J], Task]) -> None:
        self._jobs = jobs
        self._make = make

    def __len__(self) -> int:
        return len(self._jobs)

    @overload
    def __getitem__(self, index: int) -> Task: ...

    @overload
    def __getitem__(self, index: slice) -> list[Task]: ...

    def __getitem__(self, index: int | slice) -> Task | list[Task]:
        if isinstance(index, slice):
            return [self._make(job) for job in self._jobs[index]]
        return self._make(self._jobs[index])


class _Stopped(Interrupted):
    """Raised inside a worker's transfer when the batch is stopping (never escapes run_tasks)."""

    def __init__(self) -> None:
        super().__init__("stopped because another transfer of the batch failed")


def run_tasks(
    remote: Adapter,
    tasks: Sequence[Task],
    *,
    callbacks: CallbackFactory | None = None,
    parallel: int = 1,
    reconnect: Callable[[], Adapter] | None = None,
) -> list[TransferResult]:
    """Run ``tasks`` (a list, or a :class:`LazyTasks`); results come back in task order.

    ``reconnect`` opens another connection; the default builds one more adapter of
    ``remote``'s class from the same settings.

    A file that fails on its own (:func:`~xfer.retry.own_failure`: the server refuses that
    file, its copy is not proven) fails alone: the others go on, and at the end
    :class:`~xfer.errors.FilesFailed` says what moved and what failed.  Any other failure (the
    connection, the login, a full disk) stops the batch: :class:`~xfer.errors.FilesFailed` too
    if files had moved before it, so that a caller still reports them (and may remove their
    sources).  A batch of one file raises its error itself.

    Ctrl-C (a :class:`KeyboardInterrupt`: the console script turns SIGTERM into one too) stops the
    batch the same way; if files had settled, it is raised as
    :class:`~xfer.errors.BatchInterrupted`, with what moved and what failed, so that a caller
    still reports them and removes their sources, as for :class:`~xfer.errors.FilesFailed`.
    """
    #: Each task's outcome by its index, recorded as it settles (also in a group that stops).
    outcomes: dict[int, Outcome] = {}
    lock = threading.Lock()
    try:
        if parallel <= 1 or len(tasks) <= 1:
            pending = iter(tasks)
            placed = 0
            for first in pending:
                group = _take_group(remote, first, lambda: next(pending, None))
                _run_group(remote, group, [_callback(callbacks, task) for task in group],
                           functools.partial(_record, outcomes, lock, range(placed, placed + len(group))))
                placed += len(group)
        else:
            opener = reconnect or (lambda: type(remote)(remote.settings))
            _Batch(remote, tasks, callbacks, min(parallel, len(tasks)), opener, outcomes, lock).run()
    except XferError as stop:
        if isinstance(stop, FilesFailed):
            raise
        with lock:
            so_far = [outcomes[index] for index in sorted(outcomes)]
        if isinstance(stop, Interrupted):
            # Ctrl-C that an adapter worded (FTPS, during a rename: where the upload may be): still
            # the user's interruption, with what moved, as for a bare one below (review O, finding 1).
            # (A stop the batch made itself, because another transfer failed, is no Ctrl-C.)
            if not so_far or not isinstance(stop.__cause__, KeyboardInterrupt):
                raise
            raise BatchInterrupted([o for o in so_far if isinstance(o, TransferResult)],
                                   [stop, *(o for o in so_far if isinstance(o, XferError))]) from stop
        done = [o for o in so_far if isinstance(o, TransferResult)]
        if not so_far:
            raise
        # The failure that stopped the batch leads (its exit code), then each file's own, in order.
        raise FilesFailed.of([stop, *(o for o in so_far if isinstance(o, XferError))], done, stopped=True) from stop
    except KeyboardInterrupt as interrupt:
        if isinstance(interrupt, BatchInterrupted):
            raise
        with lock:
            so_far = [outcomes[index] for index in sorted(outcomes)]
        if not so_far:
            raise
        # Still the user's Ctrl-C (nothing that catches XferError swallows it), now with what moved.
        raise BatchInterrupted([o for o in so_far if isinstance(o, TransferResult)],
                               [o for o in so_far if isinstance(o, XferError)]) from interrupt
    ordered = [outcomes[index] for index in range(len(tasks))]
    failures = [o for o in ordered if isinstance(o, XferError)]
    if not failures:
        return cast("list[TransferResult]", ordered)
    if len(tasks) == 1:
        raise failures[0]
    raise FilesFailed.of(failures, [o for o in ordered if isinstance(o, TransferResult)]) from failures[0]


def _record(outcomes: dict[int, Outcome], lock: threading.Lock, indexes: Sequence[int], number: int,
            outcome: Outcome) -> None:
    """``outcome`` of the task at ``number`` in a group whose tasks are ``indexes`` of the batch."""
    with lock:
        outcomes[indexes[number]] = outcome


#: What one task came to: its result, or the failure that was its own (the batch went on).
Outcome = TransferResult | XferError


def _fails_alone(exc: BaseException) -> bool:
    """Whether ``exc``, raised by one task, is that file's own failure: the batch goes on without it."""
    return isinstance(exc, XferError) and not isinstance(exc, Interrupted) and own_failure(exc)


def _callback(callbacks: CallbackFactory | None, task: Task) -> ProgressCallback | None:
    return callbacks(task.local, task.remote, task.size) if callbacks else None


def _goes_together(adapter: Adapter, task: Task) -> bool:
    """Whether ``task`` may go with others over ``adapter``: a small upload (:meth:`Adapter.put_together`)
    or download (:meth:`Adapter.get_together`), in a direction the adapter moves together now."""
    return ((task.upload or task.download) and task.size is not None and task.size <= adapter.together_max_size
            and adapter.moves_together(upload=task.upload)
            # (A path no URL can carry goes alone, to fail alone: see put_files.)
            and not (adapter.paths_in_urls and not is_utf8(task.remote)))


def _alike(task: Task, other: Task) -> bool:
    """Whether two tasks may be in one call to the adapter: the same direction, the same ``preserve_times``."""
    return task.upload == other.upload and task.preserve_times == other.preserve_times


def _all_together(adapter: Adapter, group: list[Task]) -> bool:
    """Whether ``group`` is several small transfers that go together in one call to the adapter."""
    return len(group) > 1 and all(_goes_together(adapter, task) for task in group)


def _take_group(adapter: Adapter, first: Task, take_next: Callable[[], Task | None]) -> list[Task]:
    """``first`` and, if it may go with others, the tasks ``take_next`` gives after it while they
    may too, up to the adapter's :attr:`~Adapter.together_files` and (about)
    :attr:`~Adapter.together_bytes`.  The last task taken may be one that may not: it runs alone."""
    group = [first]
    total = first.size or 0
    if not _goes_together(adapter, first):
        return group
    while len(group) < adapter.together_files and total < adapter.together_bytes:
        task = take_next()
        if task is None:
            break
        group.append(task)
        if not _goes_together(adapter, task) or not _alike(task, first):
            break
        total += task.size or 0
    return group


def _run_group(
    adapter: Adapter, group: list[Task], callbacks: Sequence[ProgressCallback | None],
    record: Callable[[int, Outcome], None], *,
    left: Callable[[], bool] = lambda: False, stopping: Callable[[], bool] = lambda: False,
) -> int:
    """Move ``group``: together those that may, in one call to :meth:`Adapter.put_together` (or
    :meth:`~Adapter.get_together`: a group is of one direction), then one by one every task that
    did not go that way.  Each task's outcome goes to ``record(number in group, outcome)`` as it
    settles, so what settled is known even when the group stops half-way.  Returns how many went
    together.

    Every file that arrived together is settled (its task's ``after``) before anything else can
    fail: before the tasks left to go alone, and when the group call is stopped (another
    transfer failed, Ctrl-C) after some files had arrived (the adapter tells of each as it
    lands).  A file on the destination is then never left out of what ``after`` records, for
    another file's failure; the first failure is raised once all are settled, any later one
    logged.  Once ``left()`` (the batch has returned without this worker), nothing more is
    settled or moved alone: a file not settled stays unrecorded, its source kept.  Once
    ``stopping()`` (another transfer stopped the batch), nothing more is moved alone.

    A failure that is one file's own (:func:`_fails_alone`) is that file's outcome, not a stop.
    If the group call itself ends with one, what did not arrive goes one by one: the failing
    file fails again alone, and every other is still moved.
    """
    together = [number for number, task in enumerate(group)
                if _goes_together(adapter, task) and _alike(task, group[0])]
    moved: dict[int, TransferResult] = {}
    stop: BaseException | None = None
    if len(together) > 1:

        def landed(place: int, result: TransferResult) -> None:
            moved[together[place]] = result

        try:
            first = group[together[0]]
            if first.upload:
                results = adapter.put_together([(group[n].local, group[n].remote, callbacks[n]) for n in together],
                                               landed=landed, preserve_times=first.preserve_times)
            else:
                results = adapter.get_together([(group[n].remote, group[n].local, callbacks[n]) for n in together],
                                               landed=landed, listed=[group[n].size for n in together])
            for number, result in zip(together, results, strict=True):
                if result is not None:
                    moved.setdefault(number, result)  # (an adapter that tells nothing as files land)
        except BaseException as exc:  # a stop: what had arrived is settled first
            if not _fails_alone(exc):
                stop = exc
            else:  # one file's own: what did not arrive goes alone below, that file failing again
                _log.debug("a file of a group failed (%s): the rest goes one by one", exc)
    settled: set[int] = set()
    for number in sorted(moved):
        if left():
            break  # the caller has gone on (its connection may be closing): no new requests on it
        after = group[number].after
        try:
            record(number, after(adapter, moved[number]) if after is not None else moved[number])
        except BaseException as exc:
            if _fails_alone(exc):
                record(number, cast(XferError, exc))
            elif stop is None:
                stop = exc
            elif not isinstance(exc, (Interrupted, KeyboardInterrupt)):
                _log.warning("%s", exc)  # (the first failure is the one raised)
            if isinstance(exc, (Interrupted, KeyboardInterrupt)):
                break  # stopped again (Ctrl-C twice): the rest stays unsettled, as a file alone would
        settled.add(number)
    if stop is None and left():
        stop = _Stopped()  # (nothing moves alone either)
    if stop is not None:
        raise stop  # (no finish: see Task.finish)
    for number, task in enumerate(group):
        if number in settled:
            continue
        if left() or stopping():
            raise _Stopped()
        try:
            record(number, task.run(adapter, callbacks[number]))
        except BaseException as exc:
            if not _fails_alone(exc):
                raise
            record(number, cast(XferError, exc))
    _finish(adapter, group, lambda: left() or stopping())
    return len(moved)


def _finish(adapter: Adapter, group: list[Task], stopped: Callable[[], bool]) -> None:
    """Each distinct ``finish`` of ``group``'s tasks, once, unless the batch has stopped or left
    (see :attr:`Task.finish`)."""
    hooks: list[Callable[[Adapter], None]] = []
    for task in group:
        if task.finish is not None and task.finish not in hooks:
            hooks.append(task.finish)
    for hook in hooks:
        if stopped():
            return  # the batch winds down (what was queued stays undone), or the caller has gone on
        hook(adapter)


class _Batch:
    def __init__(
        self,
        remote: Adapter,
        tasks: Sequence[Task],
        callbacks: CallbackFactory | None,
        workers: int,
        reconnect: Callable[[], Adapter],
        results: dict[int, Outcome],
        lock: threading.Lock,
    ) -> None:
        self.remote = remote
        self.tasks = tasks
        self.callbacks = callbacks
        self.workers = workers
        self.reconnect = reconnect
        self.todo: queue.SimpleQueue[int] = queue.SimpleQueue()
        for index in range(len(tasks)):
            self.todo.put(index)
        #: Each task's outcome by index, as it settles (the caller's: it reads them after a stop too).
        self.results = results
        self.failure: BaseException | None = None
        self.stop = threading.Event()
        self.lock = lock
        #: Set when the last worker ends or the batch stops: what the main thread waits for.
        self.wake = threading.Event()
        self.running = workers
        #: Set once more connections are worth opening (see :meth:`_crowd_after`): the workers
        #: after the first wait for it.  Small files sent together keep them waiting while
        #: the first connection computes more than it waits.
        self.crowd = threading.Event()
        #: How many of the last groups measured in a row waited longer than they computed (:meth:`_crowd_after`).
        self.waiting_groups = 0
        #: Set once the first worker's first group is back (what the others wait :data:`_PATIENCE` for).
        self.timed = threading.Event()
        #: Set when the batch stops waiting for its workers (after a stop, :data:`GRACE_SECONDS`):
        #: a worker still settling a group's files then starts nothing more (``_run_group``).
        self.left = threading.Event()
        #: The temp files of the workers' downloads in progress (removed when the batch leaves them).
        self.partials = PartialDownloads()
        if not _FINE_CPU_CLOCK:
            self.crowd.set()

    def run(self) -> None:
        """Every task's outcome into :attr:`results`; the failure that stopped the batch raised
        (the outcomes so far are in :attr:`results`)."""
        threads = [
            threading.Thread(target=self._work, args=(n,), name=f"xfer-transfer-{n}", daemon=True)
            for n in range(self.workers)
        ]
        try:
            for thread in threads:
                thread.start()
            # Short waits: the main thread stays responsive to Ctrl-C.  (It used to join the
            # first worker, which returns at once when that one has ended: the main thread then
            # spun at full CPU while another worker finished a long file.)
            while not self.wake.wait(0.1):
                pass
            self._wind_down(threads)
        except BaseException:  # Ctrl-C, even while the workers start; a thread that cannot start
            self.stop.set()
            self.crowd.set()
            try:
                self._wind_down(threads)
            finally:
                self.partials.remove_all()
            raise
        if self.failure is not None:
            raise self.failure
        # A task handed back by a worker that could not connect, after worker 0 had
        # already found the queue empty, is still to do: run it here, on the first connection.
        for index in range(len(self.tasks)):
            if index not in self.results:
                task = self.tasks[index]
                _run_group(self.remote, [task], [_callback(self.callbacks, task)],
                           functools.partial(_record, self.results, self.lock, [index]))

    def _wind_down(self, threads: list[threading.Thread]) -> None:
        """Wait for the workers; after a stop, only for a while, then clean up after them."""
        deadline = time.monotonic() + GRACE_SECONDS if self.stop.is_set() else None
        for thread in threads:
            while thread.is_alive():
                if deadline is None and self.stop.is_set():
                    deadline = time.monotonic() + GRACE_SECONDS
                if deadline is not None and time.monotonic() >= deadline:
                    # Blocked in the network; its socket timeout will end it.  Its partial
                    # download must not outlive this call, nor new requests start after it.
                    self.left.set()
                    self.partials.remove_all()
                    return
                thread.join(0.1)

    def _work(self, number: int) -> None:
        with reporting_partials_to(self.partials):
            self._work_through(number)

    def _work_through(self, number: int) -> None:
        adapter: Adapter | None = None
        policy: RetryPolicy | None = None  # the adapter's own, put back when the worker ends
        try:
            if number > 0:
                if not self.crowd.wait(_PATIENCE) and not self.timed.is_set():
                    # The first group is not back yet: a distant or slow server (a fast link
                    # answers one well within this), where the others should not wait for it.
                    self.crowd.set()
                self.crowd.wait()
            while not self.stop.is_set():
                try:
                    index = self.todo.get_nowait()
                except queue.Empty:
                    return
                if adapter is None:
                    adapter = self._connect(number, index)
                    if adapter is None:
                        return
                    policy = adapter.retry_policy
                    adapter.retry_policy = self._stoppable(policy)
                taken = [index]
                group = _take_group(adapter, self.tasks[index], functools.partial(self._take_next, taken))
                measured = not self.crowd.is_set() and _all_together(adapter, group)
                if not measured:
                    self.crowd.set()
                started, computing = time.monotonic(), cpu_time()
                callbacks = [self._guarded(_callback(self.callbacks, task)) for task in group]
                record = functools.partial(_record, self.results, self.lock, taken)
                moved = _run_group(adapter, group, callbacks, record, left=self.left.is_set, stopping=self.stop.is_set)
                if measured:
                    self._crowd_after(moved / len(group), time.monotonic() - started, cpu_time() - computing)
                self.timed.set()
        except _Stopped:
            return
        except BaseException as exc:
            with self.lock:
                if self.failure is None:
                    self.failure = exc
            self.stop.set()
            self.wake.set()
        finally:
            self.crowd.set()  # the queue is empty or the batch stops: the waiting workers end too
            try:
                if adapter is not None and policy is not None:
                    adapter.retry_policy = policy
                if adapter is not None and adapter is not self.remote:
                    adapter.close()
            finally:
                with self.lock:
                    self.running -= 1
                    if self.running == 0:
                        self.wake.set()

    def _crowd_after(self, moved: float, elapsed: float, computed: float) -> None:
        """Let the other workers connect if the groups of small files measured so far show that
        more connections would help; the last one took ``elapsed`` seconds, ``computed`` of them
        on the process's CPU (:data:`cpu_time`), and ``moved`` is the share of its files that went together.

        Why (issue 14): threads share one interpreter lock, so more connections only help while
        a connection waits (round trips, the server).  Small files sent together in one write
        spend most of their time in Python on a fast link: extra workers then add handshakes
        and lock hand-offs at every system call (1,000 × 4 KiB to a local nginx took 0.20 s on
        one connection and 0.30 s on four), so they are not started until two groups in a
        row have waited (taken longer than their CPU time) at least as long as they computed,
        or one group :data:`_CLEARLY_WAITING` times as long: one group slowed by the machine's
        load must not decide, and a distant server should not cost the run two round trips.
        A group of which most files went one by one (the server or the settings allow no
        pipelining) is round-trip bound, as is any task that does not go together (a larger
        file: the kernel and encryption, outside the lock): either starts them at once.  (And
        the workers do not wait for a first group slower than :data:`_PATIENCE`: see ``_work``.)
        """
        if moved < 0.5:
            self.crowd.set()
            return
        waited = elapsed - computed
        self.waiting_groups = self.waiting_groups + 1 if waited >= computed else 0
        if self.waiting_groups >= 2 or waited >= _CLEARLY_WAITING * computed:
            self.crowd.set()

    def _take_next(self, taken: list[int]) -> Task | None:
        """The next task of the queue (its index appended to ``taken``); None if there is none."""
        try:
            taken.append(self.todo.get_nowait())
        except queue.Empty:
            return None
        return self.tasks[taken[-1]]

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

    def _stoppable(self, policy: RetryPolicy) -> RetryPolicy:
        """``policy`` whose wait between tries ends (and gives up) as soon as the batch stops:
        a worker must not start a retry after another transfer failed or Ctrl-C."""

        def sleep(seconds: float) -> None:
            if policy.sleep is not None:
                policy.sleep(seconds)
            else:
                self.stop.wait(seconds)
            if self.stop.is_set():
                raise _Stopped()

        return replace(policy, sleep=sleep)

    def _guarded(self, callback: ProgressCallback | None) -> ProgressCallback:
        def guarded(transferred: int, total: int | None) -> None:
            if self.stop.is_set():
                raise _Stopped()
            if callback is not None:
                callback(transferred, total)

        return guarded


# -- many files: what Adapter.put / Adapter.get run ----------------------------------------


@dataclass(frozen=True, slots=True)
class _Job:
    local: str | Path
    remote: str
    size: int | None


def _remote_is_dir(remote: Adapter, path: str) -> bool:
    if path.endswith("/"):
        return True
    if not ({Capability.LS, Capability.INFO} & remote.capabilities):
        return False
    try:
        return remote.info(path).is_dir
    except (RemoteNotFound, UnsupportedOperation):
        # Not there, or the server cannot say: the destination names the file.
        return False
    except RemoteError as exc:
        # A look the server refuses (a write-only drop folder: SIZE, MDTM and LIST denied) is no
        # answer either: the destination names the file, and the STOR says what it says.  An upload
        # must not depend on a listing (review O, finding 4).  Only a refusal of the look itself,
        # though: a transient failure stays one, and a full server or a lock is the upload's news too.
        if is_transient(exc) or not (isinstance(exc, RemotePermissionDenied) or type(exc) is RemoteError):
            raise
        return False


def put_files(
    remote: Adapter,
    sources: list[str | os.PathLike[str]],
    destination: str,
    *,
    recursive: bool = False,
    callbacks: CallbackFactory | None = None,
    parallel: int = 1,
    reconnect: Callable[[], Adapter] | None = None,
) -> list[TransferResult]:
    """Upload files (and with ``recursive`` folders) to ``destination``.

    ``destination`` ending in ``/``, naming an existing remote folder, or given
    several sources, is a folder to upload *into*; otherwise it is the file name.
    With ``parallel > 1`` and ``reconnect`` (opens another connection like
    ``remote``), files move over up to that many connections at once.
    """
    check_remote_path(destination)  # typed by the caller; the names appended below are listed
    paths = [Path(s) for s in sources]
    folder_sources: set[Path] = set()
    for path in paths:
        with local_errors(path, "reading"):  # stat() raises for a name too long, and more
            path.stat()
            if path.is_dir():
                folder_sources.add(path)
        if path in folder_sources and not recursive:
            raise UsageError(f"{path} is a folder", hint="pass recursive=True to upload folders",
                             cli_hint="use -r to upload folders")
    into = len(paths) > 1 or bool(folder_sources) or _remote_is_dir(remote, destination)
    # "DIR/." names DIR's contents, as for cp -r: they go into the destination itself, not into
    # a DIR below it.  pathlib reads "DIR/." as "DIR", so the spelling is looked at as typed.
    contents = {path for path, given in zip(paths, sources, strict=True) if _names_contents(os.fspath(given))}
    jobs: list[_Job] = []
    folders: list[str] = []
    for path in paths:
        # Names from the local disk are names (a backslash is legal in one on POSIX), not typed paths.
        if path in contents and path in folder_sources:
            base = destination
        else:
            base = ListedPath(posixpath.join(destination, _local_name(path))) if into else destination
        with local_errors(path, "reading"):
            if path in folder_sources:
                folders.append(base)
                for parts, child, info in sorted(local_tree(os.fspath(path), utf8_only=remote.paths_in_urls),
                                                 key=_path_order):
                    relative = ListedPath(posixpath.join(base, "/".join(parts)))
                    if stat.S_ISDIR(info.st_mode):
                        folders.append(relative)
                    else:
                        jobs.append(_Job(child, relative, info.st_size))
            else:
                jobs.append(_Job(path, base, path.stat().st_size))
    if folders and Capability.MKDIR in remote.capabilities:
        for folder in folders:
            remote.mkdir(folder, parents=True)
    _refuse_duplicates([job.remote for job in jobs], "upload")
    created: set[str] = set()
    mkdir_lock = threading.Lock()

    def upload(job: _Job) -> Task:
        def run(adapter: Adapter, callback: ProgressCallback | None) -> TransferResult:
            if adapter.paths_in_urls and not is_utf8(job.remote):
                raise _unaddressable(job.local)
            try:
                return adapter.put_file(job.local, job.remote, callback=callback)
            except RemoteNotFound:
                # Like rclone: a missing destination folder is created, then the upload is
                # retried once.  The lock keeps parallel workers from racing to create it.
                if Capability.MKDIR not in adapter.capabilities:
                    raise
                parent = ListedPath(posixpath.dirname(job.remote.rstrip("/")) or "/")
                with mkdir_lock:
                    if parent not in created:
                        adapter.mkdir(parent, parents=True)
                        created.add(parent)
                return adapter.put_file(job.local, job.remote, callback=callback)

        return Task(str(job.local), job.remote, job.size, run, upload=True)

    return run_tasks(remote, LazyTasks(jobs, upload), callbacks=callbacks, parallel=parallel, reconnect=reconnect)


def _refuse_file_and_folder(files: Iterable[str], folders: Iterable[Path]) -> None:
    """A file and a folder for one local name (a file ``x`` and a folder ``x`` among the sources,
    or a listing that shows a name as both): refused before anything is made, not found half-way."""
    names = {os.fspath(folder) for folder in folders}
    clash = next((file for file in files if file in names), None)
    if clash is not None:
        raise UsageError(f"{clash} would be both a file and a folder: the sources (or the server's listing) "
                         "name a file and a folder alike", hint="download them separately, into different folders")


def _local_name(path: Path) -> str:
    """The name a local source goes by remotely: its own, or for ``..`` (``a/..``) the folder it
    stands for.  Joined as is, ``put -r .. NAME:/data/up/`` wrote into ``/data``, over the
    partner's files there (review T, session 26)."""
    if path.name not in ("", ".", ".."):
        return path.name
    name = os.path.basename(os.path.normpath(os.path.abspath(path)))
    if not name:
        raise UsageError(f"{path} is the root folder, which has no name to upload it under",
                         hint="upload its contents: give the folder with a trailing /. (as cp -r)")
    return name


def _names_contents(given: str) -> bool:
    """``DIR/.`` (or ``.``): a folder's contents rather than the folder."""
    return given == "." or given.endswith(("/.", os.sep + "."))


def _refuse_duplicates(destinations: Iterable[str], what: str) -> None:
    """Two sources with the same name would race for one destination (and one would be lost)."""
    seen: set[str] = set()
    for destination in destinations:
        if destination in seen:
            raise UsageError(f"two sources would {what} to {destination}",
                             hint="give them different names, or transfer them separately")
        seen.add(destination)


#: Why a local tree's walk passes over a link to a folder: it may loop, or lead anywhere on the disk.
LINKED_FOLDER = "a symbolic link to a folder (not followed; give the folder itself to send it)"
#: Why it passes over a named pipe, a socket or a device.
NOT_A_FILE = "not a regular file (a pipe, a socket or a device)"
#: Why it passes over a name that is not UTF-8, for a server addressed by URLs (:attr:`Adapter.paths_in_urls`).
NOT_UTF8 = "its name is not UTF-8 and cannot be put in a URL"


def _unaddressable(local: object) -> UsageError:
    """The error of an upload of ``local`` to a path that is not UTF-8 (its local name was not),
    on a server addressed by URLs: that file's own (the others still go)."""
    return UsageError(f"cannot put {local}: {NOT_UTF8}",
                      hint="rename it to a UTF-8 name (FTPS and SFTP send such a name as it is)")


def local_tree(
    folder: str, passed_over: list[str] | None = None, *, utf8_only: bool = False,
) -> Iterator[tuple[tuple[str, ...], str, os.stat_result]]:
    """Every folder and regular file under ``folder`` as (its path's parts below ``folder``, its
    path, its stat), for ``put -r`` and ``sync``.  Strings, not Paths: a Path per file cost ~10 %
    of a small file's upload (issue 14); :func:`_path_order` sorts them as Paths would be.

    Left out: xfer's own working files (:func:`is_temporary`: a half download and its resume
    sidecar are nobody's to receive).  Passed over with a warning, their relative paths added to
    ``passed_over`` (a sync must not take them for absent): links to folders (not followed: they
    may loop, or lead anywhere on the disk), links to nothing (a mount missing for now), and
    what is no regular file (a named pipe would block an upload for ever), and with ``utf8_only``
    (for a server addressed by URLs) a file or folder whose name is not UTF-8.  A folder that
    cannot be read, or a file gone while walking, fails: ``os.walk`` would skip it, and the
    transfer would report success for a tree it moved only in part.
    """

    def passed(parts: tuple[str, ...], path: str, why: str) -> None:
        _log.warning("skipped %s: %s", path, why)
        if passed_over is not None:
            passed_over.append("/".join(parts))

    skipped = 0
    for dirpath, dirnames, filenames in os.walk(folder, onerror=_unreadable):
        # os.walk joins every name onto ``folder`` as given: what follows it is the relative path.
        below = dirpath[len(folder):].lstrip(os.sep + (os.altsep or ""))
        parts = tuple(below.replace(os.altsep or os.sep, os.sep).split(os.sep)) if below else ()
        dirnames.sort()
        for name in (*dirnames, *filenames):
            path = os.path.join(dirpath, name)
            if is_temporary(name) and not os.path.isdir(path):
                skipped += 1
                continue
            if utf8_only and not is_utf8(name):
                # Before: url_for's quote() failed on it, and the whole put -r or sync with it
                # ("unexpected internal error"), the files with good names unsent too.
                passed((*parts, name), path, NOT_UTF8)
                if name in dirnames:
                    dirnames.remove(name)  # (os.walk does not go into it; the loop goes on over the tuple)
                continue
            try:
                info = os.stat(path)
            except FileNotFoundError as exc:
                if not os.path.islink(path):
                    raise local_error(exc, path, "reading") from exc  # gone while walking
                passed((*parts, name), path, "a symbolic link to nothing")
                continue
            except OSError as exc:
                raise local_error(exc, path, "reading") from exc
            if stat.S_ISDIR(info.st_mode) and os.path.islink(path):
                passed((*parts, name), path, LINKED_FOLDER)  # (os.walk does not go into it)
            elif stat.S_ISDIR(info.st_mode) or stat.S_ISREG(info.st_mode):
                yield (*parts, name), path, info
            else:
                passed((*parts, name), path, NOT_A_FILE)
    note_temporary(skipped, Path(folder))


def _path_order(entry: tuple[tuple[str, ...], str, os.stat_result]) -> tuple[str, ...]:
    """The order of :class:`~pathlib.Path` objects for :func:`local_tree`'s entries: part by part, and
    case-insensitive where paths are (Windows)."""
    return tuple(map(os.path.normcase, entry[0]))


def _unreadable(exc: OSError) -> None:
    raise local_error(exc, exc.filename or "a local folder", "reading") from exc


def get_files(
    remote: Adapter,
    sources: Sequence[str | Entry],
    destination: str | os.PathLike[str],
    *,
    recursive: bool = False,
    callbacks: CallbackFactory | None = None,
    parallel: int = 1,
    reconnect: Callable[[], Adapter] | None = None,
    max_depth: int = DEFAULT_MAX_DEPTH,
) -> list[TransferResult]:
    """Download remote files (and with ``recursive`` folders) to ``destination``.

    ``destination`` that is an existing folder, ends in a path separator, or is
    given several sources, is a folder to download *into*.  ``parallel`` and
    ``reconnect`` as for :func:`put_files`.  A folder is walked at most ``max_depth``
    levels deep (:class:`~xfer.errors.RemoteError` beyond); the whole tree is listed
    before any local folder is made, so a refused tree leaves nothing behind.
    Local problems (a file where a folder must go, a name too long) raise
    :class:`~xfer.errors.LocalError` naming the local path.

    A source may be an :class:`~xfer.types.Entry` a listing just gave (a glob's matches):
    with ``recursive`` its type then decides file or folder, without asking the server
    again for each one.
    """
    dest = Path(destination)
    text = os.fspath(destination)
    with local_errors(dest, "writing"):  # a name too long fails even the is_dir() check
        dest_exists, dest_is_dir = dest.exists(), dest.is_dir()
    if len(sources) > 1 and dest_exists and not dest_is_dir:
        raise UsageError(f"{dest} is a file; with several sources the destination must be a folder")
    into = dest_is_dir or text.endswith(("/", os.sep)) or len(sources) > 1
    # One compact job per file, (remote path, local path, size): a tree of 100,000 files is
    # planned in full (listed before anything is made) without a Path or a Task per file.
    jobs: list[tuple[str, str, int | None]] = []
    folders: list[Path] = [dest] if into else []
    parents: list[Path] = []  # of the sources that are files (a tree's files are in its folders)
    for given in sources:
        source = given.path if isinstance(given, Entry) else given
        if isinstance(given, Entry):  # a glob's match: its name is the server's, as in a tree
            _refuse_unsafe_name(remote, given.name, posixpath.dirname(source.rstrip("/")) or "/")
        name = posixpath.basename(source.rstrip("/")) or "download"
        local = dest / name if into else dest
        # A listed entry already says file or folder: no request per matched source.
        listed = given if isinstance(given, Entry) else None
        entry = (listed or _stat(remote, source)) if recursive else None
        if entry is not None and entry.is_dir:
            folders.extend(_remote_tree(remote, source, local, max_depth, jobs))
        else:
            jobs.append((source, str(local), entry.size if entry else None))
            parents.append(local.parent)
    _refuse_duplicates((local for _source, local, _size in jobs), "download")
    _refuse_file_and_folder((local for _source, local, _size in jobs), folders)
    make_local_folders([*folders, *parents])

    def download(job: tuple[str, str, int | None]) -> Task:
        source, local, size = job

        def run(adapter: Adapter, callback: ProgressCallback | None) -> TransferResult:
            try:
                return adapter.get_file(source, local, callback=callback)
            except RemoteError as exc:
                # Servers answer a GET/RETR on a folder in many ways (403, 550, an HTML page);
                # only after a failure is it worth a request to find out it was a folder.
                # An adapter that already said "is a folder" (exit 6) is not overruled.
                if recursive and isinstance(exc, RemoteIsFolder):
                    # -r was given: "use -r" would be wrong.  The walk took it for a file because
                    # the server's listing (or stat) said so; say that, not what the user did.
                    raise RemoteIsFolder(
                        f"{adapter.settings.server}: {source} is a folder, though the server listed it as a file",
                        hint="its listing is wrong about this entry; nothing of it was downloaded",
                        server=adapter.settings.server, path=source,
                    ) from exc
                settled = isinstance(exc, RemoteNotFound | RemoteIsFolder)
                if not recursive and not settled and _is_folder(adapter, source):
                    raise RemoteIsFolder(
                        f"{adapter.settings.server}: {source} is a folder",
                        hint="pass recursive=True to download folders", cli_hint="use -r to copy a folder",
                        server=adapter.settings.server, path=source,
                    ) from exc
                raise

        return Task(local, source, size, run, download=True)

    return run_tasks(remote, LazyTasks(jobs, download), callbacks=callbacks, parallel=parallel, reconnect=reconnect)


def make_local_folders(folders: list[Path]) -> None:
    """Create the local folders a download needs; on failure remove the ones made here.

    A file where a folder must go, or a name too long, is a :class:`LocalError` naming it.
    """
    made: list[Path] = []
    try:
        for folder in dict.fromkeys(folders):  # in order, each once
            missing: list[Path] = []
            current = folder
            with local_errors(folder, "creating"):
                while not current.is_dir():
                    missing.append(current)
                    if current.parent == current:
                        break
                    current = current.parent
                for path in reversed(missing):  # from the top down
                    path.mkdir()
                    made.append(path)
    except BaseException:
        for path in reversed(made):
            with contextlib.suppress(OSError):
                path.rmdir()
        raise


def _is_folder(remote: Adapter, path: str) -> bool:
    try:
        entry = _stat(remote, path)
    except XferError:
        return False
    return entry is not None and entry.is_dir


def _stat(remote: Adapter, path: str) -> Entry | None:
    if not ({Capability.LS, Capability.INFO} & remote.capabilities):
        return None
    return remote.info(path)


#: Characters ``Adapter.remote_path`` refuses (a line break ends a path in every line protocol).
_UNADDRESSABLE = "\x00\r\n"


def _safe_name(name: str, *, windows: bool = os.name == "nt") -> bool:
    """A single local path component: no separator of this OS, no ``.``/``..``, no NUL.

    A backslash is an ordinary character in a POSIX file name, a separator on Windows.  On
    Windows also no ``:`` (``C:x`` is relative to another drive's folder, ``a:s`` an NTFS
    stream), no device name (``CON``, ``NUL.txt``: the device, not a file) and no trailing dot
    or space (Windows drops them, so ``a.`` would land on ``a``).
    """
    separators = {"/", "\x00", os.sep, *([os.altsep] if os.altsep else []), *(["\\", ":"] if windows else [])}
    if name in ("", ".", "..") or any(c in name for c in separators):
        return False
    device = name.split(".", 1)[0].rstrip(" ").upper() in _WINDOWS_DEVICES
    return not (windows and (device or name.endswith((".", " "))))


#: Names Windows takes for devices, with any extension (``NUL.txt`` is ``NUL``).
_WINDOWS_DEVICES = frozenset({"CON", "PRN", "AUX", "NUL", *(f"COM{n}" for n in range(1, 10)),
                              *(f"LPT{n}" for n in range(1, 10))})


def _refuse_unsafe_name(remote: Adapter, name: str, folder: str) -> None:
    """A listed name that is not one plain local name (see :func:`_safe_name`) stops the download:
    a hostile or broken server must not steer it outside the destination."""
    if not _safe_name(name):
        raise RemoteError(
            f"refusing to download {name!r} listed in {folder}: not a plain file name",
            hint="the server listed a name with a path in it ('/', '..'); report it to the partner",
            server=remote.settings.server, path=folder,
        )


def _drained(entries: list[Entry]) -> Iterator[Entry]:
    """The entries of ``entries`` (a list to empty) in order, each let go once the walk has passed it.

    A folder of 100,000 entries is then never held beside the plan made from it.
    """
    entries.reverse()
    while entries:
        yield entries.pop()


def remote_tree(
    remote: Adapter, folder: str, max_depth: int, passed_over: list[str] | None = None, *, links: bool = True
) -> Iterator[tuple[ListedPath, tuple[str, ...], Entry]]:
    """Every folder and file under remote ``folder``, depth first, sorted: (path, names below ``folder``, entry).

    xfer's own working files (:func:`~xfer.transfer.is_temporary`) are left out.  So are, with a
    warning, names no remote path can hold and entries that are neither file nor folder; their
    paths below ``folder`` are added to ``passed_over`` (a sync must not take them for absent).
    Without ``links``, so is a folder the listing shows through a link (``extra["link"]``), as
    ``xfer sync``'s local walk passes over a local one: its deletions and moves stay in the tree.

    Walked with an explicit stack, not recursion: a listing decides how deep this goes, and
    a server that shows an endless tree must meet the ``max_depth`` limit, not Python's.
    A folder comes before what is in it.
    """
    top = _drained(list(remote.ls(folder)))
    stack: list[tuple[Iterator[Entry], str, tuple[str, ...], int]] = [(top, folder, (), 0)]
    skipped = 0
    while stack:
        entries, current, names, depth = stack[-1]
        entry = next(entries, None)
        if entry is None:
            stack.pop()
            if not stack:
                note_temporary(skipped, folder)
            continue
        if any(char in entry.name for char in _UNADDRESSABLE):
            # Listed (and shown escaped) but no remote path can name it: pass over it, so one
            # odd name does not stop the rest of the folder.
            _log.warning("skipped %s in %s: xfer cannot address a name with a line break or NUL",
                         ascii(entry.name), current)
            if passed_over is not None:
                passed_over.append("/".join((*names, entry.name)))
            continue
        _refuse_unsafe_name(remote, entry.name, current)
        path = ListedPath(posixpath.join(current, entry.name))  # a listed name: a backslash is part of it
        if entry.is_dir and not links and "link" in entry.extra:
            # /in/shared -> /archive: sync up --delete deleted /archive's files (review, H4).
            _log.warning("skipped %s: a link to a folder on the server, not followed (nor is a local one)", path)
            if passed_over is not None:
                passed_over.append("/".join((*names, entry.name)))
            continue
        if entry.is_dir:
            if depth >= max_depth:
                raise RemoteError(
                    f"{folder} goes deeper than {max_depth} folder levels (at {path}); nothing was downloaded",
                    hint="a link loop on the server can show an endless tree; if the tree really is this "
                    "deep, allow more levels (max_depth)",
                    cli_hint="a link loop on the server can show an endless tree; if the tree really is this "
                    "deep, allow more levels with --max-depth",
                    server=remote.settings.server, path=path,
                )
            yield path, (*names, entry.name), entry
            stack.append((_drained(list(remote.ls(path))), path, (*names, entry.name), depth + 1))
        elif entry.type == "file":
            if is_temporary(entry.name):  # an upload in progress, a part: never fetched or synced
                skipped += 1
            else:
                yield path, (*names, entry.name), entry
        else:
            # A link the server could not follow (to nothing), a socket, a device, a name the server
            # lists but will not describe to us, or one xfer cannot address (``unaddressable``: why):
            # nothing to copy, but never passed over without a word.
            refused, unaddressable = entry.extra.get("refused"), entry.extra.get("unaddressable")
            _log.warning("skipped %s: %s", ascii(path) if unaddressable else path,
                         f"the server lists it but does not describe it to us ({refused})" if refused
                         else unaddressable or entry.extra.get("undescribed")
                         or f"the server lists it as a {entry.type}, neither a file nor a folder")
            if passed_over is not None:
                passed_over.append("/".join((*names, entry.name)))


def _remote_tree(
    remote: Adapter, folder: str, local: Path, max_depth: int, jobs: list[tuple[str, str, int | None]]
) -> list[Path]:
    """Add the files under remote ``folder`` (depth first, sorted) to ``jobs``; return the local folders they need."""
    folders = [local]
    for path, names, entry in remote_tree(remote, folder, max_depth):
        if entry.is_dir:
            folders.append(local.joinpath(*names))
        else:
            # os.path.join, not Path.joinpath: the names are plain (see _safe_name), and pathlib
            # would intern every one of them for the life of the process.
            jobs.append((path, os.path.join(local, *names), entry.size))
    return folders
