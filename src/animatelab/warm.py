"""Warm stage start-up: import torch, diffusers and MLflow once; run every stage as a fork of that process.

A stage process spends ~6 s importing torch, diffusers and MLflow before it computes, and the default
study starts ~70 of them (``reports/bench/startup.json``). ``python -m animatelab.warm -- dvc repro``
(what ``make repro`` runs) starts a server that imports them once and then runs the command with
``ANIMATELAB_WARM`` naming the server's socket. Each ``animatelab <stage>`` the command starts hands its
argv, cwd, environment and stdio to the server, which forks a child that runs the stage through
``animatelab.cli.main`` exactly as the stage's own process would, and reports its exit status back. DVC sees
an ordinary command: same outputs, same exit codes, output on the same terminal.

This is the zygote / fork-server pattern. ``multiprocessing``'s forkserver only starts callables of the
program that owns it, not independent command lines, so this small one is written here.

A stage runs cold (in its own process, as without a server) whenever the warm one could differ: the
package's files changed after the server imported them, or an environment variable read at import time
(thread counts, allocator, hash seed, module paths) differs from the server's. Each child starts with the
RNG state of a fresh interpreter (torch's fixed default seed, freshly seeded ``random``/NumPy).
"""

from __future__ import annotations

import atexit
import contextlib
import dataclasses
import gc
import io
import json
import os
import select
import signal
import socket
import subprocess
import sys
import tempfile
import traceback
from collections.abc import Iterator
from typing import Any

from animatelab.warm_client import HEADER, SOCKET_ENV, code_identity, import_time_env, why_cold

PRELOAD = (
    "torch", "numpy", "einops", "safetensors.torch", "diffusers", "transformers", "peft", "accelerate", "mlflow",
    "mlflow.tracking", "mlflow.store.tracking.sqlalchemy_store", "animatelab.config", "animatelab.tracking",
)


# ---------------------------------------------------------------------------------------------- server
def _recv_request(conn: socket.socket) -> tuple[dict[str, Any], list[int]]:
    head, fds, _flags, _addr = socket.recv_fds(conn, HEADER.size, 3)
    (size,) = HEADER.unpack(head)
    body = bytearray()
    while len(body) < size:
        chunk = conn.recv(size - len(body))
        if not chunk:
            raise ConnectionError("client closed the request early")
        body += chunk
    return json.loads(body), fds


def _child(request: dict[str, Any], fds: list[int], rng: dict[str, Any], set_by_imports: dict[str, str]) -> None:
    """In the forked child: become the stage's process, run it, exit (never returns)."""
    code = 1
    try:
        for signum in (signal.SIGTERM, signal.SIGHUP, signal.SIGCHLD):
            signal.signal(signum, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        for target, fd in zip((0, 1, 2), fds):
            os.dup2(fd, target)
            os.close(fd)
        sys.stdin = io.TextIOWrapper(io.FileIO(0, "r", closefd=False))
        sys.stdout = io.TextIOWrapper(io.FileIO(1, "w", closefd=False), line_buffering=os.isatty(1))
        sys.stderr = io.TextIOWrapper(io.FileIO(2, "w", closefd=False), line_buffering=True)
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update({**set_by_imports, **request["env"]})
        sys.argv = list(request["argv"])
        _fresh_rng(rng)
        from animatelab.cli import main

        try:
            code = main(sys.argv[1:])
        except SystemExit as err:  # argparse
            code = err.code if isinstance(err.code, int) else (0 if err.code is None else 1)
        except KeyboardInterrupt:
            code = 128 + signal.SIGINT
        except Exception:  # noqa: BLE001  (a stage's error: the traceback and status a cold process gives)
            traceback.print_exc()
            code = 1
        atexit._run_exitfuncs()
    finally:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError):  # the client's end is gone or closed: nothing left to tell it
                pass
        os._exit(code)


def _fresh_rng(rng: dict[str, Any]) -> None:
    """The RNG state a freshly started stage process has (a stage seeds its own; this covers the rest)."""
    import random

    import numpy as np
    import torch

    torch.set_rng_state(rng["torch"])
    random.seed()
    np.random.seed()


