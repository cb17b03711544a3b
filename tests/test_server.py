"""The kquant server (issue 25): every call through a running server gives what the
same call gives in its own process (files, stdout, stderr, exit code), and faults
(signals, a client killed outright, a stale socket, a killed or stale server, a
client of another version, an unsafe directory, a full disk) end as they would
without a server, with nothing lost and no process left behind.

Real processes throughout: the installed ``kquant`` client, a real server started by
``kquant server start``, real signals. Each test module process starts one server in
a runtime directory of its own (the suite's default is ``KQUANT_SERVER=off``).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import socket
import stat
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest
from helpers import SAMPLES, blocks, cpu_seconds, kquant, kquant_exe, live_processes, wait_for
from PIL import Image

pytestmark = pytest.mark.skipif(not hasattr(os, "pidfd_open"), reason="Linux's pidfds")


def _env(runtime: Path, mode: str = "on", **extra: str) -> dict[str, str]:
    return {**os.environ, "XDG_RUNTIME_DIR": str(runtime), "KQUANT_SERVER": mode, **extra}


def _kquant(env: dict[str, str], *args, cwd=None, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([kquant_exe(), *map(str, args)], env=env, cwd=cwd,
                          capture_output=True, timeout=120, **kwargs)  # fmt: skip


def _as_kquant(env: dict[str, str], expression: str) -> object:
    """``expression`` (JSON) evaluated by the Python the ``kquant`` script runs, in
    ``env``: what a client computes (this test process has another sys.path)."""
    code = "import json, kquant.server.control as c, kquant.server.identity as i\n"
    code += f"print(json.dumps({expression}))"
    done = subprocess.run([str(Path(kquant_exe()).parent / "python"), "-c", code], env=env,
                          capture_output=True, text=True, check=True)  # fmt: skip
    return json.loads(done.stdout)


def _status(env: dict[str, str]) -> dict | None:
    done = _kquant(env, "server", "status", "--json")
    if done.returncode == 1 and not done.stdout:  # the folder is refused: one line says so
        assert done.stderr.startswith(b"kquant: error: ") and done.stderr.count(b"\n") == 1
        return None
    info = json.loads(done.stdout)
    assert done.returncode == (0 if info["running"] else 1)
    return info if info["running"] else None


class Server:
    """A real server in a runtime directory of its own."""

    def __init__(self, runtime: Path, **extra: str) -> None:
        runtime.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.runtime, self.env = runtime, _env(runtime, **extra)
        started = _kquant(self.env, "server", "start")
        assert started.returncode == 0, started.stderr
        assert b"kquant: server started (pid " in started.stderr
        self.info = _status(self.env)
        assert self.info is not None
        self.pid = self.info["pid"]

    def served(self) -> int:
        info = _status(self.env)
        return -1 if info is None else info["served"]

    def children(self) -> list[int]:
        return [pid for pid, parent in live_processes().items() if parent == self.pid]

    def stop(self) -> None:
        done = _kquant(self.env, "server", "stop")
        assert done.returncode == 0, done.stderr
        assert self.pid not in live_processes()
        assert not list((self.runtime / "kquant").glob("*.sock"))


def _short_folder() -> Path:
    """A runtime folder with a short path: a socket's path has at most 107 bytes, and
    pytest's temporary folders are long."""
    return Path(tempfile.mkdtemp(prefix="kq-"))


@pytest.fixture
def runtime():
    folder = _short_folder()
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="module")
def server():
    folder = _short_folder()
    one = Server(folder)
    yield one
    one.stop()
    shutil.rmtree(folder, ignore_errors=True)


# -- the table: the same bytes with and without a server


