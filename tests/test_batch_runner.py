"""The batch runner's own cost (issue 14): what ``run_tasks`` does around the transfers.

No adapter and no server: the tasks are functions, so what is measured is the runner.
"""

from __future__ import annotations

import _thread
import dataclasses
import functools
import threading
import time
from typing import Any

import pytest

from xfer.batch import LazyTasks, Task, run_tasks
from xfer.errors import Interrupted
from xfer.retry import RetryPolicy


class _Connection:
    """What run_tasks needs from an adapter: settings to copy, a retry policy, close(), and
    whether paths travel in URLs (names that are not UTF-8 then go alone, to fail there)."""

    paths_in_urls = False

    def __init__(self, settings: Any = None) -> None:
        self.settings = settings
        self.retry_policy = RetryPolicy(retries=0, wait=0.0)
        self.closed = False

    def close(self) -> None:
        self.closed = True


def test_the_main_thread_sleeps_while_another_worker_finishes_a_long_transfer() -> None:
    # The first worker runs on the caller's connection and ends as soon as the queue is
    # empty; the main thread used to wait by joining it -- which returns at once once it
    # has ended -- and so spun at full CPU for as long as another worker still moved a file.
    first = _Connection()
    release = threading.Event()
    started_long = threading.Event()

    def transfer(adapter: Any, _callback: Any) -> Any:
        if adapter is not first and not started_long.is_set():
            started_long.set()
            release.wait(10)  # "a long file" on an extra connection
        else:
            time.sleep(0.02)  # a short one: long enough for the extra workers to start
        return "done"

    def let_go() -> None:
        started_long.wait(10)
        time.sleep(1.5)
        release.set()

    helper = threading.Thread(target=let_go, daemon=True)
    helper.start()
    tasks = [Task(f"/l/{n}", f"/r/{n}", 1, transfer) for n in range(20)]
    cpu = time.thread_time()
    results: list[Any] = run_tasks(first, tasks, parallel=4, reconnect=_Connection)  # type: ignore[arg-type]
    spent = time.thread_time() - cpu
    helper.join()
    assert started_long.is_set()  # an extra connection did take a task
    assert results == ["done"] * 20
    # CPU of this (the main) thread over the 1.5 s wait: waiting costs next to nothing;
    # the old loop spent most of it (0.3-1.4 s measured, less only on a saturated machine).
    assert spent < 0.15, f"the main thread used {spent:.2f} s of CPU while it only waited"


def test_lazy_tasks_are_built_when_asked_for_and_in_order() -> None:
    made: list[int] = []

    def make(number: int) -> Task:
        made.append(number)
        return Task(f"/l/{number}", f"/r/{number}", number, lambda _a, _c: number)  # type: ignore[arg-type,return-value]

    tasks = LazyTasks(range(5), make)
    assert len(tasks) == 5 and made == []  # nothing built by planning
    assert [t.size for t in tasks[1:3]] == [1, 2]
    results: list[Any] = run_tasks(_Connection(), tasks, parallel=3, reconnect=_Connection)  # type: ignore[arg-type]
    assert results == [0, 1, 2, 3, 4]  # in task order, whichever worker ran each
    assert sorted(made[2:]) == [0, 1, 2, 3, 4]


class _Together(_Connection):
    """An adapter whose small uploads may go together: it records each group, and moves the
    files named in ``refuse`` not (None: the runner must run those tasks alone)."""

    together_max_size = 100
    together_files = 4
    together_bytes = 250

    def __init__(self, settings: Any = None, refuse: frozenset[str] = frozenset()) -> None:
        super().__init__(settings)
        self.groups: list[list[str]] = []
        self.refuse = refuse

    def moves_together(self, *, upload: bool) -> bool:
        return True

    def put_together(
        self, files: list[tuple[str, str, Any]], *, landed: Any = None, preserve_times: bool = False,
    ) -> list[Any]:
        self.groups.append([remote for _local, remote, _callback in files])
        return self._tell([None if remote in self.refuse else f"together {remote}"
                           for _local, remote, _callback in files], landed)

    def get_together(self, files: list[tuple[str, str, Any]], *, landed: Any = None, listed: Any = None) -> list[Any]:
        self.groups.append([f"get {remote} -> {local}" for remote, local, _callback in files])
        return self._tell([None if remote in self.refuse else f"got {remote}" for remote, _local, _callback in files],
                          landed)

    def _tell(self, results: list[Any], landed: Any) -> list[Any]:
        for place, result in enumerate(results):
            if result is not None and landed is not None and self.tells:
                landed(place, result)
        return results

    #: Whether it tells ``landed`` of each file (an adapter need not: the batch reads the results too).
    tells = True


