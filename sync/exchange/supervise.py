"""Process hygiene for `xcircle exchange serve`: workers die with their supervisor, and a
new `serve` starts only once its port is its own.

Why: with `--workers N > 1`, uvicorn's supervisor binds the port and its worker
processes inherit the listening socket. SIGKILL the supervisor (an OOM kill, `kill -9`,
a crashed container runtime) and the workers live on as orphans, still accepting on the
port. A new `serve` on that port then failed to bind ("address already in use") and
exited, while the orphans, running the old process's code and settings, went on
answering until something killed them: "the port accepted connections, then the next
sync got connection refused". Now each worker asks the kernel to SIGTERM it when its
supervisor dies (uvicorn shuts down gracefully: it closes the listener first and
finishes requests in flight), and `serve` waits for the port to be free, naming the
process that holds it if it stays taken.
"""

from __future__ import annotations

import asyncio
import ctypes
import errno
import logging
import os
import signal
import socket
import sys
import threading
import time
from pathlib import Path

log = logging.getLogger(__name__)

# Set by `serve` for its workers: the pid of the supervisor they must not outlive.
ENV_SUPERVISOR = "XCIRCLE_EXCHANGE_SUPERVISOR_PID"
PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
PORT_WAIT_S = 15.0  # orphans shut down in well under a second; a live server never frees it
TICK_S = 1.0  # how often a serving process looks whether it should stop (uvicorn: 0.1 s)


class PortBusy(Exception):
    """The port stayed taken by another process; the message names it."""


def die_with_supervisor() -> None:
    """In a worker started by `serve`: exit (gracefully, by SIGTERM) when the supervisor
    dies, however it dies. A no-op outside `serve`'s workers."""
    raw = os.environ.get(ENV_SUPERVISOR)
    if not raw or not raw.isdigit():
        return
    supervisor = int(raw)
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0) != 0:
            log.warning("prctl(PR_SET_PDEATHSIG) failed: errno %d", ctypes.get_errno())
            _watch_parent(supervisor)
    else:
        _watch_parent(supervisor)
    # The supervisor may have died before prctl took effect: then nobody will signal us.
    if os.getppid() != supervisor:
        os.kill(os.getpid(), signal.SIGTERM)


def quiet_ticks() -> None:
    """In a serving process (uvicorn's, before its main loop starts): look once a second,
    not ten times, whether to stop.

    uvicorn's `Server.main_loop` sleeps 100 ms between looks at `should_exit` (and
    refreshes its Date header every tenth look). On an idle exchange that was most of
    what a worker did: with the supervisor's health pings, ~20 wake-ups a second and
    ~0.2% of a core per worker, a third of what 200 devices holding waits cost. Here the
    loop sleeps a second between looks and counts each as ten of uvicorn's, so the Date
    header still changes every second; a stop signal starts the shutdown at the next
    look (within a second), and held waits are answered at once regardless
    (`live.chain_stop_on_signals`). Patched on the class because the server object
    exists before the app does; a uvicorn without `main_loop`/`on_tick` is left alone."""
    import uvicorn.server

    server = uvicorn.server.Server
    if getattr(server, "_xcircle_quiet", False) or not (
        hasattr(server, "main_loop") and hasattr(server, "on_tick")
    ):
        return

    async def main_loop(self: uvicorn.server.Server) -> None:
        counter = 0
        should_exit = await self.on_tick(counter)
        while not should_exit:
            counter = (counter + 10) % 864000  # one look stands for ten of uvicorn's
            await asyncio.sleep(TICK_S)
            should_exit = await self.on_tick(counter)

    server.main_loop = main_loop  # type: ignore[method-assign]
    server._xcircle_quiet = True  # type: ignore[attr-defined]


def _watch_parent(supervisor: int) -> None:
    """Portable fallback: poll the parent pid and SIGTERM ourselves once it changes."""

    def watch() -> None:
        while os.getppid() == supervisor:
            time.sleep(1.0)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, name="supervisor-watch", daemon=True).start()


def wait_for_port(host: str, port: int, limit_s: float = PORT_WAIT_S) -> None:
    """Return once `host:port` can be bound (as uvicorn binds it: SO_REUSEADDR, so
    TIME_WAIT leftovers do not count); raise PortBusy naming the holder after `limit_s`."""
    deadline = time.monotonic() + limit_s
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    while True:
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind((host, port))
                return
            except OSError as exc:
                if exc.errno != errno.EADDRINUSE:
                    raise PortBusy(f"cannot bind {host}:{port}: {exc.strerror}") from None
        if time.monotonic() >= deadline:
            holders = ", ".join(f"{pid} ({_cmdline(pid)})" for pid in port_holders(port))
            who = f" by process {holders}" if holders else ""
            raise PortBusy(f"port {port} is still in use{who}; stop it first or pick --port")
        time.sleep(0.1)


def port_holders(port: int) -> list[int]:
    """Pids of the processes holding a TCP socket listening on `port` (Linux /proc; empty
    elsewhere or when their descriptors are not ours to read)."""
    inodes: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            local, state, inode = fields[1], fields[3], fields[9]
            if state == "0A" and int(local.rsplit(":", 1)[1], 16) == port:
                inodes.add(f"socket:[{inode}]")
    if not inodes:
        return []
    pids = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            fds = list((proc / "fd").iterdir())
        except OSError:
            continue
        for fd in fds:
            try:
                if os.readlink(fd) in inodes:
                    pids.append(int(proc.name))
                    break
            except OSError:
                continue
    return sorted(pids)


def _cmdline(pid: int) -> str:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return "?"
    return raw.replace(b"\0", b" ").decode(errors="replace").strip()[:80]