def serve(path: str, ready_fd: int | None = None) -> None:
    """Import the stage stack once, then fork one child per request until SIGTERM."""
    before, identity = dict(os.environ), code_identity()  # before importing: a file changed meanwhile runs cold
    import torch

    rng = {"torch": torch.get_rng_state()}  # before any import could draw from it
    import importlib
    import pkgutil

    import animatelab.stages

    for name in PRELOAD:
        importlib.import_module(name)
    for mod in pkgutil.iter_modules(animatelab.stages.__path__):
        importlib.import_module(f"animatelab.stages.{mod.name}")
    env = import_time_env(before)
    # variables the imports themselves set (mlflow, torch inductor): a fresh stage process would have them too
    set_by_imports = {k: v for k, v in os.environ.items() if k not in before}
    gc.freeze()  # the imported heap stays shared with the children (no copy-on-write from the collector)

    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(16)
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(True))
    if ready_fd is not None:
        os.write(ready_fd, b"ready\n")
        os.close(ready_fd)
    running: dict[int, socket.socket] = {}  # child pid -> its client's connection
    try:
        while not stop:
            try:
                readable, _, _ = select.select([listener, *running.values()], [], [], 0.05)
            except InterruptedError:
                continue
            _reap(running)
            for conn in readable:
                if conn is not listener and conn not in running.values():  # its stage ended just now
                    continue
                if conn is listener:
                    _accept(listener, running, identity, env, rng, set_by_imports)
                elif not conn.recv(1):  # the client is gone (killed): its stage must not outlive it
                    pid = next(p for p, c in running.items() if c is conn)
                    _kill(pid)
    finally:
        for pid in list(running):
            _kill(pid)
        listener.close()


def _accept(listener: socket.socket, running: dict[int, socket.socket], identity: str, env: dict[str, str],
            rng: dict[str, Any], set_by_imports: dict[str, str]) -> None:
    conn, _ = listener.accept()
    try:
        request, fds = _recv_request(conn)
    except (OSError, ValueError, ConnectionError):
        conn.close()
        return
    reason = why_cold(request, identity, env)
    if reason is not None:
        for fd in fds:
            os.close(fd)
        conn.sendall(f"cold {reason}\n".encode())
        conn.close()
        return
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:
        listener.close()
        for other in running.values():
            other.close()
        conn.close()
        _child(request, fds, rng, set_by_imports)
    for fd in fds:
        os.close(fd)
    conn.sendall(f"pid {pid}\n".encode())
    running[pid] = conn


def _reap(running: dict[int, socket.socket]) -> None:
    for pid in list(running):
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            conn = running.pop(pid)
            try:
                conn.sendall(f"exit {os.waitstatus_to_exitcode(status)}\n".encode())
            except OSError:
                pass
            conn.close()


def _kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        pass


# ---------------------------------------------------------------------------------------------- wrapper
@dataclasses.dataclass
class Server:
    path: str | None  # its socket; None: it did not come up (stages run cold)
    pid: int


@contextlib.contextmanager
def running_server(env: dict[str, str] | None = None, start_timeout: float = 300.0) -> Iterator[Server]:
    """A warm server for the duration of the block, started under ``env`` (default: this environment)."""
    with tempfile.TemporaryDirectory(prefix="animatelab-warm-") as tmp:
        path = os.path.join(tmp, "sock")
        read_end, write_end = os.pipe()
        server = subprocess.Popen([sys.executable, "-m", "animatelab.warm", "--serve", path, str(write_end)],
                                  pass_fds=(write_end,), start_new_session=True, env=env)
        os.close(write_end)
        ready, _, _ = select.select([read_end], [], [], start_timeout)
        up = bool(ready) and os.read(read_end, 16).startswith(b"ready")
        os.close(read_end)
        if not up:
            print("animatelab.warm: the server did not start; stages run cold", file=sys.stderr)
        try:
            yield Server(path if up else None, server.pid)
        finally:
            server.terminate()
            try:
                server.wait(30)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()


def run_with_server(cmd: list[str]) -> int:
    """Run ``cmd`` with a warm server beside it; its exit status."""
    with running_server() as server:
        env = {**os.environ, SOCKET_ENV: server.path} if server.path else dict(os.environ)
        proc = subprocess.Popen(cmd, env=env)
        # Ctrl-C reaches the command itself (same process group); SIGTERM is passed on to it
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, lambda signum, _f: proc.send_signal(signum))
        return proc.wait()


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["--serve"]:
        serve(argv[1], int(argv[2]) if len(argv) > 2 else None)
        return 0
    cmd = argv[1:] if argv[:1] == ["--"] else argv
    if not cmd:
        print("usage: python -m animatelab.warm -- COMMAND [ARGS...]   (e.g. -- dvc repro)", file=sys.stderr)
        return 2
    return run_with_server(cmd)


if __name__ == "__main__":
    sys.exit(main())
