"""The web server as a user meets it: ``akarom serve`` under load on loopback, and the
public page's weight.

The server is started as an operator starts it, ``akarom serve --port N``, as its own
process with its settings in the environment (a data folder of its own, the carriers
pointed at the sandbox, a generous ``AKAROM_RATE_LIMIT``). A dealer and an API key are
made with the CLI (``akarom dealer create``, the password on standard input;
``akarom apikey create``, the key on its last line), and every device of the run is
checked once through the API (``POST /api/v1/checks``), so that the answers are in the
store and the dealer has checked each device.

Then ``wrk`` (Debian's package; installed with ``apt-get`` when missing and possible)
loads two requests, each at several connection counts, rotating over those devices:

* ``GET /api/v1/devices/{imei}``: a device's latest check and history, from the store;
* ``POST /api/v1/checks`` with ``{"imei": ...}``: a check answered from the store (the
  answers are within the cache window), as an integration re-checking its stock does.

A small Lua script adds the ``Authorization`` header, the JSON bodies and the rotating
IMEIs, and prints requests, errors and latency percentiles as one JSON line. The
server's own counters (``/metrics``, by route and status) tell how many answers were
not 2xx; the sandbox's counters prove that no carrier was asked during the load. The
server's CPU comes from ``/proc/<pid>/stat`` around each run, wrk's from ``wait4``,
and the rest of the machine's from ``/proc/stat``: server and load generator share the
machine's cores, so a figure here is a floor for what the server does on its own.

The page: ``GET /`` and every resource it references (``<link>``, ``<script>``,
``<img>`` and the like, and ``url()``/``@import`` in its style sheets), fetched once
as is (``Accept-Encoding: identity``) and once as a browser asks (``gzip``), summed;
and every reference to another host, which must be none.
"""

from __future__ import annotations

import gzip
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from types import TracebackType
from urllib.parse import urljoin, urlsplit

import httpx
from prometheus_client.parser import text_string_to_metric_families

from bench._fleet import SKEWED_SHARES, Fleet, scenario_devices
from bench._machine import _busy_seconds
from bench._process import AKAROM, answers_soon, environment
from bench._report import Outcome, markdown_table
from bench._sandbox import Sandbox, akarom_env

__all__ = ["NAME", "TITLE", "run"]

NAME = "web"
TITLE = "Web server under load: cached device and check over the REST API; the public page"

DEVICES, QUICK_DEVICES = 300, 40
CONNECTIONS, QUICK_CONNECTIONS = (16, 64), (16,)
SECONDS, QUICK_SECONDS = 10, 3
#: One wrk thread: on two cores it leaves the other core to the server, which is one
#: Python process (one core's worth at most); one wrk thread drives tens of thousands
#: of requests per second, far more than the server answers.
WRK_THREADS = 1
RATE_GOAL = 1000.0
P99_GOAL_MS = 50.0
PAGE_GOAL_KB = 100.0
#: The per-key limit of the API, set far above what the load reaches, so that a 429
#: never spoils a figure. Per second, not per minute: the moving window keeps one entry
#: per request in its window, so a second's worth stays as small as a real limit's.
KEY_LIMIT_VARIABLE = "AKAROM_API_KEY_LIMIT"
KEY_LIMIT = "1000000/second"
DEALER, ADMIN, PASSWORD = "bench-dealer", "bench@example.com", "bench-password-123"
DEVICE_PATH = "/api/v1/devices/{imei}"
CHECK_PATH = "/api/v1/checks"
HEALTH_PATH = "/healthz"
#: What each load asks: its label, its request line, the route the server counts it under.
REQUESTS = (
    ("device", f"GET {DEVICE_PATH}", DEVICE_PATH),
    ("check", f"POST {CHECK_PATH}", CHECK_PATH),
    # No goal: the HTTP stack alone (uvicorn, middleware, access log), for comparison.
    ("health", f"GET {HEALTH_PATH}", HEALTH_PATH),
)
LINES = {label: line for label, line, _ in REQUESTS}


