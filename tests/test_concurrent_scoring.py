"""Scoring a clip with several evaluators side by side: same outcomes, same order, errors kept in place."""

from __future__ import annotations

import threading

from longvgenbench.evaluation.concurrent import ClipScorer


def _jobs(barrier: threading.Barrier | None = None):
    def make(i):
        def job():
            if barrier is not None:
                barrier.wait(timeout=5)  # only returns if every job runs at the same time
            if i == 2:
                raise ValueError("evaluator 2 failed")
            return {"value": float(i)}
        return job
    return [make(i) for i in range(4)]


def test_serial_and_parallel_give_the_same_outcomes_in_order():
    with ClipScorer("cpu", parallel=False) as serial:
        expected = serial.run(_jobs())
    with ClipScorer("cpu", parallel=True) as parallel:
        parallel.run(_jobs())  # the first clip is scored serially (models load and compile there)
        got = parallel.run(_jobs(threading.Barrier(4)))
    assert [o.values for o in got] == [o.values for o in expected] == [{"value": 0.0}, {"value": 1.0}, None,
                                                                        {"value": 3.0}]
    assert [str(o.error) if o.error else None for o in got] == [None, None, "evaluator 2 failed", None]


def test_parallel_jobs_really_run_at_the_same_time():
    with ClipScorer("cpu", parallel=True) as runner:
        first = runner.run(_jobs())
        outcomes = runner.run(_jobs(threading.Barrier(4)))
    assert [o.values for o in first] == [o.values for o in outcomes]
    assert sum(o.error is None for o in outcomes) == 3  # a serial run would time out at the barrier


def test_first_clip_one_job_or_serial_mode_run_in_the_calling_thread():
    seen = []
    with ClipScorer("cpu", parallel=True) as runner:
        runner.run([lambda: seen.append(threading.current_thread().name) or {}] * 2)  # first clip: serial
        runner.run([lambda: seen.append(threading.current_thread().name) or {}])
    with ClipScorer("cuda", parallel=False) as runner:
        runner.run([lambda: seen.append(threading.current_thread().name) or {}] * 2)
    assert seen == [threading.current_thread().name] * 5


def test_an_evaluator_seen_for_the_first_time_makes_the_clip_serial():
    names = []

    def job():
        names.append(threading.current_thread().name)
        return {}

    main = threading.current_thread().name
    with ClipScorer("cpu", parallel=True) as runner:
        runner.run([job], ["a"])
        runner.run([job, job], ["a", "b"])  # "b" loads (and compiles) here: serial
        assert names == [main] * 3
        barrier = threading.Barrier(2)
        outcomes = runner.run([lambda: barrier.wait(timeout=5) and {}] * 2, ["a", "b"])  # both known: side by side
    assert [o.error for o in outcomes] == [None, None]  # a serial run would break the barrier
