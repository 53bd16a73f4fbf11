"""Several processes on one store, started together: what the multi-process store tests share."""
from __future__ import annotations

import multiprocessing


def race(jobs, timeout: float = 180) -> list[int | None]:
    """Run each ``(target, args)`` of ``jobs`` in a spawned process of its own, release them at once
    (each target gets a start event as its last argument and waits on it), and wait for them.
    Returns their exit codes, in the order of ``jobs``."""
    ctx = multiprocessing.get_context("spawn")
    start = ctx.Event()
    procs = [ctx.Process(target=target, args=(*args, start)) for target, args in jobs]
    for p in procs:
        p.start()
    start.set()
    for p in procs:
        p.join(timeout)
    return [p.exitcode for p in procs]