def _uploads(sizes: list[int]) -> list[Task]:
    return [Task(f"/l/{n}", f"/r/{n}", size, lambda _a, _c, n=n: f"alone /r/{n}", upload=True)  # type: ignore[misc,arg-type]
            for n, size in enumerate(sizes)]


def test_small_uploads_go_together_within_the_adapters_bounds() -> None:
    # 4 files per group at most, about 250 bytes; a file over 100 bytes goes alone and ends a group.
    remote = _Together(refuse=frozenset({"/r/2"}))
    sizes = [10, 10, 10, 10, 10, 90, 90, 90, 500, 10, 10]
    results: list[Any] = run_tasks(remote, _uploads(sizes))  # type: ignore[arg-type]
    assert remote.groups == [["/r/0", "/r/1", "/r/2", "/r/3"], ["/r/4", "/r/5", "/r/6", "/r/7"], ["/r/9", "/r/10"]]
    # In task order; what put_together did not move (the refused one, the large one) ran alone.
    assert results == [
        "together /r/0", "together /r/1", "alone /r/2", "together /r/3", "together /r/4", "together /r/5",
        "together /r/6", "together /r/7", "alone /r/8", "together /r/9", "together /r/10",
    ]


def test_small_downloads_go_together_remote_first() -> None:
    remote = _Together(refuse=frozenset({"/r/1"}))
    tasks = [Task(f"/l/{n}", f"/r/{n}", size, lambda _a, _c, n=n: f"alone /r/{n}", download=True)  # type: ignore[misc,arg-type]
             for n, size in enumerate([10, 10, 10, 500, 10])]
    results: list[Any] = run_tasks(remote, tasks)  # type: ignore[arg-type]
    assert remote.groups == [["get /r/0 -> /l/0", "get /r/1 -> /l/1", "get /r/2 -> /l/2"]]
    assert results == ["got /r/0", "alone /r/1", "got /r/2", "alone /r/3", "alone /r/4"]


def test_a_direction_the_adapter_does_not_move_together_is_not_grouped() -> None:
    """A group the adapter would move one by one (WebDAV uploads; downloads under --resume) would hold
    up to 32 files on one worker while the others idle: such tasks are taken one at a time."""

    class _DownloadsOnly(_Together):
        def moves_together(self, *, upload: bool) -> bool:
            return not upload

    remote = _DownloadsOnly()
    downloads = [Task(f"/l/d{n}", f"/r/d{n}", 10, lambda _a, _c, n=n: f"alone /r/d{n}", download=True)  # type: ignore[misc,arg-type]
                 for n in range(2)]
    results: list[Any] = run_tasks(remote, [*_uploads([10, 10, 10]), *downloads])  # type: ignore[arg-type]
    assert remote.groups == [["get /r/d0 -> /l/d0", "get /r/d1 -> /l/d1"]]
    assert results == ["alone /r/0", "alone /r/1", "alone /r/2", "got /r/d0", "got /r/d1"]


def test_what_follows_a_transfer_runs_for_one_moved_together() -> None:
    """A task's ``after`` (what sync does once a file is moved: stamp it, record it) runs for each
    file moved together; one moved alone runs its ``run``, which does it itself."""
    remote = _Together(refuse=frozenset({"/r/1"}))
    settled: list[str] = []

    def after(_adapter: Any, result: Any) -> Any:
        settled.append(result)
        return f"{result}, settled"

    tasks = [Task(f"/l/{n}", f"/r/{n}", 10, lambda _a, _c, n=n: f"alone /r/{n}", upload=True, after=after)  # type: ignore[misc,arg-type]
             for n in range(3)]
    results: list[Any] = run_tasks(remote, tasks)  # type: ignore[arg-type]
    assert results == ["together /r/0, settled", "alone /r/1", "together /r/2, settled"]
    assert settled == ["together /r/0", "together /r/2"]


class _Settling:
    """A task's ``after`` that records what it settled and fails for the results named in ``fail``."""

    def __init__(self, fail: frozenset[str] = frozenset()) -> None:
        self.settled: list[str] = []
        self.fail = fail

    def __call__(self, _adapter: Any, result: Any) -> Any:
        if result in self.fail:
            raise RuntimeError(f"could not settle {result}")
        self.settled.append(result)
        return f"{result}, settled"


