"""`make bench`: measure the whole stack through the gateway, and this machine's ceiling, in one run.

It starts the local-process stack on a vhost of its own (as `make demo`
does), loads the generated municipality, and measures:

(a) guardian absence reports per second, with latency p50 and p99;
(b) attendance marks per second, through lesson registrations;
(c) the time from a lesson registration to the SMS at the sink, p50 and p99,
    at a steady rate of absences;
(d) the ceiling: a trivial Flask endpoint under gunicorn, and a bare nameko
    RPC round trip on the same broker (a vhost of its own).

The ceiling (d) is measured first, on the idle machine. wrk (Debian's
package) drives the HTTP load of (a), (b) and (d). Where the target of (a)
or (b) is missed and py-spy is installed, a second short run of that load is
profiled and the top functions are listed. The results are printed and
written to the output file as a section of its own.
"""

import argparse
import contextlib
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import requests

from torget_shared.config import SERVICE_NAMES, env_prefix
from torget_tools.journey import (
    STOCKHOLM,
    Endpoints,
    Gateway,
    JourneyError,
    Municipality,
    Session,
    check,
    lesson_times,
    next_school_day,
    wait_for,
    wait_for_outboxes_drained,
)
from torget_tools.stack import BIN_DIR, REPO_ROOT, Vhost, free_port, processes_with_env, run_tool, running_stack

# The targets on a 2-core machine.
TARGET_REPORTS_PER_SECOND = 500
TARGET_REPORT_P99_MS = 200
TARGET_MARKS_PER_SECOND = 5000
TARGET_NOTICE_P99_S = 2.0
NOTICE_RATE = 100  # absences per second for (c)

WRK_SCRIPT = r"""
-- Sends the requests of a file in turn: one line each, "METHOD<TAB>PATH<TAB>TOKEN<TAB>BODY".
-- Thread n of N takes lines n, n+N, n+2N, ... so no two threads send the same request.
local counter = 0
local threads = {}

function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
  table.insert(threads, thread)
end

function init(args)
  requests = {}
  local index = 0
  for line in io.lines(args[1]) do
    if index % tonumber(args[2]) == id then
      local method, path, token, body = line:match("([^\t]*)\t([^\t]*)\t([^\t]*)\t(.*)")
      local headers = {["Content-Type"] = "application/json"}
      if token ~= "" then headers["Authorization"] = "Bearer " .. token end
      table.insert(requests, wrk.format(method, path, headers, body ~= "" and body or nil))
    end
    index = index + 1
  end
  position = 0
end

function request()
  position = position % #requests + 1
  return requests[position]
end
"""


# -- the machine ------------------------------------------------------------------


def machine() -> dict:
    cpu_model = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu_model = line.split(":", 1)[1].strip()
            break
    memory_kib = int(re.search(r"MemTotal:\s+(\d+)", Path("/proc/meminfo").read_text()).group(1))
    return {
        "nproc": os.cpu_count(),
        "cpu_model": cpu_model,
        "memory_gib": round(memory_kib / 1024 / 1024, 1),
        "python": platform.python_version(),
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d"),
    }


# -- wrk --------------------------------------------------------------------------