@dataclass(frozen=True, slots=True)
class Load:
    """One wrk run: what it loaded and what it measured."""

    label: str
    route: str
    connections: int
    seconds: float
    requests: int
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    #: Connect, read, write and timeout errors seen by wrk (not statuses).
    socket_errors: int
    #: Answers with a status of 400 or more, as wrk counts them.
    wrk_refused: int
    #: Answers by status, counted by the server itself (``/metrics``) for the route.
    statuses: Mapping[str, int]
    server_cpu_s: float
    #: The part of it in the thread that runs the event loop (the rest: worker threads,
    #: where ``asyncio.to_thread`` sends the database calls).
    loop_cpu_s: float
    wrk_cpu_s: float
    machine_cpu_s: float | None

    @property
    def rate(self) -> float:
        return self.requests / self.seconds

    @property
    def not_2xx(self) -> int:
        """The server's count, or wrk's when it saw more (a route the counters missed)."""
        counted = sum(n for status, n in self.statuses.items() if not status.startswith("2"))
        return max(counted, self.wrk_refused)

    @property
    def others_cpu_s(self) -> float | None:
        if self.machine_cpu_s is None:
            return None
        return max(0.0, self.machine_cpu_s - self.server_cpu_s - self.wrk_cpu_s)

    @property
    def met(self) -> bool:
        return (
            self.rate >= RATE_GOAL
            and self.p99_ms <= P99_GOAL_MS
            and self.not_2xx == 0
            and self.socket_errors == 0
        )


@dataclass(frozen=True, slots=True)
class Resource:
    """One thing the page makes a browser fetch (or the page itself)."""

    url: str
    kind: str
    status: int
    identity_bytes: int
    #: Body bytes on the wire when the browser accepts gzip; the encoding the server used.
    wire_bytes: int
    encoding: str
    #: What gzip -6 would make of it (when the server sent it uncompressed).
    gzip_bytes: int


@dataclass(frozen=True, slots=True)
class PageWeight:
    resources: Sequence[Resource]
    #: What the page makes a browser fetch from another host (must be none).
    other_hosts: Sequence[str]
    #: Links and forms leading to other hosts: followed only when a person chooses to.
    links: Sequence[str]
    csp: str | None

    @property
    def total(self) -> int:
        return sum(r.identity_bytes for r in self.resources)

    @property
    def wire(self) -> int:
        return sum(r.wire_bytes for r in self.resources)

    @property
    def gzip_total(self) -> int:
        return sum(r.gzip_bytes for r in self.resources)

    @property
    def compressed(self) -> bool:
        return any(r.encoding not in ("", "identity") for r in self.resources)


@dataclass
class Warmed:
    imeis: list[str]
    seconds: float
    verdicts: dict[str, int] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)


def run(quick: bool, workdir: Path) -> Outcome:
    began = time.monotonic()
    wrk = _ensure_wrk()
    count = QUICK_DEVICES if quick else DEVICES
    seconds = QUICK_SECONDS if quick else SECONDS
    connections = QUICK_CONNECTIONS if quick else CONNECTIONS
    devices = Fleet(seed=2026).devices(count, shares=SKEWED_SHARES)
    scenario = {"seed": 7, "default": "unregistered", "devices": scenario_devices(devices)}
    with Sandbox(scenario, workdir) as sandbox:
        settings = {
            **akarom_env(sandbox.url, workdir / "data", rate_limit=1000, concurrency=8),
            KEY_LIMIT_VARIABLE: KEY_LIMIT,
        }
        _cli(["dealer", "create", DEALER, "--admin", ADMIN], settings, stdin=PASSWORD + "\n")
        key = _cli(["apikey", "create", "--dealer", DEALER, "--label", "bench"], settings)
        key = key.strip().splitlines()[-1].strip()
        with Server(settings, workdir) as server:
            warmed = _warm(server.url, key, [d.imei for d in devices])
            print(
                f"warmed {len(warmed.imeis)} devices in {warmed.seconds:.1f} s "
                f"({', '.join(f'{v} {n}' for v, n in sorted(warmed.verdicts.items()))})"
                + (
                    f"; {len(warmed.failures)} failed: {warmed.failures[0]}"
                    if warmed.failures
                    else ""
                ),
                flush=True,
            )
            sandbox.reset()
            scripts = _scripts(workdir, key, warmed.imeis)
            # Not counted: the first requests of a new process (imports, caches, the JIT of
            # nothing but the interpreter's own warm caches) and wrk's first connections.
            _load(wrk, server, scripts["device"], "warm-up", DEVICE_PATH, 16, 2)
            _load(wrk, server, scripts["check"], "warm-up", CHECK_PATH, 16, 2)
            loads = []
            for label, _, route in REQUESTS:
                for n in connections:
                    measured = _load(wrk, server, scripts[label], label, route, n, seconds)
                    loads.append(measured)
                    _print(measured)
            asked = sum(s.requests for s in sandbox.stats().values())
            weight = _page_weight(server.url)
            _print_weight(weight)
    body = _body(warmed, loads, asked, weight, seconds)
    return Outcome(NAME, TITLE, body, time.monotonic() - began)