def _settled_uploads(count: int, after: Any, run: Any = None) -> list[Task]:
    return [Task(f"/l/{n}", f"/r/{n}", 10, run or (lambda _a, _c, n=n: f"alone /r/{n}"), upload=True,  # type: ignore[arg-type]
                 after=after)
            for n in range(count)]


def test_one_file_that_cannot_be_settled_leaves_no_other_unsettled() -> None:
    # Settling /r/1 fails: /r/0, /r/2, /r/3 arrived too and are settled all the same, then
    # the failure is raised (the batch stops as for a file that failed alone).
    remote, after = _Together(), _Settling(fail=frozenset({"together /r/1"}))
    with pytest.raises(RuntimeError, match="could not settle together /r/1"):
        run_tasks(remote, _settled_uploads(4, after))  # type: ignore[arg-type]
    assert after.settled == ["together /r/0", "together /r/2", "together /r/3"]


def test_a_file_failing_alone_in_a_group_leaves_the_others_settled() -> None:
    # /r/1 did not go together and fails alone: the group's files that did arrive were
    # settled before it ran, so its failure cannot leave them on the server unrecorded.
    def alone(_adapter: Any, _callback: Any) -> Any:
        raise RuntimeError("refused")

    remote, after = _Together(refuse=frozenset({"/r/1"})), _Settling()
    with pytest.raises(RuntimeError, match="refused"):
        run_tasks(remote, _settled_uploads(4, after, run=alone))  # type: ignore[arg-type]
    assert after.settled == ["together /r/0", "together /r/2", "together /r/3"]


class _StoppedMidway(_Together):
    """Tells of the first two files of a group as landed, then is stopped by ``stop``."""

    def __init__(self, stop: BaseException) -> None:
        super().__init__()
        self.stop = stop

    def put_together(
        self, files: list[tuple[str, str, Any]], *, landed: Any = None, preserve_times: bool = False,
    ) -> list[Any]:
        for place, (_local, remote, _callback) in enumerate(files[:2]):
            landed(place, f"together {remote}")
        raise self.stop


@pytest.mark.parametrize("stop", [Interrupted("stopped because another transfer of the batch failed"),
                                  KeyboardInterrupt()], ids=["another-failed", "ctrl-c"])
def test_a_group_stopped_midway_settles_the_files_that_had_arrived(stop: BaseException) -> None:
    # The stop comes after two of four files arrived (the adapter told of each as it landed):
    # those two are settled, then the stop goes on; nothing runs alone.
    after = _Settling()
    ran_alone: list[str] = []
    tasks = _settled_uploads(4, after, run=lambda _a, _c: ran_alone.append("alone"))
    with pytest.raises(type(stop)):
        run_tasks(_StoppedMidway(stop), tasks)  # type: ignore[arg-type]
    assert after.settled == ["together /r/0", "together /r/1"] and ran_alone == []


class _Finishing:
    """A group's ``finish``: records, per call, what ``after`` had settled by then; fails once if told."""

    def __init__(self, after: _Settling, fail: bool = False) -> None:
        self.after, self.fail = after, fail
        self.calls: list[list[str]] = []

    def __call__(self, _adapter: Any) -> None:
        self.calls.append(list(self.after.settled))
        if self.fail:
            raise RuntimeError("could not finish")


def _finishing_uploads(count: int, after: _Settling, finish: _Finishing) -> list[Task]:
    return [dataclasses.replace(task, finish=finish) for task in _settled_uploads(count, after)]


def test_a_groups_finish_runs_once_after_its_files_are_settled() -> None:
    # Groups of at most four: /r/0-3 and /r/4-5 (one refused, moved alone, settled by its run).
    remote, after = _Together(refuse=frozenset({"/r/5"})), _Settling()
    finish = _Finishing(after)
    results: list[Any] = run_tasks(remote, _finishing_uploads(6, after, finish))  # type: ignore[arg-type]
    assert results[:4] == [f"together /r/{n}, settled" for n in range(4)] and results[5] == "alone /r/5"
    assert finish.calls == [[f"together /r/{n}" for n in range(4)], [f"together /r/{n}" for n in (0, 1, 2, 3, 4)]]


