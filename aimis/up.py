"""``aimis up``: the whole platform on one machine, in one command, stopped by Ctrl-C.

Start order: migrate the app database (and load the demo into an empty one), then start
the children, each in its own process group:

- ``prefect``: the Prefect server and dashboard, on SQLite under ``<data>/prefect``;
- ``web``: the web app (``aimis serve``), which needs no Prefect;
- ``dispatcher``: the outbox dispatcher (``aimis dispatcher``), which waits for Prefect;
- ``worker``: a worker of the process work pool ``aimis``, running the scheduled
  deployments; once Prefect answers, ``prefect deploy --all`` registers them from
  ``prefect.yaml``.

Restart policy: a child that exits on its own is reported (with the end of its log) and
started again after 1, 2, 4 … 30 s; a child that dies more than ``MAX_RESTARTS`` times in
``RESTART_WINDOW`` seconds makes ``aimis up`` stop everything and exit 1. SIGINT or SIGTERM
stops the children (SIGTERM to each process group, SIGKILL after ``STOP_GRACE`` s), including
anything they started: the supervisor is a child subreaper, so orphaned grandchildren (a
worker's flow runs) come back to it and are ended too. Children get SIGTERM if the
supervisor itself is killed. Exit code 0 after a requested stop.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import hashlib
import logging
import math
import os
import signal
import socket
import sys
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import httpx
import yaml

from kernel.settings import Settings, get_settings

ROOT = Path(__file__).resolve().parent.parent
PREFECT_YAML = ROOT / "prefect.yaml"
WORK_POOL = "aimis"  # the work pool prefect.yaml's deployments name
MAX_RESTARTS = 5
RESTART_WINDOW = 300.0
STOP_GRACE = 10.0
PREFECT_PATIENCE = 120.0  # the banner waits this long for Prefect, the worker forever
PR_SET_PDEATHSIG = 1
PR_SET_CHILD_SUBREAPER = 36


def show(line: str) -> None:
    """A line on the console; a console that went away (closed terminal, broken pipe) must
    not stop the supervisor from supervising or from stopping cleanly."""
    with contextlib.suppress(OSError, ValueError):
        print(line, flush=True)


def say(message: str) -> None:
    show(f"[up] {message}")


def _prctl(option: int, value: int) -> None:
    """Linux process controls; elsewhere a no-op (the process-group stop still works)."""
    with contextlib.suppress(Exception):
        ctypes.CDLL(None, use_errno=True).prctl(option, value, 0, 0, 0)


def _die_with_parent() -> None:  # runs in the child between fork and exec
    _prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (from /proc), children first."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat[stat.rindex(")") + 2 :].split()[1])
        parents.setdefault(ppid, []).append(int(entry.name))
    found, queue = [], [pid]
    while queue:
        for child in parents.get(queue.pop(0), []):
            found.append(child)
            queue.append(child)
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return state[state.rindex(")") + 2] != "Z"


def port_in_use(host: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return True
    return False


async def answers(url: str) -> bool:
    try:
        async with httpx.AsyncClient(timeout=2.0) as client:
            return (await client.get(url)).status_code == 200
    except httpx.HTTPError:
        return False


SPAWNED: set[int] = set()  # our own children, which asyncio waits for (never reap them)


async def spawn(
    args: list[str], env: dict[str, str], out: int | IO[bytes]
) -> asyncio.subprocess.Process:
    """A child in a process group of its own (so a stop reaches all it started)."""
    proc = await asyncio.create_subprocess_exec(
        *args,
        cwd=ROOT,
        env=env,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=out,
        stderr=asyncio.subprocess.STDOUT,
        start_new_session=True,
        preexec_fn=_die_with_parent,
    )
    SPAWNED.add(proc.pid)
    return proc


@dataclass
class Child:
    """One supervised process: its command, where its output goes, its restarts."""

    name: str
    args: list[str]
    log_file: Path | None = None  # None: lines go to the console, prefixed with the name
    proc: asyncio.subprocess.Process | None = None
    deaths: deque[float] = field(default_factory=deque)
    pumps: list[asyncio.Task[None]] = field(default_factory=list)
    tail: deque[str] = field(default_factory=lambda: deque(maxlen=15))

    async def start(self, env: dict[str, str]) -> None:
        if self.log_file is not None:
            with self.log_file.open("ab") as log:
                self.proc = await spawn(self.args, env, log)
        else:
            self.proc = await spawn(self.args, env, asyncio.subprocess.PIPE)
            assert self.proc.stdout is not None
            self.pumps = [asyncio.create_task(self._pump(self.proc.stdout))]

    async def _pump(self, stream: asyncio.StreamReader) -> None:
        async for raw in stream:
            line = raw.decode(errors="replace").rstrip()
            self.tail.append(line)
            show(f"{self.name:<10} | {line}")

    def last_lines(self) -> str:
        if self.log_file is not None and self.log_file.exists():
            lines = self.log_file.read_text(errors="replace").splitlines()[-15:]
        else:
            lines = list(self.tail)
        return "\n".join(f"    {line}" for line in lines)

    async def stop(self) -> None:
        """SIGTERM to the group and everything below, SIGKILL what is left after the grace."""
        proc = self.proc
        if proc is None or proc.returncode is not None:
            return
        tree = descendants(proc.pid)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGTERM)
        for pid in tree:  # a worker's flow runs live in process groups of their own
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGTERM)
        try:
            await asyncio.wait_for(proc.wait(), STOP_GRACE)
        except TimeoutError:
            say(f"{self.name} did not stop in {STOP_GRACE:.0f} s; killing it")
        tree += descendants(proc.pid) if proc.returncode is None else []
        for pid in tree:
            if alive(pid):
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        await proc.wait()
        await asyncio.gather(*self.pumps, return_exceptions=True)


def child_env(settings: Settings, prefect_home: Path) -> dict[str, str]:
    """The children's environment: AIMIS settings as they are, Prefect pointed at ours.
    A ``PREFECT_*`` variable already set (for example a PostgreSQL database URL for the
    Prefect server) is kept."""
    env = dict(os.environ)
    prefect = {
        "PREFECT_HOME": str(prefect_home),
        "PREFECT_API_URL": settings.prefect_api,
        "PREFECT_UI_API_URL": settings.prefect_api,
        "PREFECT_API_DATABASE_CONNECTION_URL": f"sqlite+aiosqlite:///{prefect_home}/prefect.db",
        "PREFECT_SERVER_API_HOST": settings.server.host,
        "PREFECT_SERVER_API_PORT": str(settings.prefect.port),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_SERVER_ALLOW_EPHEMERAL_MODE": "false",
    }
    for key, value in prefect.items():
        env.setdefault(key, value)
    env["PYTHONUNBUFFERED"] = "1"
    return env


class Supervisor:
    def __init__(
        self,
        settings: Settings,
        no_prefect: bool,
        started: float,
        demo_accounts: Callable[[], None] | None,
    ) -> None:
        self.settings = settings
        self.demo_accounts = demo_accounts
        self.data_dir = settings.server.data_dir.resolve()
        self.prefect_home = self.data_dir / "prefect"
        self.env = child_env(settings, self.prefect_home)
        self.stop = asyncio.Event()
        self.failed = False
        self.started = started
        self.restarts: set[asyncio.Task[None]] = set()
        self.stop_requested = 0.0
        prefect_cli = [sys.executable, "-m", "prefect"]
        aimis_cli = [sys.executable, "-m", "aimis.cli"]
        self.children: list[Child] = []
        if not no_prefect:
            self.children.append(
                Child(
                    "prefect",
                    [
                        *prefect_cli,
                        "server",
                        "start",
                        "--host",
                        settings.server.host,
                        "--port",
                        str(settings.prefect.port),
                    ],
                    log_file=self.prefect_home / "server.log",
                )
            )
        self.children.append(Child("web", [*aimis_cli, "serve"]))
        dicom_host = settings.dicom.host or settings.server.host
        if settings.dicom.port and port_in_use(dicom_host, settings.dicom.port):
            say(
                f"port {settings.dicom.port} on {dicom_host} is in use: the DICOM receiver is "
                "not started (set AIMIS_DICOM_PORT, or 0 to go without it)"
            )
        elif settings.dicom.port:
            self.children.append(Child("scp", [*aimis_cli, "scp"]))
        self.dispatcher = Child("dispatcher", [*aimis_cli, "dispatcher"])
        self.worker = Child(
            "worker",
            [
                *prefect_cli,
                "worker",
                "start",
                "--pool",
                WORK_POOL,
                "--type",
                "process",
                "--name",
                f"aimis-{socket.gethostname()}",
            ],
            log_file=self.prefect_home / "worker.log",
        )
        self.deploy_args = [
            *prefect_cli,
            "--no-prompt",
            "deploy",
            "--all",
            "--prefect-file",
            str(PREFECT_YAML),
        ]

    def elapsed(self) -> str:
        return f"{time.monotonic() - self.started:.1f} s"

    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            loop.add_signal_handler(sig, self._on_signal)
        _prctl(PR_SET_CHILD_SUBREAPER, 1)
        self.prefect_home.mkdir(parents=True, exist_ok=True)
        for child in self.children:
            await child.start(self.env)
        watch = asyncio.create_task(self._watch())
        ready = asyncio.create_task(self._bring_up())
        await self.stop.wait()
        for task in (ready, watch, *self.restarts):
            task.cancel()
        await asyncio.gather(ready, watch, *self.restarts, return_exceptions=True)
        await self._stop_all()
        return 1 if self.failed else 0

    def _on_signal(self) -> None:
        # One Ctrl-C often arrives twice (the terminal's and the one `uv run` forwards).
        if self.stop.is_set() and time.monotonic() - self.stop_requested > 1.0:
            say("second signal: killing the children now")
            for child in self.children:
                if child.proc and child.proc.returncode is None:
                    with contextlib.suppress(ProcessLookupError, PermissionError):
                        os.killpg(child.proc.pid, signal.SIGKILL)
            return
        if not self.stop.is_set():
            self.stop_requested = time.monotonic()
            self.stop.set()
            say("stopping (Ctrl-C again kills at once) …")

    async def _wait_until(self, url: str, what: str, within: float = 180) -> bool:
        deadline = time.monotonic() + within
        while time.monotonic() < deadline and not self.stop.is_set():
            if await answers(url):
                say(f"{what} answers ({self.elapsed()})")
                return True
            await asyncio.sleep(0.25)
        if not self.stop.is_set():
            say(f"{what} did not answer at {url} within {within:.0f} s")
        return False

    async def _bring_up(self) -> None:
        api = self.settings.prefect_api.rstrip("/")
        prefect = asyncio.create_task(self._bring_up_prefect(api))
        server = self.settings.server
        host = server.host if server.host not in ("0.0.0.0", "::") else "127.0.0.1"
        local = f"http://{host}:{server.port}"  # not the public URL: a proxy may front it
        web = await self._wait_until(f"{local}/health", "web app")
        # The dispatcher starts after the web app: their imports would share the two cores.
        await self._add(self.dispatcher)
        try:
            await asyncio.wait_for(asyncio.shield(prefect), PREFECT_PATIENCE)
        except TimeoutError:
            say(
                f"the Prefect API at {api} does not answer yet: the web app works without it; "
                "notifications and scheduled work wait until it does"
            )
        if web:
            self._banner()
        await prefect

    async def _bring_up_prefect(self, api: str) -> None:
        """Once the Prefect API answers (however late): the worker, then the deployments."""
        if await self._wait_until(f"{api}/health", "Prefect API", within=math.inf):
            await self._add(self.worker)
            await self._register_deployments(api)

    async def _add(self, child: Child) -> None:
        await child.start(self.env)
        self.children.append(child)

    async def _register_deployments(self, api: str) -> None:
        """``prefect deploy --all``, skipped when prefect.yaml and its flows are unchanged
        since the last registration and the deployments exist."""
        spec = yaml.safe_load(PREFECT_YAML.read_text())
        names = [d["name"] for d in spec.get("deployments", [])]
        digest = hashlib.sha256(str(ROOT).encode() + PREFECT_YAML.read_bytes())
        for d in spec.get("deployments", []):
            digest.update((ROOT / d["entrypoint"].split(":")[0]).read_bytes())
        stamp = self.prefect_home / "deployed.sha256"
        if stamp.exists() and stamp.read_text() == digest.hexdigest():
            async with httpx.AsyncClient(timeout=5) as client:
                found = await client.post(
                    f"{api}/deployments/filter", json={"deployments": {"name": {"any_": names}}}
                )
            if found.status_code == 200 and len(found.json()) == len(names):
                say("scheduled deployments of prefect.yaml unchanged since the last start")
                return
        # `prefect deploy` needs the work pool, which the worker creates when it starts.
        pool = f"{api}/work_pools/{WORK_POOL}"
        while not await answers(pool) and not self.stop.is_set():  # noqa: ASYNC110
            await asyncio.sleep(0.25)
        log_path = self.prefect_home / "deploy.log"
        with log_path.open("wb") as log:
            proc = await spawn(self.deploy_args, self.env, log)
            try:
                code = await proc.wait()
            except asyncio.CancelledError:
                os.killpg(proc.pid, signal.SIGKILL)
                raise
        if code == 0:
            stamp.write_text(digest.hexdigest())
            say(f"scheduled deployments of prefect.yaml registered ({self.elapsed()})")
        else:
            tail = "\n".join(log_path.read_text(errors="replace").splitlines()[-15:])
            say(
                f"registering prefect.yaml failed (exit {code}); scheduled flows will not "
                f"run. {log_path}:\n{tail}"
            )

    def _banner(self) -> None:
        s = self.settings
        dashboard = s.prefect_api.rstrip("/").removesuffix("/api")
        lines = [
            f"AIMIS is up ({self.elapsed()}). Ctrl-C stops everything.",
            f"  Web app            {s.base_url}/login",
            f"  Administrator      {s.base_url}/admin/login",
            f"  Prefect dashboard  {dashboard}",
            *(
                [
                    f"  DICOM receiver     {s.dicom.ae_title}@"
                    f"{s.dicom.host or s.server.host}:{s.dicom.port}"
                ]
                if any(c.name == "scp" for c in self.children)
                else []
            ),
            f"  Data folder        {self.data_dir} (Prefect's logs in {self.prefect_home})",
        ]
        show("\n" + "\n".join(lines))
        if self.demo_accounts:
            with contextlib.suppress(OSError, ValueError):
                self.demo_accounts()

    async def _watch(self) -> None:
        """Restart a child that exited on its own, with backoff; give up if it keeps dying."""
        reaped = time.monotonic()
        while not self.stop.is_set():
            for child in list(self.children):
                proc = child.proc
                if proc is None or proc.returncode is None:
                    continue
                await asyncio.gather(*child.pumps, return_exceptions=True)
                now = time.monotonic()
                child.deaths.append(now)
                while child.deaths and now - child.deaths[0] > RESTART_WINDOW:
                    child.deaths.popleft()
                say(
                    f"{child.name} exited with code {proc.returncode}; its last lines:\n"
                    f"{child.last_lines()}"
                )
                if len(child.deaths) > MAX_RESTARTS:
                    say(
                        f"{child.name} died {len(child.deaths)} times in "
                        f"{RESTART_WINDOW:.0f} s; giving up"
                    )
                    self.failed = True
                    self.stop.set()
                    return
                delay = min(2 ** (len(child.deaths) - 1), 30)
                say(f"restarting {child.name} in {delay} s")
                child.proc = None
                task = asyncio.create_task(self._restart(child, delay))
                self.restarts.add(task)
                task.add_done_callback(self.restarts.discard)
            if time.monotonic() - reaped > 5:
                self._reap_orphans()
                reaped = time.monotonic()
            await asyncio.sleep(0.5)

    async def _restart(self, child: Child, delay: float) -> None:
        await asyncio.sleep(delay)
        if not self.stop.is_set():
            await child.start(self.env)

    def _reap_orphans(self) -> None:
        """Grandchildren whose parent died were handed to us (subreaper): collect them."""
        for pid in descendants(os.getpid()):
            if pid not in SPAWNED and not alive(pid):
                with contextlib.suppress(ChildProcessError, OSError):
                    os.waitpid(pid, os.WNOHANG)

    async def _stop_all(self) -> None:
        # Users' entry points first, the Prefect server last (flows report to it).
        order = ["web", "dispatcher", "scp", "worker", "prefect"]
        children = sorted(self.children, key=lambda c: order.index(c.name))
        for group in (children[:2], children[2:]):
            await asyncio.gather(*(child.stop() for child in group))
        leftovers = descendants(os.getpid())  # orphans handed to us while stopping
        for pid in leftovers:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        if leftovers:
            await asyncio.sleep(0.2)
            self._reap_orphans()
        say(f"stopped; every child has exited ({self.elapsed()})")


async def prepare(settings: Settings) -> Callable[[], None] | None:
    """Migrate, load the demo into an empty database; returns what prints the accounts."""
    from aimis.demo import ALLIANCE, DEMO_PASSWORD, DOCTORS, HOSPITALS, load_demo, print_accounts
    from api.patients.demo import DEMO_PHONE
    from store.db import close_pool, start_pool
    from store.migrate import MigrationFailed, migrate
    from store.tables import Alliance

    try:
        if note := await migrate():
            say(note)
    except MigrationFailed as exc:
        raise SystemExit(str(exc)) from None
    if not settings.server.demo:
        return None
    await start_pool()
    try:
        if await Alliance.count() == 0:
            say("empty database: loading the demo alliance …")
            accounts = await load_demo()
            return lambda: print_accounts(accounts, settings.base_url)
        if not await Alliance.exists().where(Alliance.name == ALLIANCE):
            return None
    finally:
        await close_pool()
    admins = ", ".join(["alliance.admin", *(f"admin.{code.lower()}" for code, *_ in HOSPITALS)])
    doctors = ", ".join(username for username, *_ in DOCTORS)
    return lambda: show(
        f"\nDemo accounts (password {DEMO_PASSWORD}): {admins} at {settings.base_url}/admin/login;"
        f" {doctors} at {settings.base_url}/login; the patient {DEMO_PHONE} (a text-message"
        f" code, shown here) at {settings.base_url}/patient/login\n"
    )


def run_up(no_prefect: bool = False) -> int:
    settings = get_settings()
    if no_prefect and not settings.prefect.api_url:
        say("--no-prefect needs AIMIS_PREFECT_API_URL (the external Prefect API, …/api)")
        return 2
    ports = [("AIMIS_PORT", settings.server.port)]
    if not no_prefect:
        ports.append(("AIMIS_PREFECT_PORT", settings.prefect.port))
    busy = [(name, port) for name, port in ports if port_in_use(settings.server.host, port)]
    for name, port in busy:
        say(f"port {port} on {settings.server.host} is in use (another `aimis up`?): set {name}")
    if busy:
        return 1
    logging.getLogger("httpx").setLevel(logging.WARNING)  # the readiness polls

    started = time.monotonic()
    try:
        accounts = asyncio.run(prepare(settings))
    except SystemExit as exc:
        say(str(exc))
        return 1
    say(f"database ready ({time.monotonic() - started:.1f} s); starting the children")
    return asyncio.run(Supervisor(settings, no_prefect, started, accounts).run())
