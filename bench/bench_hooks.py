"""Hook overhead per note save: ``pm.hook.note_saved(locale=None, note=...)`` against calling the core directly.

Both paths of a pair do the same work, so the difference is what the hook path adds:
pluggy's dispatch, the plugin's input handling and turning effects into the returned dict.

- **core, in memory** (the target): the hook path runs with the plugin set up on a runtime
  that calls ``handle()`` on one client's state held in memory (intake, six notes); the
  floor loads the same payload with the same schema and calls ``handle()`` on the same
  state. Nothing is persisted by either.
- **store-backed** (for context): both save the same note to a SQLite store in one
  transaction each: ``pm.hook.note_saved`` against ``runtime.dispatch(schemas.load(...))``.
- **dispatch alone** (for context): ``pm.hook.note_saved`` against calling the plugin's
  ``note_saved`` function directly, on the in-memory runtime.

Overhead is the paired estimate: the median floor time times (median per-round ratio - 1),
which is steadier than subtracting two medians taken from different rounds.

Run: ``.venv/bin/python bench/bench_hooks.py``. The last three lines are the target's figures.
"""
from __future__ import annotations

import sys
import tempfile
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import line, paired  # noqa: E402
from progress_plugin import schemas  # noqa: E402
from progress_plugin.core.handle import handle  # noqa: E402
from progress_plugin.hosts.manager import make_manager  # noqa: E402
from progress_plugin.service.runtime import Runtime  # noqa: E402
from progress_plugin.store import Store  # noqa: E402

CLINIC, CLIENT = "bench-clinic", "bench-client"
NOW = datetime(2026, 3, 2, 12, 0, tzinfo=timezone.utc)
START = datetime(2026, 1, 5, 9, 0, tzinfo=timezone.utc)
TARGET_US, TARGET_RATIO = 10.0, 1.10


class MemoryRuntime:
    """``handle()`` on one client's state held in memory: the core, with nothing persisted."""

    def __init__(self, state, store):
        self.held = state
        self.store = store
        self.clock = lambda: NOW

    def state(self, clinic_id, client_id, conn=None):
        return self.held

    def dispatch(self, event, actor=None, conn=None):
        return handle(event, self.held)


def note(n: int, note_id: str | None = None) -> dict:
    at = (START + timedelta(days=7 * n)).isoformat()
    return {"clinic_id": CLINIC, "client_id": CLIENT, "note_id": note_id or f"note-{n}", "session_at": at,
            "author": "t1", "at": at,
            "tags": [{"code": "step-forward", "goals": ["g1"], "ratings": [{"goal": "g1", "value": min(10, 3 + n)}]},
                     {"code": "moment-of-connection"}]}


def seed(runtime: Runtime) -> None:
    intake = {"goals": [{"words": "Sleep through most nights", "whose": "client", "baseline": 3},
                        {"words": "Say no to my boss once", "whose": "client", "baseline": 2}],
              "review_cadence": "every-4-sessions", "agreed": True, "agreed_on": "2026-01-05",
              "goals_reviewed": True}
    runtime.dispatch(schemas.load(schemas.intake_submitted_schema, {
        "clinic_id": CLINIC, "client_id": CLIENT, "author": "t1", "at": START.isoformat(), "intake": intake}))
    for n in range(1, 7):
        runtime.dispatch(schemas.load(schemas.note_schema, note(n)))


def overhead_us(r) -> float:
    return r.floor * (r.ratio - 1) * 1e6


def main() -> None:
    folder = tempfile.mkdtemp(prefix="bench-hooks-")
    store = Store.open(f"sqlite:///{folder}/progress.db")
    runtime = Runtime(store, clock=lambda: NOW)
    seed(runtime)
    pm = make_manager()
    plugin = pm.get_plugin("progress")
    payload = note(7, "note-bench")
    state = runtime.state(CLINIC, CLIENT)

    memory = MemoryRuntime(state, store)
    plugin.setup(runtime=memory)
    assert pm.hook.note_saved(locale=None, note=payload)[0]["status"] == "saved"

    def hook_path():
        return pm.hook.note_saved(locale=None, note=payload)

    def core_path():
        return handle(schemas.load(schemas.note_schema, payload), state)

    def direct_impl():
        return plugin.note_saved(note=payload, locale=None)

    core = paired("core, in memory", hook_path, core_path, calls=400, rounds=41)
    alone = paired("dispatch alone", hook_path, direct_impl, calls=400, rounds=41)

    plugin.setup(store=store, clock=lambda: NOW)

    def store_floor():
        return runtime.dispatch(schemas.load(schemas.note_schema, payload))

    stored = paired("store-backed", hook_path, store_floor, calls=150, rounds=7)
    plugin.reset()
    store.close()

    print("per note save; paired rounds, medians")
    for r in (alone, stored, core):
        print(f"  {r.name:<18} hook {r.measured * 1e6:9.1f} µs   floor {r.floor * 1e6:9.1f} µs   "
              f"overhead {overhead_us(r):7.2f} µs   ratio {r.ratio:.3f}")
    over = overhead_us(core)
    print(line("hook dispatch overhead per note save (µs)", f"{over:.2f}", f"<= {TARGET_US:g}", over <= TARGET_US))
    print(line("ratio hook path / core directly", f"{core.ratio:.3f}", f"<= {TARGET_RATIO:.2f}",
               core.ratio <= TARGET_RATIO))
    met = over <= TARGET_US and core.ratio <= TARGET_RATIO
    print(f"hook overhead: {over:.2f} µs, ratio {core.ratio:.3f}: {'MET' if met else 'MISSED'}")


if __name__ == "__main__":
    main()