@pytest.mark.parametrize("stop", [Interrupted("stopped because another transfer of the batch failed"),
                                  KeyboardInterrupt()], ids=["another-failed", "ctrl-c"])
def test_a_group_stopped_midway_does_not_finish(stop: BaseException) -> None:
    # Its landed files are settled (recorded), but what they queued stays undone: the batch is
    # winding down, and the caller may be closing the connection (sync: those sources stay).
    after = _Settling()
    finish = _Finishing(after)
    with pytest.raises(type(stop)):
        run_tasks(_StoppedMidway(stop), _finishing_uploads(4, after, finish))  # type: ignore[arg-type]
    assert after.settled == ["together /r/0", "together /r/1"] and finish.calls == []


def test_a_group_whose_file_fails_alone_does_not_finish() -> None:
    def alone(_adapter: Any, _callback: Any) -> Any:
        raise RuntimeError("refused")

    after = _Settling()
    finish = _Finishing(after)
    tasks = [dataclasses.replace(task, finish=finish) for task in _settled_uploads(4, after, run=alone)]
    with pytest.raises(RuntimeError, match="refused"):
        run_tasks(_Together(refuse=frozenset({"/r/3"})), tasks)  # type: ignore[arg-type]
    assert after.settled == ["together /r/0", "together /r/1", "together /r/2"] and finish.calls == []


def test_a_failing_finish_fails_the_batch() -> None:
    after = _Settling()
    with pytest.raises(RuntimeError, match="could not finish"):
        run_tasks(_Together(), _finishing_uploads(2, after, _Finishing(after, fail=True)))  # type: ignore[arg-type]


def test_a_failure_settling_after_a_stop_is_said_not_swallowed(caplog: pytest.LogCaptureFixture) -> None:
    # The stop is what is raised; a file then found unfit to settle (its source kept because it
    # changed meanwhile, say) is one warning line, not nothing.
    after = _Settling(fail=frozenset({"together /r/0"}))
    with caplog.at_level("WARNING", logger="xfer.batch"), pytest.raises(Interrupted):
        run_tasks(_StoppedMidway(Interrupted("interrupted")), _settled_uploads(4, after))  # type: ignore[arg-type]
    assert after.settled == ["together /r/1"]
    assert [record.getMessage() for record in caplog.records] == ["could not settle together /r/0"]


def test_files_are_settled_from_the_results_of_an_adapter_that_tells_nothing() -> None:
    remote, after = _Together(), _Settling()
    remote.tells = False
    results: list[Any] = run_tasks(remote, _settled_uploads(3, after))  # type: ignore[arg-type]
    assert results == [f"together /r/{n}, settled" for n in range(3)]
    assert after.settled == [f"together /r/{n}" for n in range(3)]


def test_a_worker_still_settling_when_the_batch_gives_up_on_it_starts_nothing_more(monkeypatch: Any) -> None:
    # Another task fails while a worker settles four files (each settling a distant server's
    # round trips): the batch waits GRACE_SECONDS, then raises.  That worker may finish the
    # settling in flight, but starts no other on the caller's connection after the batch returned.
    monkeypatch.setattr("xfer.batch.GRACE_SECONDS", 0.2)
    monkeypatch.setattr("xfer.batch._PATIENCE", 0.01)  # the second worker connects at once
    settled: list[str] = []
    started = threading.Event()

    def after(_adapter: Any, result: Any) -> Any:
        started.set()
        time.sleep(0.5)
        settled.append(result)
        return result

    def fail(_adapter: Any, _callback: Any) -> Any:
        started.wait(5)
        raise RuntimeError("another transfer failed")

    tasks = [*_settled_uploads(4, after), Task("/l/big", "/r/big", 10_000, fail)]
    with pytest.raises(RuntimeError, match="another transfer failed"):
        run_tasks(_Together(), tasks, parallel=2, reconnect=_Together)  # type: ignore[arg-type]
    at_return = len(settled)
    time.sleep(1.5)  # three more settlings' time
    assert len(settled) <= at_return + 1  # at most the one in flight when the batch left


