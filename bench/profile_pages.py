"""Where a page's time goes: the pages benchmark's pages, in process, through Flask's test client,
under cProfile (the same store, sessions and EHR stand-in as ``bench_pages.py``).

Run: ``.venv/bin/python bench/profile_pages.py [--only smart] [--requests N] [--lines N]``.
Prints, per page, the time per request and the top lines by cumulative time; with ``--time``, no
profile: each page's median and p90 time per request, one request at a time, and its median CPU time
(``time.thread_time``: it leaves out waiting for a core, so it holds steadier on a loaded machine).
"""
from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.bench_pages import (CLINIC, PAGES, SMART_KEY, EHRHost, drain, seed_requests, sessions,  # noqa: E402
                               smart_config)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--only", default="")
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--lines", type=int, default=25)
    parser.add_argument("--sort", default="cumulative")
    parser.add_argument("--match", default="", help="only lines whose file matches this (a regex)")
    parser.add_argument("--time", action="store_true", help="no profile: each page's median time per request")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="profile-pages-"))
    ehr = EHRHost()
    try:
        store_url = f"sqlite:///{folder / 'progress.db'}"
        config = smart_config(folder, store_url, ehr.base, client_id="p")
        os.environ["PROGRESS_PLUGIN_CONFIG"] = str(config)
        os.environ["PROGRESS_PLUGIN_SMART_KEY"] = SMART_KEY
        from progress_plugin.web.app import create_app
        app = create_app()
        client = app.test_client()
        for body, headers in seed_requests():
            assert client.post(f"/webhooks/{CLINIC}", data=body, headers=headers).status_code < 300
        assert drain(config) >= 7, "the seeded events did not reach the client's state"
        cookies = sessions(store_url, ehr.base)
        for name, path, session in (p for p in PAGES if p[0].startswith(args.only)):
            path = path.format(clinic=CLINIC)
            headers = {}
            client = app.test_client()
            if session:
                cookie_name, value = cookies[session].split("=", 1)
                client.set_cookie(cookie_name, value)
            for _ in range(10):
                got = client.get(path, headers=headers)
                assert got.status_code == 200, (name, got.status_code, got.get_data(as_text=True)[:3000])
            if args.time:
                took, cpu = [], []
                for _ in range(args.requests):
                    start, start_cpu = time.perf_counter(), time.thread_time()
                    client.get(path, headers=headers)
                    took.append(time.perf_counter() - start)
                    cpu.append(time.thread_time() - start_cpu)
                took.sort()
                cpu.sort()
                print(f"{name:<22} median {took[len(took) // 2] * 1e3:6.2f} ms  p90 {took[len(took) * 9 // 10] * 1e3:6.2f} ms"
                      f"  CPU median {cpu[len(cpu) // 2] * 1e3:6.2f} ms")
                continue
            profile = cProfile.Profile()
            start = time.perf_counter()
            profile.enable()
            for _ in range(args.requests):
                client.get(path, headers=headers)
            profile.disable()
            took = (time.perf_counter() - start) / args.requests
            out = io.StringIO()
            pstats.Stats(profile, stream=out).sort_stats(args.sort).print_stats(*([args.match] if args.match else []), args.lines)
            print(f"=== {name} ({path}): {took * 1e3:.2f} ms per request under cProfile")
            print("\n".join(ln for ln in out.getvalue().splitlines()[6:] if ln.strip()))
    finally:
        ehr.stop()


if __name__ == "__main__":
    main()
