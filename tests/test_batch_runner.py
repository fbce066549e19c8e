"""The batch runner's own cost (issue 14): what ``run_tasks`` does around the transfers.

No adapter and no server: the tasks are functions, so what is measured is the runner.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from xfer.batch import LazyTasks, Task, run_tasks
from xfer.retry import RetryPolicy


class _Connection:
    """What run_tasks needs from an adapter: settings to copy, a retry policy, close()."""

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