def test_a_worker_the_batch_gave_up_on_moves_nothing_alone_after_settling(monkeypatch: Any) -> None:
    # /r/1 was not moved together: it would go alone once /r/0 is settled; the batch has given up
    # on the worker meanwhile (another task failed), so it must not start it after the batch returned.
    monkeypatch.setattr("xfer.batch.GRACE_SECONDS", 0.2)
    monkeypatch.setattr("xfer.batch._PATIENCE", 0.01)  # the second worker connects at once
    started, alone = threading.Event(), list[float]()

    def after(_adapter: Any, result: Any) -> Any:
        started.set()
        time.sleep(0.5)
        return result

    def fail(_adapter: Any, _callback: Any) -> Any:
        started.wait(5)
        raise RuntimeError("another transfer failed")

    # (The failing task first: after a group, it would end the group and run on the same worker.)
    tasks = [Task("/l/big", "/r/big", 10_000, fail),
             *_settled_uploads(2, after, run=lambda _a, _c: alone.append(time.monotonic()))]
    with pytest.raises(RuntimeError, match="another transfer failed"):
        run_tasks(_Together(), tasks, parallel=2,  # type: ignore[arg-type]
                  reconnect=lambda: _Together(refuse=frozenset({"/r/1"})))  # type: ignore[arg-type,return-value]  # (the worker taking the group)
    returned = time.monotonic()
    time.sleep(0.6)
    assert not [at for at in alone if at > returned]


def test_uploads_and_downloads_never_share_a_group() -> None:
    remote = _Together()
    downloads = [Task(f"/l/d{n}", f"/r/d{n}", 10, lambda _a, _c, n=n: f"alone /r/d{n}", download=True)  # type: ignore[misc,arg-type]
                 for n in range(2)]
    results: list[Any] = run_tasks(remote, [*_uploads([10, 10]), *downloads])  # type: ignore[arg-type]
    # The first download ends the uploads' group and runs alone; the last is alone too.
    assert remote.groups == [["/r/0", "/r/1"]]
    assert results == ["together /r/0", "together /r/1", "alone /r/d0", "alone /r/d1"]


def test_a_lone_small_upload_and_other_tasks_are_not_grouped() -> None:
    remote = _Together()
    tasks = [Task("/l/a", "/r/a", 10, lambda _a, _c: "get a"), *_uploads([10]),  # type: ignore[arg-type,return-value]
             Task("/l/b", "/r/b", 10, lambda _a, _c: "get b")]  # type: ignore[arg-type,return-value]
    results: list[Any] = run_tasks(remote, tasks)  # type: ignore[arg-type]
    assert remote.groups == [] and results == ["get a", "alone /r/0", "get b"]


def test_workers_group_what_they_take_and_every_task_runs_once() -> None:
    connections: list[_Together] = []

    def connect() -> _Together:
        connections.append(_Together())
        return connections[-1]

    first = _Together()
    connections.append(first)
    results: list[Any] = run_tasks(first, _uploads([10] * 40), parallel=3, reconnect=connect)  # type: ignore[arg-type]
    assert results == [f"together /r/{n}" for n in range(40)]
    grouped = [remote for c in connections for group in c.groups for remote in group]
    assert sorted(grouped) == sorted(f"/r/{n}" for n in range(40))
    assert all(len(group) <= 4 for c in connections for group in c.groups)


# -- when the extra connections open (issue 14) --------------------------------------------


@pytest.fixture(autouse=True)
def _patient(monkeypatch: pytest.MonkeyPatch) -> None:
    """The workers wait for the first group as long as a test needs (its own timing decides): the
    machine's load must not make a first group slower than the 30 ms they wait in earnest."""
    monkeypatch.setattr("xfer.batch._PATIENCE", 30.0)



class _Clock:
    """Stands in for a worker's CPU clock: time spent in :meth:`wait` is waiting (a round trip, the
    server), every other second counts as computing.  What the machine's load does to a real
    thread's CPU time is thus out of the tests."""

    def __init__(self) -> None:
        self.waited = 0.0
        self.lock = threading.Lock()

    def cpu(self) -> float:
        return time.monotonic() - self.waited

    def wait(self, seconds: float) -> None:
        started = time.monotonic()
        time.sleep(seconds)
        with self.lock:
            self.waited += time.monotonic() - started