def run_wrk(base_url: str, lines: list[str], seconds: float, connections: int, threads: int = 2) -> dict:
    """Send the request lines with wrk for ``seconds``; return requests, 2xx responses per second and latency percentiles."""
    # Each wrk thread takes its own share of the lines, so every thread needs one.
    lines = lines * max(1, -(-threads // len(lines)))
    with tempfile.TemporaryDirectory() as folder:
        script = Path(folder) / "requests.lua"
        script.write_text(WRK_SCRIPT)
        requests_file = Path(folder) / "requests.tsv"
        requests_file.write_text("\n".join(lines) + "\n")
        command = [
            "wrk", f"-t{threads}", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--latency", "--timeout", "10s",
            "-s", str(script), base_url, "--", str(requests_file), str(threads),
        ]  # fmt: skip
        finished = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 60)
    if "requests in" not in finished.stdout:
        raise RuntimeError(f"wrk exited with {finished.returncode}:\n{finished.stdout[-2000:]}{finished.stderr[-2000:]}")
    return parse_wrk(finished.stdout)


def _milliseconds(value: str) -> float:
    number, unit = re.match(r"([\d.]+)(us|ms|s)", value).groups()
    return float(number) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def parse_wrk(output: str) -> dict:
    total = int(re.search(r"(\d+) requests in ([\d.]+)(\w+)", output).group(1))
    duration_match = re.search(r"requests in ([\d.]+)(ms|s|m)", output)
    duration = float(duration_match.group(1)) * {"ms": 0.001, "s": 1.0, "m": 60.0}[duration_match.group(2)]
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    errors = re.search(r"Socket errors: (.*)", output)
    percentiles = {int(p): _milliseconds(v) for p, v in re.findall(r"^\s+(\d+)%\s+([\d.]+\w+)", output, re.MULTILINE)}
    ok = total - (int(non_2xx.group(1)) if non_2xx else 0)
    return {
        "requests": total,
        "ok": ok,
        "seconds": duration,
        "ok_per_second": ok / duration,
        "p50_ms": percentiles.get(50),
        "p99_ms": percentiles.get(99),
        "socket_errors": errors.group(1).strip() if errors else "none",
    }


# -- profiles ---------------------------------------------------------------------


def stack_pids(env: dict, pattern: str) -> list[int]:
    found = []
    for pid in processes_with_env("TORGET_VAR_DIR", env["TORGET_VAR_DIR"]):
        try:
            command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if re.search(pattern, command):
            found.append(pid)
    return found


def profile(pids: list[int], seconds: float, folder: Path, name: str) -> list[subprocess.Popen]:
    """Start py-spy on each process for ``seconds``; return the recorders (empty when py-spy is missing)."""
    py_spy = shutil.which("py-spy") or (str(BIN_DIR / "py-spy") if (BIN_DIR / "py-spy").exists() else None)
    if py_spy is None:
        return []
    recorders = []
    for pid in pids:
        output = folder / f"{name}-{pid}.txt"
        recorders.append(
            subprocess.Popen(
                [py_spy, "record", "--pid", str(pid), "--duration", str(int(seconds)), "--rate", "100",
                 "--nonblocking", "--format", "raw", "--output", str(output)],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )
        )  # fmt: skip
    return recorders


# Frames on top of the stack while a process waits for I/O: the eventlet hub,
# selectors, socket reads of AMQP replies, and idle worker threads.
WAITING_FRAME = re.compile(r"do_poll|select \(|blocking_read|TCPTransport\._read|PollableMethodQueue\.defer|_worker \(|\bwait \(|sleep")


def top_functions(files: list[Path], count: int = 12) -> list[tuple[str, float]]:
    """Return the functions with the most samples on top of the stack, with their share of all samples.

    Waiting frames are counted together as "waiting for I/O".
    """
    own = Counter()
    total = 0
    for path in files:
        if not path.exists():
            continue
        for line in path.read_text(errors="replace").splitlines():
            stack, _, samples = line.rpartition(" ")
            if not stack or not samples.isdigit():
                continue
            frame = stack.split(";")[-1]
            frame = re.sub(r":\d+\)", ")", frame)
            frame = re.sub(r"\(/.*?/(site-packages|services|gateway|shared)/", r"(\1/", frame)
            if WAITING_FRAME.search(frame):
                frame = "waiting for I/O"
            own[frame] += int(samples)
            total += int(samples)
    return [(frame, samples / total) for frame, samples in own.most_common(count)] if total else []


# -- the data ---------------------------------------------------------------------


class Bench:
    def __init__(self, stack, municipality: Municipality, seconds: float, work_dir: Path):
        self.stack = stack
        self.env = stack.env
        self.municipality = municipality
        self.seconds = seconds
        self.work_dir = work_dir
        self.gateway = Gateway(Endpoints.from_env(self.env))
        self.base_url = self.gateway.endpoints.gateway
        self.results: dict = {}
        self.profiles: dict = {}

    def say(self, text: str) -> None:
        print(text, flush=True)

    def login_all(self, persons) -> dict:
        """Log each person in with BankID, eight at a time; return the sessions by person id."""

        def login(person):
            tokens = self.gateway.bankid_login(person.personal_number, person.given_name, person.family_name, apply=True)
            return person.person_id, Session(self.gateway, tokens, person.name)

        with ThreadPoolExecutor(8) as pool:
            return dict(pool.map(login, persons))

    def families_by_class(self) -> dict:
        classes: dict = {}
        for family in self.municipality.families():
            classes.setdefault(family.group_id, []).append(family)
        return classes

    # (a) absence reports

    def report_lines(self, guardians: dict, families, days: list[date]) -> list[str]:
        lines = []
        for day in days:
            for family in families:
                session = guardians.get(family.guardians[0].person_id)
                if session is None:
                    continue
                body = json.dumps({"child_person_id": family.child.person_id, "first_date": day.isoformat(), "reason": "illness"})
                lines.append(f"POST\t/attendance/absence-reports\t{session.tokens['access_token']}\t{body}")
        return lines

    def measure_reports(self) -> None:
        families = self.municipality.families()
        by_guardian = {}
        for family in families:
            by_guardian.setdefault(family.guardians[0].person_id, family)
        chosen = list(by_guardian.values())[:400]
        self.say(f"(a) logging in {len(chosen)} guardians with BankID")
        guardians = self.login_all([family.guardians[0] for family in chosen])

        today = datetime.now(STOCKHOLM).date()
        days = []
        day = today
        while len(days) < 9:
            day = next_school_day(day)
            days.append(day)
        measured = self.report_lines(guardians, chosen, days[:6])
        profiled = self.report_lines(guardians, chosen, days[6:])

        self.say(f"(a) {len(measured)} absence reports ready; sending with wrk for {self.seconds:.0f} s")
        result = run_wrk(self.base_url, measured, self.seconds, connections=32)
        result["available"] = len(measured)
        self.results["reports"] = result
        self.say(f"    {result['ok_per_second']:.0f} reports/s, p50 {result['p50_ms']:.0f} ms, p99 {result['p99_ms']:.0f} ms")

        if result["ok_per_second"] < TARGET_REPORTS_PER_SECOND or result["p99_ms"] > TARGET_REPORT_P99_MS:
            self.profiles["reports"] = self.profile_load(profiled, "reports", r"gunicorn|torget_attendance|torget_identity")

    def profile_load(self, lines: list[str], name: str, process_pattern: str) -> dict:
        seconds = min(self.seconds, 8)
        pids = stack_pids(self.env, process_pattern)
        recorders = profile(pids, seconds, self.work_dir, name)
        if not recorders:
            self.say("    py-spy is not installed; no profile (pip install py-spy)")
            return {}
        self.say(f"    profiling {len(pids)} processes with py-spy during {seconds:.0f} s more of the same load")
        run_wrk(self.base_url, lines, seconds, connections=32)
        for recorder in recorders:
            recorder.wait(timeout=60)
        by_process = {}
        for pid in pids:
            try:
                command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                command = str(pid)
            label = "gateway" if "gunicorn" in command else re.search(r"torget_(\w+)\.service", command).group(1)
            by_process.setdefault(label, []).append(self.work_dir / f"{name}-{pid}.txt")
        return {label: top_functions(files) for label, files in by_process.items()}

    # (b) marks through lesson registrations

    def create_class_lessons(self, teachers: dict, families, days: list[date], hours: int, name_prefix: str) -> list[tuple]:
        """Create ``hours`` lessons a day for each class; return (teacher session, lesson, pupil ids) per lesson."""
        jobs = []
        for family in families:
            teacher = teachers[family.teacher.person_id]
            for day in days:
                for hour in range(hours):
                    jobs.append((teacher, family, day, hour))

        def create(job):
            teacher, family, day, hour = job
            starts_at, ends_at = lesson_times(day, hour)
            lesson = teacher.post(
                "/attendance/lessons",
                {
                    "unit_id": family.unit_id,
                    "name": f"{name_prefix}-{len(jobs)}-{family.group_name}-{day.isoformat()}-{hour}",
                    "starts_at": starts_at,
                    "ends_at": ends_at,
                    "group_ids": [family.group_id],
                    "teacher_person_ids": [family.teacher.person_id],
                },
                201,
            )
            return teacher, lesson, family

        with ThreadPoolExecutor(8) as pool:
            return list(pool.map(create, jobs))

    def pupils_of(self, group_id: str) -> list[str]:
        group = next(g for g in self.municipality.entities["groups"] if g["id"] == group_id)
        return [membership["person"]["id"] for membership in group["groupMemberships"]]

    def measure_marks(self) -> None:
        classes = self.families_by_class()
        one_per_class = [families[0] for families in classes.values()][:40]
        self.say(f"(b) logging in the teachers of {len(one_per_class)} classes")
        teachers = self.login_all(list({family.teacher.person_id: family.teacher for family in one_per_class}.values()))
        days = []
        day = datetime.now(STOCKHOLM).date()
        while len(days) < 6:
            day -= timedelta(days=1)
            if day.weekday() < 5:
                days.append(day)
        lessons = self.create_class_lessons(teachers, one_per_class, days, 8, "M")
        self.say(f"(b) created {len(lessons)} lessons; registering them with wrk for {self.seconds:.0f} s")

        lines, marks_per_lesson = [], []
        for teacher, lesson, family in lessons:
            pupils = self.pupils_of(family.group_id)
            marks_per_lesson.append(len(pupils))
            body = json.dumps({"marks": [{"child_person_id": pupil, "status": "present"} for pupil in pupils]})
            lines.append(f"PUT\t/attendance/lessons/{lesson['id']}/registration\t{teacher.tokens['access_token']}\t{body}")
        split = len(lines) * 3 // 4
        result = run_wrk(self.base_url, lines[:split], self.seconds, connections=16)
        result["marks_per_registration"] = statistics.mean(marks_per_lesson)
        result["marks_per_second"] = result["ok_per_second"] * result["marks_per_registration"]
        result["available"] = split
        self.results["marks"] = result
        self.say(
            f"    {result['ok_per_second']:.0f} registrations/s of {result['marks_per_registration']:.0f} marks = "
            f"{result['marks_per_second']:.0f} marks/s, p50 {result['p50_ms']:.0f} ms, p99 {result['p99_ms']:.0f} ms"
        )
        if result["marks_per_second"] < TARGET_MARKS_PER_SECOND:
            self.profiles["marks"] = self.profile_load(lines[split:], "marks", r"gunicorn|torget_attendance")

    # (c) registration to SMS

    def measure_notices(self) -> None:
        classes = list(self.families_by_class().values())[:10]
        families = [family for class_families in classes for family in class_families[:10]]
        guardians_by_id = {family.guardians[0].person_id: family.guardians[0] for family in families}
        self.say(f"(c) {len(guardians_by_id)} guardians log in and add a mobile number")
        guardians = self.login_all(list(guardians_by_id.values()))
        mobiles = {}
        for number, (person_id, session) in enumerate(guardians.items()):
            mobile = f"+4670{3000000 + number:07d}"
            session.put("/identity/me/mobile", {"mobile": mobile})
            session.patch("/identity/me/preferences", {"sms": True})
            mobiles[person_id] = mobile
        teachers = self.login_all(list({c[0].teacher.person_id: c[0].teacher for c in classes}.values()))
        wait_for_outboxes_drained(self.gateway)

        registrations_per_second = NOTICE_RATE / 10
        count = int(registrations_per_second * self.seconds)
        days = []
        day = datetime.now(STOCKHOLM).date()
        while len(days) < 2:
            day -= timedelta(days=1)
            if day.weekday() < 5:
                days.append(day)
        lessons = self.create_class_lessons(teachers, [c[0] for c in classes], days, 5, "N")[:count]
        absent_by_group = {c[0].group_id: [family.child.person_id for family in c[:10]] for c in classes}
        check(requests.delete(f"{self.gateway.endpoints.sms_sink}/sink/messages", timeout=10), 200)

        self.say(f"(c) registering {len(lessons)} lessons with 10 absences each at {NOTICE_RATE} absences/s")
        sent_at = {}
        interval = 1.0 / registrations_per_second
        start = time.monotonic()
        wall_start = time.time() - start

        def register(item):
            teacher, lesson, family = item
            absent = absent_by_group[family.group_id]
            body = {"marks": [{"child_person_id": child, "status": "absent"} for child in absent]}
            sent_at[lesson["name"]] = wall_start + time.monotonic()
            teacher.put(f"/attendance/lessons/{lesson['id']}/registration", body)

        with ThreadPoolExecutor(16) as pool:
            futures = []
            for index, item in enumerate(lessons):
                delay = start + index * interval - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                futures.append(pool.submit(register, item))
            for future in futures:
                future.result()

        expected = len(lessons) * 10

        def arrived():
            messages = self.gateway.sms_messages()
            return messages if len(messages) >= expected else None

        try:
            messages = wait_for(arrived, 120, f"{expected} SMS at the sink", interval=1.0)
        except JourneyError:
            messages = self.gateway.sms_messages()
        latencies = []
        for message in messages:
            match = re.search(r"(N-\d+-\S+-\d{4}-\d{2}-\d{2}-\d+)", message["message"])
            if match and match.group(1) in sent_at:
                latencies.append(message["received_at"] - sent_at[match.group(1)])
        latencies.sort()
        first_sent = min(sent_at.values()) if sent_at else 0.0
        last_arrival = max((message["received_at"] for message in messages), default=first_sent)
        result = {
            "sms_per_second": len(messages) / (last_arrival - first_sent) if last_arrival > first_sent else None,
            "absences": expected,
            "sms": len(messages),
            "matched": len(latencies),
            "p50_s": statistics.median(latencies) if latencies else None,
            "p99_s": latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] if latencies else None,
            "seconds": self.seconds,
        }
        self.results["notices"] = result
        self.say(
            f"    {result['sms']} of {expected} SMS arrived, {result['sms_per_second']:.0f}/s from the first registration "
            f"to the last SMS; p50 {result['p50_s']:.2f} s, p99 {result['p99_s']:.2f} s"
        )


