"""RSS of each service under load, next to its idle RSS measured in the same run.

Starts the four services on the local stack (isolated prefixes), samples each process's
resident memory while idle, then while 4 threads drive the guardian flow (register,
verify from the email, sign in, request a link) and staff approvals, and reports peak
RSS under load and its ratio to idle. Writes bench/out/memory.json.
"""

from __future__ import annotations

import json
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.harness import ROOT, new_portal, start_portal, stop_portal
from tests.oneroster import Student, bundle
from tests.portal_client import Guardian, Staff
from tools.devstack.testing import clear_mail

LOAD_SECONDS = 60
WORKERS = 4


def rss_mib(pid: int) -> float:
    """Resident set size of ``pid`` in MiB (from /proc)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def main() -> int:
    # The flows read their verification mail from the sink; earlier benchmarks leave
    # thousands of messages there that every lookup would parse again.
    clear_mail()
    portal = start_portal(new_portal(port_offset=300))
    try:
        pids = {name: svc.proc.pid for name, svc in portal.services.items() if svc.proc}
        time.sleep(3)
        idle = {name: rss_mib(pid) for name, pid in pids.items()}
        school = f"M{uuid.uuid4().hex[:6]}"
        students = [Student(school, f"5{i:07d}", f"Kid{i}", "Load") for i in range(2000)]
        admin = Staff(portal, [school], role="district_admin", subject="admin-m")
        admin.import_roster(bundle(students))
        staff = Staff(portal, [school], subject="staff-m")
        peak = dict(idle)
        stop = threading.Event()
        counter = iter(range(len(students)))
        done = {"flows": 0, "errors": 0}

        def sample() -> None:
            while not stop.is_set():
                for name, pid in pids.items():
                    peak[name] = max(peak[name], rss_mib(pid))
                time.sleep(0.5)

        def flow() -> None:
            while not stop.is_set():
                student = students[next(counter)]
                try:
                    g = Guardian(portal).onboard()
                    link = g.request_link(
                        student.school_id, student.student_id, student.family_name
                    )
                    staff.approve(link.json()["link_id"])
                    done["flows"] += 1
                except Exception:
                    done["errors"] += 1

        sampler = threading.Thread(target=sample)
        sampler.start()
        with ThreadPoolExecutor(WORKERS) as pool:
            for _ in range(WORKERS):
                pool.submit(flow)
            time.sleep(LOAD_SECONDS)
            stop.set()
        sampler.join()
    finally:
        stop_portal(portal)
    figures = [
        {
            "name": f"{name} peak RSS under load",
            "value": round(peak[name], 1),
            "unit": "MiB",
            "baseline_name": f"{name} idle RSS",
            "baseline": round(idle[name], 1),
            "ratio": round(peak[name] / idle[name], 2) if idle[name] else None,
        }
        for name in pids
    ]
    for f in figures:
        print(f"{f['name']}: {f['value']} MiB (idle {f['baseline']} MiB, ratio {f['ratio']})")
    out = ROOT / "bench" / "out"
    out.mkdir(parents=True, exist_ok=True)
    (out / "memory.json").write_text(
        json.dumps(
            {
                "figures": figures,
                "notes": f"{LOAD_SECONDS}s of {WORKERS} concurrent guardian flows "
                f"(register, verify, sign in, link, approve): {done['flows']} completed, "
                f"{done['errors']} errors.",
                "command": ".venv/bin/python bench/memory_bench.py",
            },
            indent=2,
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