class _Timed(_Together):
    """A _Together whose groups compute for ``computing`` seconds and wait for ``waiting`` (on
    ``clock``); ``slow_group`` (their numbers) wait ``slow`` seconds more; ``alone``: moves nothing
    itself, as when the server or the settings allow no pipelining."""

    def __init__(self, clock: _Clock, computing: float, waiting: float = 0.0, *, slow_group: tuple[int, ...] | int = (),
                 slow: float = 0.0, alone: bool = False) -> None:
        super().__init__()
        self.clock, self.computing, self.waiting = clock, computing, waiting
        self.slow_groups = slow_group if isinstance(slow_group, tuple) else (slow_group,)
        self.slow, self.alone = slow, alone

    def put_together(
        self, files: list[tuple[str, str, Any]], *, landed: Any = None, preserve_times: bool = False,
    ) -> list[Any]:
        time.sleep(self.computing)
        self.clock.wait(self.waiting + (self.slow if len(self.groups) in self.slow_groups else 0.0))
        moved = super().put_together(files, landed=None if self.alone else landed)
        return [None] * len(files) if self.alone else moved


def _run(
    monkeypatch: Any, tasks: list[Task], patience: float = 30.0, **timing: Any
) -> tuple[list[Any], _Timed, list[_Timed]]:
    """``tasks`` run with ``-P 4``; the other workers wait ``patience`` seconds for the first group
    (long by default: the machine's load must not make a group take longer than that)."""
    clock = _Clock()
    monkeypatch.setattr("xfer.batch.cpu_time", clock.cpu)
    monkeypatch.setattr("xfer.batch._PATIENCE", patience)
    first = _Timed(clock, **timing)
    opened: list[_Timed] = []

    def connect() -> _Timed:
        opened.append(_Timed(clock, **timing))
        return opened[-1]

    done: list[Any] = []
    runner = threading.Thread(
        target=lambda: done.append(run_tasks(first, tasks, parallel=4, reconnect=connect)),  # type: ignore[arg-type]
        daemon=True,
    )
    runner.start()
    runner.join(20)  # (a worker left waiting would hang the batch: that fails here, not at the suite's timeout)
    assert done, "the batch did not end"
    return done[0], first, opened


def _counting(opened: list[Any]) -> Any:
    """A reconnect that records each connection it opens."""

    def connect() -> _Connection:
        connection = _Connection()
        opened.append(connection)
        return connection

    return connect


def _workers() -> list[threading.Thread]:
    return [thread for thread in threading.enumerate() if thread.name.startswith("xfer-transfer-")]


def test_small_uploads_that_compute_more_than_they_wait_keep_to_one_connection(monkeypatch: Any) -> None:
    # A fast link, Python-bound: more threads would only share the interpreter lock (0.20 s on
    # one connection, 0.30 s on four, for 1,000 files to a local nginx), so none is opened.
    # One group that waited 30 ms more than the rest (the machine's load) does not decide.
    results, first, opened = _run(monkeypatch, _uploads([10] * 40), computing=0.02, waiting=0.001,
                                  slow_group=1, slow=0.03)
    assert results == [f"together /r/{n}" for n in range(40)]
    assert opened == [] and len(first.groups) == 10


def test_one_group_that_clearly_waited_opens_the_other_connections(monkeypatch: Any) -> None:
    # 200 ms of waiting against 20 ms of computing (ten times): a distant server, not the machine's load.
    _, first, opened = _run(monkeypatch, _uploads([10] * 40), computing=0.02, waiting=0.001, slow_group=0, slow=0.2)
    assert len(opened) == 3 and len(first.groups) < 10


def test_slow_groups_that_are_not_in_a_row_do_not_open_connections(monkeypatch: Any) -> None:
    results, first, opened = _run(monkeypatch, _uploads([10] * 40), computing=0.02, waiting=0.001,
                                  slow_group=(1, 3, 5), slow=0.03)
    assert results == [f"together /r/{n}" for n in range(40)]
    assert opened == [] and len(first.groups) == 10


def test_groups_that_wait_less_than_they_compute_keep_to_one_connection(monkeypatch: Any) -> None:
    # 12 ms waited against 20 ms computed: more connections would share the lock more than they wait.
    _, first, opened = _run(monkeypatch, _uploads([10] * 40), computing=0.02, waiting=0.012)
    assert opened == [] and len(first.groups) == 10


def test_where_the_thread_clock_cannot_time_a_group_every_worker_connects_at_once(monkeypatch: Any) -> None:
    monkeypatch.setattr("xfer.batch._FINE_CPU_CLOCK", False)  # Windows: a clock in ~16 ms ticks
    results, _, opened = _run(monkeypatch, _uploads([10] * 40), computing=0.01)
    assert results == [f"together /r/{n}" for n in range(40)]
    assert len(opened) == 3