def _inputs(folder: Path) -> None:
    (folder / "in" / "set").mkdir(parents=True)
    (folder / "out").mkdir()
    Image.fromarray(blocks(48, 64)).save(folder / "in" / "blocks.png")
    for i in range(3):
        Image.fromarray(blocks(24, 24, seed=i)).save(folder / "in" / "set" / f"s{i}.png")
    frames = [Image.fromarray(np.roll(blocks(32, 32), 6 * i, axis=1)) for i in range(3)]
    frames[0].save(folder / "in" / "anim.gif", save_all=True, append_images=frames[1:],
                   duration=80, loop=0)  # fmt: skip
    data = (folder / "in" / "blocks.png").read_bytes()
    (folder / "in" / "broken.png").write_bytes(data[: len(data) // 2])


#: name: (args, keyword arguments of subprocess.run). Paths are relative to the
#: working directory, so messages name the same paths in both runs.
TABLE = {
    "still, --json": (["compress", "in/blocks.png", "-k", "4", "-o", "out/j.png", "--json"], {}),
    "animation": (["compress", "in/anim.gif", "-k", "8", "-o", "out/anim.gif"], {}),
    "batch -j 2": (["compress", "in/set", "-j", "2", "-k", "4", "-o", "out/set/"], {}),
    "pipe": (["compress", "-", "-k", "4", "-o", "-"], {"stdin": "in/blocks.png"}),
    "failing file": (["compress", "in/broken.png", "-o", "out/b.png"], {}),
    "usage error": (["compress", "in/blocks.png", "-k", "0"], {}),
    "compare": (["compare", "in/blocks.png", "-k", "4", "--json"], {}),
    "sweep": (["sweep", "in/blocks.png", "-k", "2,4", "--json"], {}),
    "palette": (["palette", "in/blocks.png", "-k", "4", "--export", "out/p.gpl"], {}),
    "stdout on a full device": (
        ["compress", "in/blocks.png", "-o", "out/f.png", "--json"],
        {"stdout": "/dev/full"},
    ),
    "umask 027, environment, a report": (
        [
            "compress",
            "in/set",
            "-k",
            "4",
            "-o",
            "out/r/",
            "--name",
            "{stem}-x.png",
            "--report",
            "out/report.jsonl",
        ],
        {"umask": 0o027, "env": {"COLUMNS": "50", "NO_COLOR": "1"}},
    ),
}


def _timeless(text: bytes) -> bytes:
    """``text`` without what changes from run to run: times."""
    text = re.sub(rb'"seconds": \{[^}]*\}', b'"seconds": {}', text)
    text = re.sub(rb"seconds: [^\n]*", b"seconds: ...", text)
    text = re.sub(rb'"(seconds|total_s|[a-z_]*seconds)": [0-9.]+', rb'"\1": 0', text)
    return re.sub(rb"\b\d+(\.\d+)? s\b", b"# s", text)


def _tree(folder: Path) -> dict[str, tuple[int, bytes]]:
    """Every file under ``folder``: its mode and bytes (times left out of reports)."""
    return {
        str(p.relative_to(folder)): (stat.S_IMODE(p.stat().st_mode), _timeless(p.read_bytes()))
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


#: Rows whose in-process run must be a process of its own: its stdin and stdout are
#: descriptors (a pipe, /dev/full). The others run in process through CliRunner, as
#: the rest of the suite does (the same command, without a second import of
#: everything: 3 s a row).
OWN_PROCESS = ("pipe", "stdout on a full device")


def _run_in_process(folder: Path, args: list[str], how: dict, monkeypatch) -> tuple:
    """A table row run by ``kquant.cli`` in this process, in ``folder``."""
    from click.testing import CliRunner

    from kquant.cli import cli

    monkeypatch.chdir(folder)
    old = os.umask(0o022)
    os.umask(how.get("umask", old))
    try:
        result = CliRunner().invoke(cli, args, env=how.get("env"), prog_name="kquant",
                                    catch_exceptions=False)  # fmt: skip
    finally:
        os.umask(old)
    return (result.exit_code, _timeless(result.stdout_bytes), _timeless(result.stderr_bytes),
            _tree(folder))  # fmt: skip


def _run_row(folder: Path, env: dict[str, str], args: list[str], how: dict) -> tuple:
    umask = how.get("umask")
    with contextlib.ExitStack() as stack:
        stdin = stdout = None
        if "stdin" in how:
            stdin = stack.enter_context(open(folder / how["stdin"], "rb"))
        if "stdout" in how:
            stdout = stack.enter_context(open(how["stdout"], "wb"))
        done = subprocess.run(
            [kquant_exe(), *args], cwd=folder, env={**env, **how.get("env", {})},
            stdin=stdin or subprocess.DEVNULL, stdout=stdout or subprocess.PIPE,
            stderr=subprocess.PIPE, timeout=120,
            preexec_fn=None if umask is None else (lambda: os.umask(umask)),
        )  # fmt: skip
    return done.returncode, _timeless(done.stdout or b""), _timeless(done.stderr), _tree(folder)


@pytest.mark.parametrize("row", list(TABLE), ids=list(TABLE))
def test_a_call_through_the_server_is_the_call_in_process(server, tmp_path, row, monkeypatch):
    args, how = TABLE[row]
    results = {}
    for mode in ("off", "on"):
        _inputs(tmp_path / mode)
        before = server.served()
        if mode == "off" and row not in OWN_PROCESS:
            results[mode] = _run_in_process(tmp_path / mode, args, how, monkeypatch)
        else:
            env = {**server.env, "KQUANT_SERVER": mode}
            results[mode] = _run_row(tmp_path / mode, env, args, how)
        assert server.served() == before + (mode == "on"), "the server was (not) used"
    code, _, err, _ = results["off"]
    assert results["on"] == results["off"]
    assert err.count(b"Traceback") == 0
    if row in ("failing file", "usage error", "stdout on a full device"):
        assert code == (2 if row == "usage error" else 1) and err.count(b"\n") == 1, err
    else:
        assert code == 0, err
    assert server.children() == []


def test_a_terminal_is_a_terminal_through_the_server(server, tmp_path):
    """isatty, the terminal's width and the progress bar, on stderr, through the
    descriptors the client passes."""
    import pty

    Image.fromarray(blocks(48, 64)).save(tmp_path / "b.png")
    seen = {}
    for mode in ("off", "on"):
        master, slave = pty.openpty()
        proc = subprocess.Popen(
            [kquant_exe(), "compress", "b.png", "-k", "4", "-o", f"{mode}.png"],
            cwd=tmp_path, env={**server.env, "KQUANT_SERVER": mode},
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=slave,
        )  # fmt: skip
        os.close(slave)
        chunks = []
        while True:
            try:
                chunk = os.read(master, 65536)
            except OSError:
                break
            if not chunk:
                break
            chunks.append(chunk)
        os.close(master)
        assert proc.wait(timeout=60) == 0
        seen[mode] = b"".join(chunks).replace(f"{mode}.png".encode(), b"OUT")
    lines = {
        mode: [line.rsplit(b"\r", 1)[-1] for line in _timeless(text).splitlines()]
        for mode, text in seen.items()
    }
    assert lines["on"] == lines["off"]
    assert b"\r" in seen["on"] or b"\x1b" in seen["on"], "no progress bar on the terminal"


# -- signals and a client killed outright


def _big_photo(folder: Path, width: int = 1600) -> Path:
    """A photo that takes a couple of seconds at k = 256, dithered."""
    path = folder / "big.png"
    with Image.open(SAMPLES / "china.jpg") as im:
        im.convert("RGB").resize((width, width * 2 // 3)).save(path)
    return path


def _child_at_work(server: Server, timeout: float = 60) -> int:
    """The pid of the server's child once it has used some CPU (inside the work)."""
    found: list[int] = []

    def working() -> bool:
        found[:] = [pid for pid in server.children() if cpu_seconds(pid) > 0.2]
        return bool(found)

    wait_for(working, "the server's child at work", timeout)
    return found[0]


@pytest.mark.parametrize(("sig", "code", "said"), [
    (signal.SIGINT, 130, "kquant: interrupted"),
    (signal.SIGTERM, 143, "kquant: stopped by SIGTERM"),
    (signal.SIGHUP, 129, "kquant: stopped by SIGHUP"),
])  # fmt: skip
def test_a_signal_to_the_client_reaches_the_child(server, tmp_path, sig, code, said):
    big = _big_photo(tmp_path)
    proc = subprocess.Popen([kquant_exe(), "compress", big, "-k", "256", "-o", tmp_path / "o.png"],
                            env=server.env, stderr=subprocess.PIPE, text=True)  # fmt: skip
    child = _child_at_work(server)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == code and err.strip().splitlines()[-1] == said, err
    assert "Traceback" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["big.png"]  # no output, no temp file
    wait_for(lambda: child not in live_processes(), "the child to end", 10)


def _state(pid: int) -> str:
    """The process's state letter (R, S, T...) from /proc."""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]


def test_ctrl_z_stops_the_child_with_the_client_and_fg_continues_both(server, tmp_path):
    """SIGTSTP (a terminal's Ctrl-Z) stops the client and the child with it; SIGCONT
    (fg) continues both, and the call ends as it would have."""
    big = _big_photo(tmp_path, width=900)
    # a job of its own, as a shell makes it (process group)
    proc = subprocess.Popen([kquant_exe(), "compress", big, "-k", "256", "-o", tmp_path / "o.png"],
                            env=server.env, stderr=subprocess.PIPE, text=True,
                            preexec_fn=os.setpgrp)  # fmt: skip
    child = _child_at_work(server)
    proc.send_signal(signal.SIGTSTP)
    wait_for(lambda: _state(proc.pid) == "T" and _state(child) == "T", "both to stop", 10)
    spent = cpu_seconds(child)
    time.sleep(0.3)
    assert cpu_seconds(child) == spent, "the child worked on while stopped"
    proc.send_signal(signal.SIGCONT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0 and (tmp_path / "o.png").exists(), err


def test_a_client_killed_outright_leaves_no_child_writing(server, tmp_path):
    big = _big_photo(tmp_path)
    proc = subprocess.Popen([kquant_exe(), "compress", big, "-k", "256", "-o", tmp_path / "o.png"],
                            env=server.env, stderr=subprocess.DEVNULL)  # fmt: skip
    child = _child_at_work(server)
    proc.kill()
    proc.wait(timeout=10)
    wait_for(lambda: child not in live_processes(), "the child to end", 10)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["big.png"]


def _descendants(pid: int) -> list[int]:
    """Live processes under ``pid`` (children, theirs...)."""
    parents = live_processes()
    found, frontier = [], [pid]
    while frontier:
        kids = [p for p, parent in parents.items() if parent in frontier]
        found += kids
        frontier = kids
    return found


def test_a_client_killed_outright_during_a_batch_leaves_no_worker_writing(server, tmp_path):
    """kill -9 of a client whose call runs a -j 2 batch: as in process, the workers
    stop their tasks (their owner died) and no output is written."""
    photos = tmp_path / "in"
    photos.mkdir()
    for i in range(2):
        _big_photo(photos).rename(photos / f"p{i}.png")
    proc = subprocess.Popen([kquant_exe(), "compress", photos, "-j", "2", "-k", "256",
                             "-o", tmp_path / "out/"], env=server.env,
                            stderr=subprocess.DEVNULL)  # fmt: skip
    child = _child_at_work_or_workers(server)
    under = _descendants(child)
    proc.kill()
    proc.wait(timeout=10)
    wait_for(lambda: not ({child, *under} & set(live_processes())), "the call's processes", 20)
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").iterdir())


def _child_at_work_or_workers(server: Server, timeout: float = 60) -> int:
    """The server's child once one of its pool's workers (forked by the fork server
    under it: two levels down) is inside a task: 0.3 s of CPU."""
    found: list[int] = []

    def working() -> bool:
        parents = live_processes()
        found[:] = [
            c for c in server.children()
            if any(cpu_seconds(w) > 0.3 for w, f in parents.items() if parents.get(f) == c)
        ]  # fmt: skip
        return bool(found)

    wait_for(working, "the call at work", timeout)
    return found[0]


def test_ctrl_z_then_kill_of_the_client_leaves_no_stopped_child(server, tmp_path):
    """A client stopped with its child (Ctrl-Z), then killed outright: the server
    continues the child and kills it, as the death of one process would end the job."""
    big = _big_photo(tmp_path, width=900)
    proc = subprocess.Popen([kquant_exe(), "compress", big, "-k", "256", "-o", tmp_path / "o.png"],
                            env=server.env, stderr=subprocess.DEVNULL,
                            preexec_fn=os.setpgrp)  # fmt: skip
    child = _child_at_work(server)
    proc.send_signal(signal.SIGTSTP)
    wait_for(lambda: _state(child) == "T", "the child to stop", 10)
    proc.kill()
    proc.wait(timeout=10)
    wait_for(lambda: child not in live_processes(), "the stopped child to end", 10)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["big.png"]


def test_a_descriptor_named_on_the_command_line_runs_in_process(server, tmp_path):
    """``--files-from /dev/fd/N`` (bash's ``<(...)``) names a descriptor only the
    client has: the call runs in process, with the same result."""
    Image.fromarray(blocks(32, 32)).save(tmp_path / "b.png")
    results = {}
    for mode in ("off", "on"):
        read, write = os.pipe()
        os.write(write, b"b.png\n")
        os.close(write)
        before = server.served()
        done = subprocess.run([kquant_exe(), "compress", "--files-from", f"/dev/fd/{read}",
                               "-k", "4", "-o", f"out-{mode}/"], cwd=tmp_path, pass_fds=[read],
                              env={**server.env, "KQUANT_SERVER": mode}, capture_output=True,
                              timeout=120)  # fmt: skip
        os.close(read)
        assert server.served() == before
        said = _timeless(done.stderr).replace(f"out-{mode}".encode(), b"X")
        results[mode] = (done.returncode, said)
    assert results["on"] == results["off"] and results["on"][0] == 0, results


def test_a_client_with_other_groups_runs_in_process(server, tmp_path):
    """Files a child writes take the server's groups: a client whose group ids are
    not the server's is refused, and its call writes with its own group in process."""
    if os.getuid() != 0:
        pytest.skip("needs root to run a client with other group ids")
    Image.fromarray(blocks(32, 32)).save(tmp_path / "b.png")
    before = server.served()

    def other_groups() -> None:
        os.setgroups([100])
        os.setgid(100)

    done = subprocess.run([kquant_exe(), "compress", "b.png", "-k", "4", "-o", "o.png"],
                          cwd=tmp_path, env=server.env, capture_output=True, timeout=120,
                          preexec_fn=other_groups)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert server.served() == before
    assert (tmp_path / "o.png").stat().st_gid == 100


# -- the server's own faults


def _call(env: dict[str, str], folder: Path, server: bool) -> None:
    """One call with ``env`` succeeds, through a server or not: a small compress
    through a server, ``kquant --version`` in process (the table shows that both
    ways give the same bytes; in process, a compress would import everything again,
    3 s a call)."""
    Image.fromarray(blocks(32, 32)).save(folder / "b.png")
    before = _status(env)
    if server:
        done = _kquant(env, "compress", "b.png", "-k", "4", "-o", "a.png", "-f", cwd=folder)
        assert done.returncode == 0 and (folder / "a.png").exists(), done.stderr
    else:
        done = _kquant(env, "--version", cwd=folder)
        assert done.returncode == 0 and done.stdout.startswith(b"kquant, version "), done.stderr
    after = _status(env)
    used = before is not None and after is not None and after["served"] == before["served"] + 1
    assert used == server


def test_a_stale_socket_runs_in_process_and_auto_replaces_it(tmp_path, runtime):
    env = _env(runtime)
    dead = socket.socket(socket.AF_UNIX)
    dead.bind(_as_kquant(env, "c.place().socket"))  # nobody listens: a server that died
    dead.close()
    _call(env, tmp_path, server=False)
    _call({**env, "KQUANT_SERVER": "auto"}, tmp_path, server=False)  # and starts one
    wait_for(lambda: _status(env) is not None, "the automatic server", 60)
    info = _status(env)
    assert info["idle_exit_s"] == 15 * 60
    _call(env, tmp_path, server=True)
    again = _kquant(env, "server", "start")
    assert again.returncode == 0 and b"already running" in again.stderr
    stopped = _kquant(env, "server", "stop")
    assert stopped.stderr == f"kquant: stopped the server (pid {info['pid']})\n".encode()
    assert info["pid"] not in live_processes()
    assert not list((runtime / "kquant").glob("*.sock"))
    done = _kquant(env, "server", "stop")
    assert done.returncode == 0 and done.stderr == b"kquant: no server was running\n"
    done = _kquant(env, "server", "status")
    assert done.returncode == 1 and done.stdout == b"not running\n"


def test_a_server_killed_mid_call_lets_the_call_finish(tmp_path, runtime):
    one = Server(runtime)
    big = _big_photo(tmp_path)
    proc = subprocess.Popen([kquant_exe(), "compress", big, "-k", "64", "-o", tmp_path / "o.png"],
                            env=one.env, stderr=subprocess.PIPE, text=True)  # fmt: skip
    child = _child_at_work(one)
    os.kill(one.pid, signal.SIGKILL)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert (tmp_path / "o.png").exists() and "MSE" in err
    wait_for(lambda: child not in live_processes(), "the child to end", 10)
    _call(one.env, tmp_path, server=False)  # the dead server's socket: in process


def test_a_call_without_a_server_leaves_no_server_folder(tmp_path, runtime):
    """Unset ``KQUANT_SERVER`` uses a server that runs and starts none: a call with
    none running makes no folder for one."""
    done = _kquant(_env(runtime, mode=""), "--version")
    assert done.returncode == 0
    assert not (runtime / "kquant").exists()


def test_a_server_whose_code_changed_is_replaced_or_refuses_and_exits(tmp_path, runtime):
    """A package installed into the environment (here: a file added to a folder of
    sys.path) makes the server stale: ``kquant server start`` replaces it; a call
    runs in process, and the server exits."""
    extra = tmp_path / "site"
    extra.mkdir()
    one = Server(runtime, PYTHONPATH=str(extra))
    _call(one.env, tmp_path, server=True)
    time.sleep(0.01)
    (extra / "new_package.py").write_text("")
    started = _kquant(one.env, "server", "start")
    assert started.returncode == 0 and b"server started" in started.stderr, started.stderr
    assert one.pid not in live_processes()
    two = _adopt(one)
    time.sleep(0.01)
    (extra / "newer_package.py").write_text("")
    _call(two.env, tmp_path, server=False)
    wait_for(lambda: two.pid not in live_processes(), "the stale server to exit", 10)
    log = next((runtime / "kquant").glob("*.log")).read_text()
    assert "refused a call: stale" in log and "stopping: stale" in log


def _adopt(old: Server) -> Server:
    """The server now running in ``old``'s runtime folder."""
    new = Server.__new__(Server)
    new.runtime, new.env = old.runtime, old.env
    new.info = _status(old.env)
    new.pid = new.info["pid"]
    return new


def test_a_client_of_another_version_is_refused(server):
    from kquant.server.wire import send_request

    theirs = {**_as_kquant(server.env, "i.identity()"), "kquant": "0.0.1"}
    with socket.socket(socket.AF_UNIX) as sock:
        sock.connect(server.info["socket"])
        send_request(sock, {"op": "run", "identity": theirs, "argv": ["kquant", "--version"]})
        answer = sock.makefile("rb").readline()
    assert answer.startswith(b"refused other-version: server 0.1.0, client 0.0.1"), answer
    assert server.children() == []


@pytest.mark.parametrize("fault", ["open to others", "another owner", "a link"])
def test_an_unsafe_directory_is_never_used(tmp_path, fault):
    runtime = tmp_path / "runtime"
    runtime.mkdir(mode=0o700)
    folder = runtime / "kquant"
    if fault == "open to others":
        folder.mkdir(mode=0o700)
        folder.chmod(0o755)
    elif fault == "another owner":
        if os.getuid() != 0:
            pytest.skip("needs root to make a folder owned by another user")
        folder.mkdir(mode=0o700)
        os.chown(folder, 65534, 65534)
    else:
        elsewhere = tmp_path / "elsewhere"
        elsewhere.mkdir(mode=0o700)
        folder.symlink_to(elsewhere)
    env = _env(runtime, mode="auto")
    _call(env, tmp_path, server=False)  # in process, and no server started
    started = _kquant(env, "server", "start")
    assert started.returncode == 1 and started.stderr.count(b"\n") == 1
    assert started.stderr.startswith(f"kquant: error: {folder}: ".encode()), started.stderr
    assert b"refused as the server directory" in started.stderr
    assert not [p for p in (tmp_path / "elsewhere").glob("*")] if fault == "a link" else True
    time.sleep(0.2)
    assert not (folder / "x").exists()


def test_a_full_disk_fails_as_in_process(server, tmp_path, small_disk):
    """An output on a full file system: the same one line and exit code."""
    Image.fromarray(blocks(32, 32)).save(tmp_path / "b.png")
    args = ["compress", tmp_path / "b.png", "-k", "4", "-o", small_disk / "o.png"]
    done = _kquant(server.env, *args)
    said = {"on": (done.returncode, done.stderr)}
    ran = kquant(*args)
    said["off"] = (ran.returncode, ran.stderr.encode())
    assert said["on"] == said["off"]
    assert said["on"][0] == 1 and said["on"][1].count(b"\n") == 1
    assert b"No space left on device" in said["on"][1]
    assert sorted(p.name for p in small_disk.iterdir()) == ["filler"]


def test_a_bad_kquant_server_value_is_a_usage_error(tmp_path):
    done = _kquant(_env(tmp_path, mode="sometimes"), "--version")
    assert done.returncode == 2
    assert done.stderr == b"kquant: error: KQUANT_SERVER='sometimes': use auto, on or off\n"


def test_the_server_runs_no_thread_and_one_blas_thread(server):
    tasks = os.listdir(f"/proc/{server.pid}/task")
    assert tasks == [str(server.pid)]
    maps = Path(f"/proc/{server.pid}/maps").read_text()
    assert "/sklearn/" in maps and "numpy" in maps  # imported once, before any call
    assert shutil.which("kquant", path=str(Path(kquant_exe()).parent))