# -- (d) the ceiling --------------------------------------------------------------


def measure_flask_ceiling(seconds: float, env: dict) -> dict:
    port = free_port()
    server = subprocess.Popen(
        [str(BIN_DIR / "gunicorn"), "-k", "gthread", "-w", env.get("GATEWAY_WORKERS", "2"), "--threads",
         env.get("GATEWAY_THREADS", "8"), "-b", f"127.0.0.1:{port}", "torget_tools.ceiling:app"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=REPO_ROOT,
    )  # fmt: skip
    try:
        wait_for(lambda: _answers(f"http://127.0.0.1:{port}/ping"), 30, "the trivial Flask app")
        return run_wrk(f"http://127.0.0.1:{port}", ["GET\t/ping\t\t"], seconds, connections=32)
    finally:
        server.terminate()
        server.wait(timeout=30)


def _answers(url: str) -> bool:
    try:
        return requests.get(url, timeout=2).status_code == 200
    except requests.RequestException:
        return False


def measure_rpc_ceiling(seconds: float, amqp_uri: str) -> dict:
    """Run the ping service and time RPC round trips from one client, one after another and from 8 threads."""
    service = subprocess.Popen(
        [str(BIN_DIR / "nameko"), "run", "--broker", amqp_uri, "torget_tools.ceiling:PingService"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=REPO_ROOT,
    )  # fmt: skip
    try:
        script = RPC_CLIENT.format(amqp_uri=amqp_uri, seconds=seconds)
        output = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=seconds * 2 + 90)
        if output.returncode != 0:
            raise RuntimeError(f"the RPC client failed: {output.stderr[-2000:]}")
        return json.loads(output.stdout.strip().splitlines()[-1])
    finally:
        service.terminate()
        service.wait(timeout=30)


# The client runs in a process of its own: nameko's standalone client in plain
# threads, as the gateway uses it.
RPC_CLIENT = """
import json, statistics, threading, time
from nameko.standalone.rpc import ClusterRpcProxy

config = {{"AMQP_URI": "{amqp_uri}", "serializer": "json"}}
deadline = time.monotonic() + 60
while True:
    try:
        with ClusterRpcProxy(config, timeout=5) as rpc:
            rpc.bench_ping.ping()
        break
    except Exception:
        if time.monotonic() > deadline:
            raise
        time.sleep(0.5)

def run(seconds, latencies):
    with ClusterRpcProxy(config, timeout=5) as rpc:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            started = time.perf_counter()
            rpc.bench_ping.ping()
            latencies.append(time.perf_counter() - started)

serial = []
run({seconds} / 2, serial)
parallel = []
threads = [threading.Thread(target=run, args=({seconds} / 2, parallel)) for _ in range(8)]
[t.start() for t in threads]
[t.join() for t in threads]
serial.sort()
parallel.sort()
print(json.dumps({{
    "serial_per_second": len(serial) / ({seconds} / 2),
    "serial_p50_ms": serial[len(serial) // 2] * 1000,
    "serial_p99_ms": serial[int(len(serial) * 0.99)] * 1000,
    "parallel_per_second": len(parallel) / ({seconds} / 2),
    "parallel_p99_ms": parallel[int(len(parallel) * 0.99)] * 1000,
}}))
"""


# -- the page ---------------------------------------------------------------------


def _verdict(value: float, target: float, higher_is_better: bool = True) -> str:
    if higher_is_better:
        return "met" if value >= target else f"missed by {target - value:.0f} ({(1 - value / target) * 100:.0f} % short)"
    return "met" if value <= target else f"missed by {value - target:.2f} ({(value / target - 1) * 100:.0f} % over)"


def render(results: dict, profiles: dict, info: dict, command: str) -> str:
    reports, marks, notices = results["reports"], results["marks"], results["notices"]
    flask, rpc = results["flask"], results["rpc"]
    lines = [
        "## Whole stack through the gateway (make bench)",
        "",
        f"Command: `{command}`. Machine: {info['nproc']} cores ({info['cpu_model']}), {info['memory_gib']} GiB, "
        f"Python {info['python']}; measured on {info['date']}. The stack is `make run` ({info['databases']}, gunicorn "
        "gthread workers 2 x 8 threads, one process per service) with the generated test municipality loaded; "
        "wrk drives the HTTP load from the same machine, so load generator and stack share the cores.",
        "",
        "| measure | result | target | verdict |",
        "| --- | --- | --- | --- |",
        f"| (a) guardian absence reports | {reports['ok_per_second']:.0f}/s, p50 {reports['p50_ms']:.0f} ms, "
        f"p99 {reports['p99_ms']:.0f} ms ({reports['ok']} of {reports['requests']} 2xx, 32 connections) | "
        f"{TARGET_REPORTS_PER_SECOND}/s, p99 < {TARGET_REPORT_P99_MS} ms | rate "
        f"{_verdict(reports['ok_per_second'], TARGET_REPORTS_PER_SECOND)}; p99 "
        f"{_verdict(reports['p99_ms'], TARGET_REPORT_P99_MS, higher_is_better=False)} ms |",
        f"| (b) attendance marks | {marks['marks_per_second']:.0f} marks/s ({marks['ok_per_second']:.0f} registrations/s "
        f"of {marks['marks_per_registration']:.0f} pupils, p50 {marks['p50_ms']:.0f} ms, p99 {marks['p99_ms']:.0f} ms) | "
        f"{TARGET_MARKS_PER_SECOND}/s | {_verdict(marks['marks_per_second'], TARGET_MARKS_PER_SECOND)} |",
        f"| (c) registration to SMS at the sink, {NOTICE_RATE} absences/s for {notices['seconds']:.0f} s | "
        f"p50 {notices['p50_s']:.2f} s, p99 {notices['p99_s']:.2f} s ({notices['sms']} of {notices['absences']} SMS, "
        f"delivered at {notices['sms_per_second']:.0f}/s) | "
        f"p99 < {TARGET_NOTICE_P99_S:.0f} s | {_verdict(notices['p99_s'], TARGET_NOTICE_P99_S, higher_is_better=False)} s |",
        f"| (d) trivial Flask endpoint, same gunicorn settings | {flask['ok_per_second']:.0f}/s, p50 {flask['p50_ms']:.1f} ms, "
        f"p99 {flask['p99_ms']:.1f} ms | ceiling | |",
        f"| (d) bare nameko RPC round trip | {rpc['serial_per_second']:.0f}/s one at a time (p50 {rpc['serial_p50_ms']:.1f} ms, "
        f"p99 {rpc['serial_p99_ms']:.1f} ms); {rpc['parallel_per_second']:.0f}/s from 8 threads | ceiling | |",
        "",
    ]
    for name, by_process in profiles.items():
        if not by_process:
            continue
        lines += [
            f"Where the time goes in ({'a' if name == 'reports' else 'b'}): py-spy, 100 samples/s, during a further "
            "run of the same load; functions with the most samples on top of the stack, share of that process's samples:",
            "",
        ]
        for label, functions in by_process.items():
            lines.append(f"- {label}: " + "; ".join(f"`{frame}` {share * 100:.0f} %" for frame, share in functions[:8]))
        lines.append("")
    return "\n".join(lines)


def write_section(path: Path, section: str) -> None:
    """Replace the section of the same heading in ``path``, or append it."""
    heading = section.splitlines()[0]
    text = path.read_text(encoding="utf-8") if path.exists() else "# Benchmarks\n"
    if heading in text:
        start = text.index(heading)
        following = text.find("\n## ", start + len(heading))
        text = text[:start] + section.rstrip() + "\n" + (text[following:] if following != -1 else "")
    else:
        text = text.rstrip() + "\n\n" + section.rstrip() + "\n"
    path.write_text(text, encoding="utf-8")


class PostgresDatabases:
    """One fresh PostgreSQL database per service, made from the admin URL and dropped at the end."""

    def __init__(self, admin_url: str):
        import sqlalchemy

        self.admin_url = sqlalchemy.engine.make_url(admin_url)
        self.engine = sqlalchemy.create_engine(self.admin_url.set(drivername="postgresql+psycopg2"), isolation_level="AUTOCOMMIT")
        self.names = {service: f"torget_bench_{service}_{os.getpid()}" for service in SERVICE_NAMES}

    def __enter__(self) -> dict:
        import sqlalchemy

        env = {}
        with self.engine.connect() as connection:
            for service, name in self.names.items():
                connection.execute(sqlalchemy.text(f'DROP DATABASE IF EXISTS "{name}"'))
                connection.execute(sqlalchemy.text(f'CREATE DATABASE "{name}"'))
                url = self.admin_url.set(database=name).render_as_string(hide_password=False)
                env[f"{env_prefix(service)}_DATABASE_URL"] = url
        return env

    def __exit__(self, *exc_info) -> None:
        import sqlalchemy

        with self.engine.connect() as connection:
            for name in self.names.values():
                connection.execute(sqlalchemy.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        self.engine.dispose()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="Measure the whole stack through the gateway and write docs/benchmarks.md.")
    parser.add_argument("--seconds", type=float, default=10.0, help="seconds of load per measurement (default 10)")
    parser.add_argument("--output", default=str(REPO_ROOT / "docs" / "benchmarks.md"), help="the page to write the section to")
    parser.add_argument(
        "--sqlite",
        action="store_true",
        help="keep the services on their SQLite files instead of fresh PostgreSQL databases at TEST_DATABASE_URL",
    )
    parser.add_argument("--var-dir", default=str(REPO_ROOT / "var" / "bench"), help="folder for the stack's files (emptied first)")
    args = parser.parse_args(argv)
    if shutil.which("wrk") is None:
        print("error: wrk is not installed; install it with: apt-get install wrk", file=sys.stderr)
        return 2

    var_dir = Path(args.var_dir)
    shutil.rmtree(var_dir, ignore_errors=True)
    var_dir.mkdir(parents=True)
    amqp_uri = os.environ.get("AMQP_URI", "amqp://guest:guest@127.0.0.1:5672/")
    api_uri = os.environ.get("RABBIT_API_URI", "http://guest:guest@127.0.0.1:15672")
    info = machine()

    admin_url = os.environ.get("TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
    databases = contextlib.nullcontext({}) if args.sqlite else PostgresDatabases(admin_url)
    info["databases"] = "SQLite files" if args.sqlite else "PostgreSQL (one database per service)"

    # The ceiling is measured first, on an idle machine.
    print("(d) the ceiling: a trivial Flask endpoint under gunicorn", flush=True)
    ceiling = {"flask": measure_flask_ceiling(args.seconds, dict(os.environ))}
    print(f"    {ceiling['flask']['ok_per_second']:.0f}/s, p50 {ceiling['flask']['p50_ms']:.1f} ms", flush=True)
    print("(d) the ceiling: a bare nameko RPC round trip", flush=True)
    vhost = Vhost(amqp_uri, api_uri, f"torget_bench_ping_{os.getpid()}")
    vhost.create()
    try:
        ceiling["rpc"] = measure_rpc_ceiling(args.seconds, vhost.amqp_uri)
    finally:
        vhost.delete()
    print(f"    {ceiling['rpc']['serial_per_second']:.0f}/s one at a time, p50 {ceiling['rpc']['serial_p50_ms']:.1f} ms", flush=True)

    print(f"Starting the local stack on {info['databases']} (log: {var_dir / 'stack.log'})", flush=True)
    with databases as database_env, running_stack(
        amqp_uri,
        api_uri,
        var_dir,
        # The bench logs hundreds of people in from one address.
        {"GATEWAY_LOGIN_RATE_LIMIT": "100000 per minute", **database_env},
    ) as stack:
        run_tool(["torget-directory-generate", var_dir / "dump"], stack.env)
        run_tool(["torget-directory-import", "--dump", var_dir / "dump"], stack.env)
        bench = Bench(stack, Municipality(var_dir / "dump"), args.seconds, var_dir)
        print("Waiting for the directory's events to reach the other services", flush=True)
        wait_for_outboxes_drained(bench.gateway, timeout=600)
        bench.measure_reports()
        bench.measure_marks()
        bench.measure_notices()
    bench.results.update(ceiling)

    section = render(bench.results, bench.profiles, info, "make bench")
    write_section(Path(args.output), section)
    print(section)
    return 0


if __name__ == "__main__":
    sys.exit(main())