def test_small_uploads_that_wait_on_the_network_open_the_other_connections(monkeypatch: Any) -> None:
    # 30 ms of waiting per group against 2 ms of computing (a distant server): the others join in.
    results, first, opened = _run(monkeypatch, _uploads([10] * 40), computing=0.002, waiting=0.03)
    assert results == [f"together /r/{n}" for n in range(40)]
    assert len(opened) == 3 and all(c.groups for c in opened)
    assert len(first.groups) < 10


class _Waiting(_Together):
    """Its first group ends only once another connection is open (``opened``), or after 10 s."""

    def __init__(self, opened: list[Any]) -> None:
        super().__init__()
        self.opened = opened
        self.open_when_first_ended: int | None = None

    def put_together(
        self, files: list[tuple[str, str, Any]], *, landed: Any = None, preserve_times: bool = False,
    ) -> list[Any]:
        if self.open_when_first_ended is None:
            deadline = time.monotonic() + 10
            while not self.opened and time.monotonic() < deadline:
                time.sleep(0.005)
            self.open_when_first_ended = len(self.opened)
        return super().put_together(files, landed=landed)


def test_a_first_group_that_takes_long_opens_the_other_connections_before_it_ends(monkeypatch: Any) -> None:
    # Over 40 ms round trips the first group (a connection opened, then a write) takes ~120 ms: the
    # others connect after the patience, not after it (0.86 s against 0.75 s for 1,000 files).
    monkeypatch.setattr("xfer.batch._PATIENCE", 0.05)
    opened: list[Any] = []
    first = _Waiting(opened)

    def connect() -> _Together:
        connection = _Together()
        opened.append(connection)
        return connection

    results: list[Any] = run_tasks(first, _uploads([10] * 40), parallel=4, reconnect=connect)  # type: ignore[arg-type]
    assert results == [f"together /r/{n}" for n in range(40)]
    assert first.open_when_first_ended  # another connection was open before the first group ended


def test_small_uploads_that_go_one_by_one_open_the_other_connections(monkeypatch: Any) -> None:
    # put_together moved none (no pipelining): each file is its own round trips.
    results, _, opened = _run(monkeypatch, _uploads([10] * 40), computing=0.002, alone=True)
    assert results == [f"alone /r/{n}" for n in range(40)]
    assert len(opened) == 3


def test_a_task_that_does_not_go_together_opens_the_other_connections(monkeypatch: Any) -> None:
    # Small uploads that compute, then large files (the kernel and encryption, outside the lock).
    ran_on: list[Any] = []

    def large(adapter: Any, _callback: Any, n: int) -> str:
        ran_on.append(adapter)
        time.sleep(0.03)
        return f"large {n}"

    tasks = [*_uploads([10] * 12), *(Task(f"/l/L{n}", f"/r/L{n}", 500, functools.partial(large, n=n),  # type: ignore[arg-type]
                                          upload=True) for n in range(8))]
    results, first, opened = _run(monkeypatch, tasks, computing=0.005)
    assert results == [*(f"together /r/{n}" for n in range(12)), *(f"large {n}" for n in range(8))]
    assert len(first.groups) == 3  # the small files all went on the first connection
    assert opened and any(adapter is not first for adapter in ran_on)


def test_a_batch_that_stops_while_workers_wait_to_connect_ends(monkeypatch: Any) -> None:
    # The first group fails: the waiting workers end with the batch, none connects.
    clock = _Clock()
    monkeypatch.setattr("xfer.batch.cpu_time", clock.cpu)
    first, opened = _Timed(clock, 0.005), list[Any]()

    def broken(
        files: list[tuple[str, str, Any]], *, landed: Any = None, preserve_times: bool = False,
    ) -> list[Any]:
        raise RuntimeError("the server went away")

    first.put_together = broken  # type: ignore[method-assign]
    with pytest.raises(RuntimeError, match="went away"):
        run_tasks(first, _uploads([10] * 40), parallel=4, reconnect=_counting(opened))  # type: ignore[arg-type]
    assert opened == []
    deadline = time.monotonic() + 5
    while _workers() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert _workers() == []  # no worker left waiting


