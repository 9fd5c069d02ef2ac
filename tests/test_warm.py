"""The warm stage server (``animatelab.warm``): a stage through it behaves like its own process.

Byte-identical training through the server is shown in ``test_determinism`` (one copy cold, one warm)
and the whole DAG runs through it in ``test_dvc_full_pipeline``; here: exit codes and stderr, the
cases that must run cold, and a killed client taking its stage with it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from animatelab.warm import code_identity, running_server, why_cold
from tests.conftest import micro_text

ANIMATELAB = [sys.executable, "-m", "animatelab.cli"]


@pytest.fixture(scope="module")
def server():
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    with running_server(env=env) as srv:
        assert srv.path is not None
        yield srv, env


def _run(srv_env, *argv: str, cwd: Path, **kw) -> subprocess.CompletedProcess:
    srv, env = srv_env
    return subprocess.run([*ANIMATELAB, *argv], cwd=cwd, env={**env, "ANIMATELAB_WARM": srv.path},
                          capture_output=True, text=True, timeout=120, **kw)


def test_bad_params_give_the_cold_exit_code_and_message(server, tmp_path):
    (tmp_path / "params.yaml").write_text(micro_text())
    warm = _run(server, "prepare", "--set", "prepare.frames=abc", cwd=tmp_path)
    cold = subprocess.run([*ANIMATELAB, "prepare", "--set", "prepare.frames=abc"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert warm.returncode == cold.returncode == 2
    assert "running cold" not in warm.stderr
    assert "prepare.frames" in warm.stderr and warm.stderr == cold.stderr


def test_unknown_stage_is_argparse_error_status(server, tmp_path):
    warm = _run(server, "no_such_stage", cwd=tmp_path)
    assert warm.returncode == 2 and "invalid choice" in warm.stderr and "running cold" not in warm.stderr


def test_other_import_time_environment_runs_cold(server, tmp_path):
    srv, env = server
    (tmp_path / "params.yaml").write_text("")
    proc = subprocess.run([*ANIMATELAB, "--help"], cwd=tmp_path, capture_output=True, text=True, timeout=120,
                          env={**env, "ANIMATELAB_WARM": srv.path, "OMP_NUM_THREADS": "2"})
    assert proc.returncode == 0 and "running cold (environment differs" in proc.stderr and "OMP_NUM_THREADS" in proc.stderr


def test_why_cold_names_package_changes_and_environment():
    identity, env = code_identity(), {"OMP_NUM_THREADS": "1"}
    ok = {"identity": identity, "env": {"OMP_NUM_THREADS": "1", "HOME": "/elsewhere", "DVC_STAGE": "x"}}
    assert why_cold(ok, identity, env) is None  # variables nothing reads at import time may differ
    assert "changed" in why_cold({**ok, "identity": "0" * 64}, identity, env)
    assert "PYTHONHASHSEED" in why_cold({**ok, "env": {**ok["env"], "PYTHONHASHSEED": "0"}}, identity, env)


def test_code_identity_follows_the_package_files(tmp_path, monkeypatch):
    import animatelab.warm_client as warm

    pkg = tmp_path / "animatelab"
    pkg.mkdir()
    (pkg / "warm_client.py").write_text("x = 1\n")
    monkeypatch.setattr(warm, "__file__", str(pkg / "warm_client.py"))
    first = warm.code_identity()
    (pkg / "stage.py").write_text("y = 2\n")
    assert warm.code_identity() != first


def _children(pid: int) -> list[int]:
    text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    return [int(x) for x in text.split()]


def test_killed_client_takes_its_stage_with_it(server, tmp_path):
    srv, env = server
    # a stage that blocks: `prepare` reading a FIFO as its params file waits for a writer forever
    fifo = tmp_path / "params.yaml"
    os.mkfifo(fifo)
    client = subprocess.Popen([*ANIMATELAB, "prepare"], cwd=tmp_path, env={**env, "ANIMATELAB_WARM": srv.path},
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    end = time.monotonic() + 60
    while not _children(srv.pid):
        assert time.monotonic() < end and client.poll() is None, "the stage never started in the server"
        time.sleep(0.05)
    os.kill(client.pid, signal.SIGKILL)
    client.wait()
    end = time.monotonic() + 30
    while _children(srv.pid):
        assert time.monotonic() < end, "the stage outlived its killed client"
        time.sleep(0.05)


def test_a_stage_error_gives_the_cold_status_and_traceback(server, tmp_path):
    """``encode`` in an empty folder raises FileNotFoundError (no base): status 1 and the same last line."""
    (tmp_path / "params.yaml").write_text(micro_text())
    warm = _run(server, "encode", cwd=tmp_path)
    cold = subprocess.run([*ANIMATELAB, "encode"], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert warm.returncode == cold.returncode == 1 and "running cold" not in warm.stderr
    assert "Traceback" in warm.stderr
    assert warm.stderr.strip().splitlines()[-1] == cold.stderr.strip().splitlines()[-1]
    assert "FileNotFoundError" in warm.stderr.strip().splitlines()[-1]