# --- the server and the CLI ---------------------------------------------------------


def _free_port() -> int:
    with socket.create_server(("127.0.0.1", 0)) as probe:
        port: int = probe.getsockname()[1]
        return port


class Server:
    """``with Server(settings, folder) as server:`` — ``akarom serve`` on a free loopback port."""

    def __init__(self, settings: Mapping[str, str], folder: Path) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.settings = dict(settings)
        self.log_path = folder / "serve.log"
        self._process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Server:
        with self.log_path.open("wb") as log:
            self._process = subprocess.Popen(
                [AKAROM, "serve", "--port", str(self.port)],
                env=environment(self.settings),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        if answers_soon(
            lambda: httpx.get(self.url + "/healthz", timeout=5).raise_for_status(), self._process
        ):
            return self
        self.__exit__(None, None, None)
        raise RuntimeError(f"akarom serve did not start:\n{self.log_tail()}")

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._process is None:
            return
        self._process.send_signal(signal.SIGINT)  # uvicorn's graceful stop, as Ctrl-C
        try:
            self._process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()

    @property
    def pid(self) -> int:
        assert self._process is not None
        return self._process.pid

    def cpu_seconds(self) -> tuple[float, float]:
        """User + system CPU of the server process so far: all its threads, and its main
        thread's alone (the event loop's: uvicorn runs the loop in the main thread)."""
        return _cpu(Path(f"/proc/{self.pid}/stat")), _cpu(
            Path(f"/proc/{self.pid}/task/{self.pid}/stat")
        )

    def statuses(self, route: str) -> dict[str, int]:
        """Answers so far on ``route``, by status, from the server's own counters."""
        text = httpx.get(self.url + "/metrics", timeout=30).text
        counts: dict[str, int] = {}
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if sample.name == "akarom_http_requests_total" and (
                    sample.labels.get("route") == route
                ):
                    status = sample.labels["status"]
                    counts[status] = counts.get(status, 0) + int(sample.value)
        return counts

    def log_tail(self, lines: int = 20) -> str:
        text = self.log_path.read_text(encoding="utf-8", errors="replace")
        return "\n".join(text.splitlines()[-lines:])


def _cpu(stat: Path) -> float:
    """User + system seconds from a ``/proc`` ``stat`` file."""
    after_name = stat.read_text(encoding="ascii").rsplit(")", 1)[1].split()
    return (int(after_name[11]) + int(after_name[12])) / os.sysconf("SC_CLK_TCK")


def _cli(arguments: Sequence[str], settings: Mapping[str, str], *, stdin: str = "") -> str:
    """Run ``akarom ARGUMENTS`` as an operator would; its standard output."""
    done = subprocess.run(
        [AKAROM, *arguments],
        env=environment(settings),
        input=stdin,
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=120,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(
            f"akarom {' '.join(arguments)} exited {done.returncode}:\n{done.stdout}{done.stderr}"
        )
    return done.stdout


def _warm(url: str, key: str, imeis: Sequence[str]) -> Warmed:
    """One ``POST /api/v1/checks`` per device (8 at once): the answers go into the store."""
    began = time.monotonic()
    warmed = Warmed([], 0.0)
    headers = {"Authorization": f"Bearer {key}"}
    with httpx.Client(base_url=url, headers=headers, timeout=120) as client:

        def check(imei: str) -> tuple[str, str | None, str]:
            response = client.post(CHECK_PATH, json={"imei": imei})
            if response.status_code != 200:
                return imei, None, f"{response.status_code} {response.text[:200]}"
            return imei, str(response.json().get("verdict")), ""

        with ThreadPoolExecutor(8) as pool:
            for imei, verdict, problem in pool.map(check, imeis):
                if verdict is None:
                    warmed.failures.append(f"{imei}: {problem}")
                    continue
                warmed.imeis.append(imei)
                warmed.verdicts[verdict] = warmed.verdicts.get(verdict, 0) + 1
        # Every device must now be the dealer's: a 404 here would make the load measure 404s.
        for imei in warmed.imeis[:5]:
            client.get(DEVICE_PATH.format(imei=imei)).raise_for_status()
    if not warmed.imeis:
        raise RuntimeError("no device could be checked through the API:\n" + warmed.failures[0])
    warmed.seconds = time.monotonic() - began
    return warmed


# --- wrk ------------------------------------------------------------------------------


def _ensure_wrk() -> str:
    """wrk's path; installed from Debian's package with apt-get when missing and possible."""
    found = shutil.which("wrk")
    if found:
        return found
    apt = shutil.which("apt-get")
    as_root: list[str] = []
    if os.geteuid() != 0 and shutil.which("sudo"):
        as_root = ["sudo", "-n"]
    if apt and (os.geteuid() == 0 or as_root):
        print("wrk is missing: installing Debian's package with `apt-get install -y wrk`")
        quiet = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        for command in (["update", "-qq"], ["install", "-y", "-qq", "wrk"]):
            subprocess.run([*as_root, apt, *command], env=quiet, capture_output=True, check=False)
        found = shutil.which("wrk")
        if found:
            return found
    raise RuntimeError(
        "the web benchmark needs the load generator wrk (https://github.com/wg/wrk), which is "
        "not installed and could not be installed here: `sudo apt-get install wrk` on "
        "Debian/Ubuntu, `brew install wrk` on macOS; then run the benchmark again"
    )


_LUA = """\
-- Written by bench/web.py: rotating IMEIs, the API key, one JSON line at the end.
local imeis = {%(imeis)s}
local headers = {
  ["Authorization"] = "Bearer %(key)s",
  ["Accept"] = "application/json",
  ["Content-Type"] = "application/json",
}
local next_one = 0
local threads = {}

function setup(thread)
  thread:set("start", #threads * 7919)
  table.insert(threads, thread)
end

function init(args)
  next_one = start or 0
end

function request()
  next_one = next_one + 1
  local imei = imeis[(next_one %% #imeis) + 1]
  %(request)s
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRK_JSON {"requests": %%d, "duration_us": %%d, "connect": %%d, "read": %%d, ' ..
    '"write": %%d, "timeout": %%d, "status": %%d, "p50_us": %%d, "p90_us": %%d, ' ..
    '"p99_us": %%d, "max_us": %%d}\\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.timeout, e.status,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
end
"""

_REQUESTS = {
    "device": 'return wrk.format("GET", "/api/v1/devices/" .. imei, headers)',
    "health": 'return wrk.format("GET", "/healthz", headers)',
    "check": (
        'return wrk.format("POST", "/api/v1/checks", headers, \'{"imei": "\' .. imei .. \'"}\')'
    ),
}


def _scripts(folder: Path, key: str, imeis: Sequence[str]) -> dict[str, Path]:
    scripts = {}
    listed = ", ".join(f'"{imei}"' for imei in imeis)
    for label, request in _REQUESTS.items():
        path = folder / f"{label}.lua"
        path.write_text(_LUA % {"imeis": listed, "key": key, "request": request}, encoding="utf-8")
        scripts[label] = path
    return scripts


def _load(
    wrk: str,
    server: Server,
    script: Path,
    label: str,
    route: str,
    connections: int,
    seconds: float,
) -> Load:
    """One wrk run of ``seconds`` against ``server``, with the server's CPU and statuses."""
    before = server.statuses(route)
    server_cpu = server.cpu_seconds()
    machine_cpu = _busy_seconds()
    output = script.with_suffix(".out")
    with output.open("wb") as sink:
        process = subprocess.Popen(
            [
                wrk,
                f"--threads={WRK_THREADS}",
                f"--connections={connections}",
                f"--duration={seconds:g}s",
                "--timeout=10s",
                f"--script={script}",
                server.url,
            ],
            stdin=subprocess.DEVNULL,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
        _, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
    machine_after = _busy_seconds()
    server_after = server.cpu_seconds()
    after = server.statuses(route)
    text = output.read_text(encoding="utf-8", errors="replace")
    line = next((ln for ln in text.splitlines() if ln.startswith("WRK_JSON ")), None)
    if process.returncode != 0 or line is None:
        raise RuntimeError(f"wrk exited {process.returncode}:\n{text}")
    figures = json.loads(line.removeprefix("WRK_JSON "))
    statuses = {s: after.get(s, 0) - before.get(s, 0) for s in after}
    if sum(statuses.values()) < figures["requests"]:
        print(f"warning: the server counted {sum(statuses.values())} answers on {route}")
    return Load(
        label=label,
        route=route,
        connections=connections,
        seconds=figures["duration_us"] / 1e6,
        requests=figures["requests"],
        p50_ms=figures["p50_us"] / 1000,
        p90_ms=figures["p90_us"] / 1000,
        p99_ms=figures["p99_us"] / 1000,
        max_ms=figures["max_us"] / 1000,
        socket_errors=sum(figures[k] for k in ("connect", "read", "write", "timeout")),
        wrk_refused=figures["status"],
        statuses={s: n for s, n in statuses.items() if n},
        server_cpu_s=server_after[0] - server_cpu[0],
        loop_cpu_s=server_after[1] - server_cpu[1],
        wrk_cpu_s=usage.ru_utime + usage.ru_stime,
        machine_cpu_s=(
            machine_after - machine_cpu
            if machine_after is not None and machine_cpu is not None
            else None
        ),
    )


def _print(m: Load) -> None:
    print(
        f"{m.label} ({m.route}), {m.connections} connections: {m.rate:,.0f} req/s, "
        f"p50 {m.p50_ms:.1f} ms, p99 {m.p99_ms:.1f} ms, max {m.max_ms:.0f} ms; "
        f"statuses {dict(m.statuses)}, socket errors {m.socket_errors}; server CPU "
        f"{m.server_cpu_s * 1e6 / max(m.requests, 1):,.0f} µs/request "
        f"(event loop's thread {m.loop_cpu_s * 1e6 / max(m.requests, 1):,.0f} µs) "
        f"({m.server_cpu_s / m.seconds:.2f} cores), wrk {m.wrk_cpu_s / m.seconds:.2f} cores, "
        f"others {_cores(m.others_cpu_s, m.seconds)}",
        flush=True,
    )


def _cores(cpu_s: float | None, seconds: float) -> str:
    return "?" if cpu_s is None else f"{cpu_s / seconds:.2f} cores"


# --- the page's weight ------------------------------------------------------------------

#: The ``rel`` values of ``<link>`` that make a browser fetch the target.
_FETCHED_RELS = {
    "stylesheet",
    "icon",
    "shortcut",
    "apple-touch-icon",
    "preload",
    "modulepreload",
    "manifest",
    "mask-icon",
}
_CSS_URL = re.compile(r"""url\(\s*['"]?([^'")]+)['"]?\s*\)|@import\s+['"]([^'"]+)['"]""")
#: An absolute URL in a script: what it could fetch from another host.
_ABSOLUTE = re.compile(r"""https?://[A-Za-z0-9.-]+[^\s'"`<>)]*""")
#: Namespace names are identifiers written as URLs (SVG, XHTML), never fetched.
_NAMESPACES = ("http://www.w3.org/",)


class _References(HTMLParser):
    """What an HTML page makes a browser fetch (src, srcset, fetched ``<link>``s), and
    where its links and forms lead (not fetched, but listed)."""

    _WITH_SOURCE = frozenset(
        {"script", "img", "source", "video", "audio", "iframe", "embed", "object", "input", "track"}
    )

    def __init__(self) -> None:
        super().__init__()
        self.fetched: list[tuple[str, str]] = []  # (kind, url)
        self.links: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name: value or "" for name, value in attrs}
        if tag == "link":
            rels = set(values.get("rel", "").lower().split())
            if rels & _FETCHED_RELS and values.get("href"):
                self.fetched.append(("/".join(sorted(rels & _FETCHED_RELS)), values["href"]))
            elif values.get("href"):
                self.links.append(values["href"])
            return
        if tag in ("a", "area") and values.get("href"):
            self.links.append(values["href"])
        if tag == "form" and values.get("action"):
            self.links.append(values["action"])
        if tag in self._WITH_SOURCE:
            for name in ("src", "poster", "data"):
                if values.get(name):
                    self.fetched.append((tag, values[name]))
            for candidate in values.get("srcset", "").split(","):
                if candidate.strip():
                    self.fetched.append((tag, candidate.split()[0]))


def _fetch(client: httpx.Client, url: str, kind: str) -> tuple[Resource, bytes, httpx.Headers]:
    plain = client.get(url, headers={"Accept-Encoding": "identity"})
    with client.stream("GET", url, headers={"Accept-Encoding": "gzip, deflate"}) as wire:
        wire_bytes = sum(len(chunk) for chunk in wire.iter_raw())
        encoding = wire.headers.get("content-encoding", "")
    resource = Resource(
        url=url,
        kind=kind,
        status=plain.status_code,
        identity_bytes=len(plain.content),
        wire_bytes=wire_bytes,
        encoding=encoding,
        gzip_bytes=len(gzip.compress(plain.content, compresslevel=6)),
    )
    return resource, plain.content, plain.headers


def _page_weight(base: str) -> PageWeight:
    """``/`` and everything it makes a browser fetch, as a first visit fetches them."""
    host = urlsplit(base).netloc
    resources: list[Resource] = []
    other_hosts: list[str] = []
    with httpx.Client(timeout=30, follow_redirects=True) as client:
        page, html, headers = _fetch(client, base + "/", "page")
        resources.append(page)
        parser = _References()
        parser.feed(html.decode("utf-8", errors="replace"))
        queue = [(kind, urljoin(base + "/", url)) for kind, url in parser.fetched]
        seen = {base + "/"}
        while queue:
            kind, url = queue.pop(0)
            if url in seen or url.startswith("data:"):
                continue
            seen.add(url)
            if urlsplit(url).netloc != host:
                other_hosts.append(url)
                continue
            resource, content, _ = _fetch(client, url, kind)
            resources.append(resource)
            text = content.decode("utf-8", errors="replace")
            name = url.rsplit("/", 1)[-1]
            if "stylesheet" in kind or url.endswith(".css"):
                queue += [(f"from {name}", urljoin(url, a or b)) for a, b in _CSS_URL.findall(text)]
            elif kind == "script" or url.endswith(".js"):
                other_hosts += [
                    f"{absolute} (in {name})"
                    for absolute in _ABSOLUTE.findall(text)
                    if urlsplit(absolute).netloc != host and not absolute.startswith(_NAMESPACES)
                ]
    links = sorted(
        {
            target
            for link in parser.links
            if urlsplit(target := urljoin(base + "/", link)).netloc not in (host, "")
        }
    )
    return PageWeight(resources, other_hosts, links, headers.get("content-security-policy"))


def _print_weight(w: PageWeight) -> None:
    print(
        f"public page: {len(w.resources)} files, {w.total / 1000:.1f} kB as is, "
        f"{w.wire / 1000:.1f} kB on the wire"
        + (
            ""
            if w.compressed
            else f" (not compressed; gzip would make {w.gzip_total / 1000:.1f} kB)"
        )
        + f"; references to other hosts: {len(w.other_hosts)}",
        flush=True,
    )


# --- the doc ------------------------------------------------------------------------------


def _cpu_per_request(loads: Sequence[Load], label: str) -> float | None:
    mine = [m.server_cpu_s / m.requests for m in loads if m.label == label and m.requests]
    return statistics.median(mine) if mine else None


def _body(
    warmed: Warmed, loads: Sequence[Load], asked: int, weight: PageWeight, seconds: float
) -> str:
    rows = [
        [
            f"`{LINES[m.label]}`" + (" (baseline)" if m.label == "health" else ""),
            m.connections,
            f"**{m.rate:,.0f}**",
            f"**{m.p50_ms:.1f} ms**",
            f"**{m.p99_ms:.1f} ms**",
            f"{m.max_ms:,.0f} ms",
            f"**{m.not_2xx + m.socket_errors}**",
            "–" if m.label == "health" else "met" if m.met else "**missed**",
            f"{m.server_cpu_s * 1e6 / max(m.requests, 1):,.0f} µs",
            f"{m.loop_cpu_s * 1e6 / max(m.requests, 1):,.0f} µs",
            f"{m.server_cpu_s / m.seconds:.2f}",
            f"{m.wrk_cpu_s / m.seconds:.2f}",
            _cores(m.others_cpu_s, m.seconds).removesuffix(" cores"),
        ]
        for m in loads
    ]
    table = markdown_table(
        [
            "request",
            "connections",
            "**requests/s**",
            "**p50**",
            "**p99**",
            "max",
            "**not 2xx**",
            "goal",
            "server CPU / request",
            "of which event loop",
            "server cores",
            "wrk cores",
            "other processes' cores",
        ],
        rows,
    )
    statuses = "; ".join(
        f"{m.label} × {m.connections}: "
        + ", ".join(f"{n:,} × {s}" for s, n in sorted(m.statuses.items()))
        for m in loads
    )
    cached = (
        "none: every answer came from the store"
        if asked == 0
        else f"**{asked}: the load was not answered from the store alone**"
    )
    ceilings = "; ".join(
        f"`{line}` {cpu * 1e6:,.0f} µs, at most ≈ {1 / cpu:,.0f} requests/s"
        for label, line, _ in REQUESTS
        if (cpu := _cpu_per_request(loads, label)) is not None
    )
    files = markdown_table(
        ["file", "status", "as is", "on the wire (Accept-Encoding: gzip)", "gzip -6 would be"],
        [
            [
                f"`{urlsplit(r.url).path}` ({r.kind})",
                r.status,
                f"{r.identity_bytes:,} B",
                f"{r.wire_bytes:,} B" + (f" ({r.encoding})" if r.encoding else ""),
                f"{r.gzip_bytes:,} B",
            ]
            for r in weight.resources
        ]
        + [
            [
                "**total**",
                "",
                f"**{weight.total:,} B**",
                f"**{weight.wire:,} B**",
                f"{weight.gzip_total:,} B",
            ]
        ],
    )
    kb = weight.wire / 1000
    page_met = kb <= PAGE_GOAL_KB and not weight.other_hosts
    others = (
        "**none**"
        if not weight.other_hosts
        else "**" + ", ".join(f"`{u}`" for u in weight.other_hosts) + "**"
    )
    compression = (
        "The server compresses what it sends."
        if weight.compressed
        else "The server sends everything uncompressed (no `Content-Encoding`); the last column "
        "is what gzip would make of it."
    )
    verdicts = "verdicts " + ", ".join(f"{v} {n}" for v, n in sorted(warmed.verdicts.items()))
    links = ", ".join(f"`{u}`" for u in weight.links) or "none"
    failures = (
        f" {len(warmed.failures)} checks failed and were left out: {warmed.failures[0]}."
        if warmed.failures
        else ""
    )
    return f"""\
`akarom serve --port N` as its own process (its own data folder, SQLite, the carriers
pointed at the sandbox in another process); a dealer and an API key made with `akarom
dealer create` and `akarom apikey create`; {len(warmed.imeis)} devices of the skewed mix
checked once each through `POST {CHECK_PATH}` beforehand ({warmed.seconds:.0f} s;
{verdicts}).{failures}
Then [wrk](https://github.com/wg/wrk) on loopback ({WRK_THREADS} thread, {seconds:g} s a row,
after 2 s of each request not counted), each request for the next of those devices, with
the key in `Authorization: Bearer`: `GET {DEVICE_PATH}` (the device's latest check and
history) and `POST {CHECK_PATH}` with `{{"imei": ...}}` (answered from the store: within
the cache window), and `GET {HEALTH_PATH}` as the baseline (the HTTP stack alone). The
per-key limit is set out of reach (`{KEY_LIMIT_VARIABLE}={KEY_LIMIT}`) so that no answer
is a 429; every other setting is the default. Carrier requests during the load: {cached}.

**The server, wrk and whatever else runs share the machine's cores** (the last column):
the server is one Python process, so at most one core's worth (on SQLite the short reads
run on the event loop: a hop to a worker thread cost more than the read, see
`services/_reading.py`). wrk keeps every connection busy (a closed loop),
so latency grows with the connections: mean latency ≈ connections ÷ requests/s (64
connections at 1,000 requests/s wait 64 ms each). Goals: ≥ {RATE_GOAL:,.0f} requests/s,
p99 ≤ {P99_GOAL_MS:g} ms, no answer but 2xx.

{table}

"Not 2xx" is the server's own count of answers by status on the route (`/metrics`), or
wrk's count of 4xx/5xx if higher, plus wrk's socket errors (connect, read, write,
timeout). Answers by status: {statuses}.

Server CPU is user + system time from `/proc/<pid>/stat` around each run; "of which event
loop" is the main thread's part (`/proc/<pid>/task/<pid>/stat`: uvicorn, the middleware,
FastAPI, the JSON, the SQLite reads), the rest is worker threads (writes; reads on a
database server). Per request, at the median over the connection counts, and what one
core given wholly to the server could answer at that cost: {ceilings}.

**Why the goal is missed, and what would meet it.** One server process answers a cached
device in ≈ 1.7 ms of CPU and uses one core while the machine's second stays idle;
the goal needs either ≈ 1 ms per request or a second process. Where the 1.7 ms went
(py-spy under this load): Starlette/FastAPI routing, dependencies and the four
middleware layers ≈ 35 %, the SQLAlchemy read (connection, BEGIN, two statements,
COMMIT) ≈ 25 %, advice ≈ 4 %, the access log ≈ 4 %, JSON and the response ≈ 5 %.
Already taken (from 3.5 ms and ≈ 300 requests/s): one read transaction instead of four,
reads on the event loop on SQLite, a pool as large as the thread pool, httptools,
no session cookie work on the API, API keys remembered for 5 s. A second
`serve` process on one database needs what the scale-out issue brings (jobs claimed
with a lease, the per-key and per-address limits and the metrics in a shared backend),
so it is not offered yet. At 64 connections the p99 is bound by the closed loop
(64 ÷ requests/s). uvloop was tried and left out: when 64 connections opened at once,
the first requests of some waited ≈ 1.5 s while others were served again and again
(p99 ≈ 2 s at 64 connections; asyncio's own loop with httptools: ≈ 0.2 s).

**The public page** (`GET /`, Japanese) and every file it makes a browser fetch
(`<link rel=stylesheet|icon|…>`, `<script src>`, `<img src|srcset>` and the like, and
`url()`/`@import` in its style sheets), each fetched once: **{kb:.1f} kB** on the wire in
{len(weight.resources)} files (goal ≤ {PAGE_GOAL_KB:g} kB and no request to another host:
{"met" if page_met else "**missed**"}). Fetched from other hosts (the page's references,
its style sheets' `url()`s, absolute URLs in its scripts): {others}. {compression}
Links and forms to other hosts (followed only when a person chooses): {links}.
The page's Content-Security-Policy: `{weight.csp or "none"}`.

{files}
"""