def test_ctrl_c_while_workers_wait_to_connect_ends_them(monkeypatch: Any) -> None:
    # Ctrl-C while the first worker is stuck in a group (a silent server): the batch gives it up
    # after the grace period, and the workers waiting to connect end at once, none connecting.
    clock = _Clock()
    monkeypatch.setattr("xfer.batch.cpu_time", clock.cpu)
    monkeypatch.setattr("xfer.batch.GRACE_SECONDS", 0.2)
    first, opened = _Timed(clock, 0.005), list[Any]()
    together, stuck, release = first.put_together, threading.Event(), threading.Event()

    def interrupted(
        files: list[tuple[str, str, Any]], *, landed: Any = None, preserve_times: bool = False,
    ) -> list[Any]:
        if len(first.groups) == 2:
            stuck.set()
            _thread.interrupt_main()  # Ctrl-C, as the main thread sees it
            release.wait(10)
        return together(files)

    first.put_together = interrupted  # type: ignore[method-assign]
    try:
        with pytest.raises(KeyboardInterrupt):
            run_tasks(first, _uploads([10] * 400), parallel=4, reconnect=_counting(opened))  # type: ignore[arg-type]
        assert stuck.is_set() and opened == []
        deadline = time.monotonic() + 5
        while len(_workers()) > 1 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert len(_workers()) == 1  # only the stuck one
    finally:
        release.set()
    deadline = time.monotonic() + 5
    while _workers() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert _workers() == [] and len(first.groups) == 3  # it ended at its next group


def test_a_worker_that_cannot_start_stops_the_batch(monkeypatch: pytest.MonkeyPatch) -> None:
    # "can't start new thread" (or Ctrl-C) while the workers start: the ones started stop too,
    # rather than go on uploading after the caller got the error.
    clock = _Clock()
    monkeypatch.setattr("xfer.batch.cpu_time", clock.cpu)
    first = _Timed(clock, 0.005)
    started: list[threading.Thread] = []
    real_start = threading.Thread.start

    def start(thread: threading.Thread) -> None:
        if thread.name == "xfer-transfer-2":
            raise RuntimeError("can't start new thread")
        started.append(thread)
        real_start(thread)

    monkeypatch.setattr(threading.Thread, "start", start)
    with pytest.raises(RuntimeError, match="start new thread"):
        run_tasks(first, _uploads([10] * 400), parallel=4, reconnect=_counting([]))  # type: ignore[arg-type]
    for thread in started:
        thread.join(5)
    assert not any(thread.is_alive() for thread in started)
    assert len(first.groups) < 100  # stopped, not run to the end


def test_a_batch_that_leaves_a_stuck_worker_removes_its_part_and_no_other_downloads(
    monkeypatch: Any, tmp_path: Any
) -> None:
    # Review C: the registry of parts in progress was one per process.  A batch giving up on a
    # stuck worker removed every download's part, so another thread's unrelated download (a
    # library user's get_file) then failed with "does not exist" at its rename.
    from xfer.transfer import AtomicDownload

    monkeypatch.setattr("xfer.batch.GRACE_SECONDS", 0.2)
    monkeypatch.setattr("xfer.batch._PATIENCE", 0.01)  # the second worker connects at once
    writing, release = threading.Event(), threading.Event()
    outside: dict[str, Any] = {}

    def unrelated() -> None:
        try:
            with AtomicDownload(tmp_path / "other") as out:
                out.write(b"other")
                writing.set()
                release.wait(10)
                out.write(b" download")
            outside["result"] = (tmp_path / "other").read_bytes()
        except BaseException as exc:
            outside["result"] = exc

    def stuck(_adapter: Any, _callback: Any) -> Any:
        with AtomicDownload(tmp_path / "stuck") as out:
            out.write(b"part")
            time.sleep(1.0)  # blocked in the network, past the grace
        return "stuck"

    def fail(_adapter: Any, _callback: Any) -> Any:
        time.sleep(0.1)
        raise RuntimeError("another transfer failed")

    thread = threading.Thread(target=unrelated)
    thread.start()
    assert writing.wait(5)
    tasks = [Task("/l/stuck", "/r/stuck", 10_000, stuck), Task("/l/fail", "/r/fail", 10_000, fail)]
    with pytest.raises(RuntimeError, match="another transfer failed"):
        run_tasks(_Connection(), tasks, parallel=2, reconnect=_Connection)  # type: ignore[arg-type]
    parts = sorted(p.name for p in tmp_path.iterdir())
    release.set()
    thread.join(10)
    assert not [name for name in parts if name.startswith(".stuck.")]  # the batch's own part went
    assert outside["result"] == b"other download"
    time.sleep(1.2)  # the stuck worker ends: its download left nothing either
    assert sorted(p.name for p in tmp_path.iterdir()) == ["other"]
