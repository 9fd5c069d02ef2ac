"""The stage side of the warm server (``animatelab.warm``): hand this ``animatelab <stage>`` to it, or say why not.

Kept apart from the server so that a stage process imports only this (sockets, no torch) before it knows
whether it runs warm; the server imports it too, so both sides agree on the protocol and on what makes a
stage run cold.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import socket
import struct
import sys
from pathlib import Path
from typing import Any

SOCKET_ENV = "ANIMATELAB_WARM"
# environment read when modules are imported (or by the C runtime at start): a child of a server started
# under other values would not behave like a fresh process, so such a stage runs cold
IMPORT_TIME_ENV = re.compile(r"^(OMP_|MKL_|KMP_|GOMP_|OPENBLAS_|TORCH|PYTORCH_|CUDA|CUBLAS_|NVIDIA_|PYTHON|HF_"
                             r"|TRANSFORMERS_|DIFFUSERS_|MLFLOW_|ANIMATELAB_MALLOPT|LD_|MALLOC_)")
HEADER = struct.Struct("!I")  # request length, sent with the stage's stdin/stdout/stderr


def code_identity() -> str:
    """Where the ``animatelab`` package lies and the size and mtime of each of its modules."""
    root = Path(__file__).resolve().parent
    digest = hashlib.sha256(str(root).encode())
    for f in sorted(root.rglob("*.py")):
        st = f.stat()
        digest.update(f"{f.relative_to(root)}:{st.st_size}:{st.st_mtime_ns};".encode())
    return digest.hexdigest()


def import_time_env(environ: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in environ.items() if IMPORT_TIME_ENV.match(k)}


def why_cold(request: dict[str, Any], identity: str, env: dict[str, str]) -> str | None:
    """Why the server must not run ``request`` (None: it may)."""
    if request.get("identity") != identity:
        return "the animatelab package changed after the warm server imported it"
    theirs = import_time_env(request.get("env", {}))
    if theirs != env:
        keys = sorted(k for k in set(theirs) | set(env) if theirs.get(k) != env.get(k))
        return f"environment differs from the warm server's in {', '.join(keys)}"
    return None


def run_stage_warm(argv: list[str]) -> int | None:
    """Run ``animatelab argv`` in the warm server named by ``$ANIMATELAB_WARM``; None: run it cold here."""
    path = os.environ.get(SOCKET_ENV)
    if not path:
        return None
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.connect(path)
    except OSError:
        sock.close()
        return None
    request = {"argv": ["animatelab", *argv], "cwd": os.getcwd(), "env": dict(os.environ), "identity": code_identity()}
    body = json.dumps(request).encode()
    try:
        socket.send_fds(sock, [HEADER.pack(len(body))], [0, 1, 2])  # fails if one of them is closed
        sock.sendall(body)
        replies = sock.makefile("rb")
        first = replies.readline().decode().split(" ", 1)
    except OSError as err:
        sock.close()
        print(f"animatelab: running cold ({err})", file=sys.stderr)
        return None
    if first[0] != "pid":
        reason = first[1].strip() if len(first) > 1 else "no answer"
        print(f"animatelab: running cold ({reason})", file=sys.stderr)
        return None
    pid = int(first[1])

    def forward(signum: int, _frame: Any) -> None:
        try:
            os.kill(pid, signum)
        except ProcessLookupError:
            pass

    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, forward)
    last = replies.readline().decode().split()
    if len(last) != 2 or last[0] != "exit":
        print("animatelab: the warm server ended before the stage did", file=sys.stderr)
        return 1
    code = int(last[1])
    return code if code >= 0 else 128 - code  # killed by a signal: the shell's convention
