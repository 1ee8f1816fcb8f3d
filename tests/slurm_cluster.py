"""A throw-away, single-node SLURM cluster for integration tests.

``SlurmCluster`` installs (if needed) and starts munge, MariaDB, slurmdbd, slurmctld and
slurmd on this machine, with a fake GPU (``Gres=gpu:1``), and stops all of them again on
exit, also when starting fails or the test raises::

    with SlurmCluster() as cluster:          # ~5 s (+ ~17 s apt-get, once)
        # `snakemake --profile slurm ...` in the repository root, as a user types it
        proc = cluster.run_snakemake("-s", snakefile, "--directory", workdir, "all")
    # ~2.5 s: every daemon it started is gone; /etc/slurm/slurm.conf is removed again

In pytest, use the ``slurm_cluster`` fixture (module scope) below, or
``SlurmCluster`` directly.  ``can_host_slurm()`` says whether this machine can do it.

Requirements: Linux, root, Debian/Ubuntu packages (apt).  The cluster needs the
machine-wide paths /etc/slurm/slurm.conf (inside each job the plugin runs ``srun`` with
every SLURM_* variable removed, so SLURM_CONF would not be seen) and munge's default
socket /run/munge/munge.socket.2; a lock file serialises concurrent clusters.

Facts behind the choices: /work/shared/notes/slurm.md.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Iterator, Sequence

# Debian package that provides each binary we use.
REQUIRED_BINARIES = {
    "munged": "munge",
    "slurmctld": "slurmctld",
    "slurmd": "slurmd",
    "sbatch": "slurm-client",
    "slurmdbd": "slurmdbd",
    "mariadbd": "mariadb-server",
}
APT_PACKAGES = ("munge", "slurmctld", "slurmd", "slurm-client", "slurmdbd", "mariadb-server")

SLURM_CONF_LINK = Path("/etc/slurm/slurm.conf")
POLICY_RC_D = Path("/usr/sbin/policy-rc.d")
MUNGE_RUN_DIR = Path("/run/munge")
MUNGE_SOCKET = MUNGE_RUN_DIR / "munge.socket.2"
MUNGE_KEY = Path("/etc/munge/munge.key")
LOCK_FILE = Path(tempfile.gettempdir()) / "clipmend-slurm-cluster.lock"
DIR_PREFIX = "clipmend-slurm-"
POLICY_MARK = "written by clipmend tests/slurm_cluster.py"

# Options the tests add on top of the shipped `slurm` profile.  The plugin polls sacct in
# a loop: every N s while no job runs (N = this setting, 40 by default), then N+10,
# N+20, ... s until some job ends.  A toy job takes ~6-10 s here, so N=2 gives one
# wave of dependent jobs every ~14 s (N=7 measured ~24 s; the default 40 s ~50 s).
TEST_PROFILE_OVERRIDES = (
    "--slurm-init-seconds-before-status-checks", "2",
    "--latency-wait", "5",
    "--max-threads", "2",  # the profile's set-threads (8 per feature job) on this 2-CPU node
)

REPO_ROOT = Path(__file__).resolve().parent.parent


class SlurmClusterError(RuntimeError):
    """The cluster could not be started (the message carries the daemons' log tails)."""


def _missing_binaries() -> list[str]:
    return [b for b in REQUIRED_BINARIES if shutil.which(b) is None
            and not Path("/usr/sbin", b).exists() and not Path("/usr/bin", b).exists()]


def _ours(path: Path) -> bool:
    """True if `path` is a symlink that points into one of our cluster directories."""
    try:
        return path.is_symlink() and Path(os.readlink(path)).parent.name.startswith(DIR_PREFIX)
    except OSError:
        return False


def can_host_slurm() -> tuple[bool, str]:
    """Whether this machine can run a throw-away SLURM cluster, and why not."""
    if os.environ.get("CLIPMEND_NO_SLURM"):
        return False, "CLIPMEND_NO_SLURM is set"
    if not sys.platform.startswith("linux"):
        return False, f"SLURM test cluster needs Linux, not {sys.platform}"
    if os.geteuid() != 0:
        return False, "SLURM test cluster needs root (it starts system daemons)"
    missing = _missing_binaries()
    if missing and shutil.which("apt-get") is None:
        return False, ("SLURM test cluster needs apt-get to install "
                       f"{', '.join(sorted({REQUIRED_BINARIES[b] for b in missing}))}")
    if shutil.which("timeout") is None:
        return False, "the `timeout` command (coreutils) is missing"
    if (SLURM_CONF_LINK.exists() or SLURM_CONF_LINK.is_symlink()) and not _ours(SLURM_CONF_LINK):
        return False, (f"{SLURM_CONF_LINK} already exists: this machine has its own "
                       "SLURM set-up, which the test cluster would clobber")
    return True, "root on Linux with " + ("SLURM installed" if not missing else "apt-get")


def _reap_stale() -> None:
    """Clean up after a cluster whose process was killed (SIGKILL, no stop()).

    Call only while holding the lock: then no other cluster of ours is alive.  A cluster
    directory that still has its `pids` file was not stopped (stop() removes it; the
    directory of a failed start is kept without it).  Stops the daemons listed there (if
    the pid still runs that daemon), removes the machine-wide paths listed in `created`
    and the directory, and our leftover /etc/slurm/slurm.conf symlink.
    """
    for pids_file in Path(tempfile.gettempdir()).glob(f"{DIR_PREFIX}*/pids"):
        lines: list[str] = []
        with contextlib.suppress(OSError):
            lines = pids_file.read_text().splitlines()
        for line in reversed(lines):  # slurmd first, munged last
            with contextlib.suppress(OSError, ValueError):
                name, pid = line.split()
                cmd = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0]
                if _pid_alive(int(pid)) and Path(cmd.decode()).name == name:
                    os.kill(int(pid), signal.SIGTERM)
                    deadline = time.monotonic() + 5
                    while _pid_alive(int(pid)) and time.monotonic() < deadline:
                        time.sleep(0.1)
                    if _pid_alive(int(pid)):
                        os.kill(int(pid), signal.SIGKILL)
        created = pids_file.with_name("created")
        with contextlib.suppress(OSError):
            for path in map(Path, reversed(created.read_text().splitlines())):
                if path == MUNGE_RUN_DIR and not MUNGE_SOCKET.exists():
                    shutil.rmtree(path, ignore_errors=True)
        shutil.rmtree(pids_file.parent, ignore_errors=True)  # a killed run's directory
    with contextlib.suppress(OSError):  # ours, left by a run killed during apt-get
        if POLICY_MARK in POLICY_RC_D.read_text():
            POLICY_RC_D.unlink()
    if _ours(SLURM_CONF_LINK):
        SLURM_CONF_LINK.unlink()


def _free_ports(n: int) -> list[int]:
    with contextlib.ExitStack() as stack:
        socks = [stack.enter_context(socket.socket()) for _ in range(n)]
        for s in socks:  # all bound at once, so the ports differ
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]


def _port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex(("127.0.0.1", port)) == 0


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child counts as gone.
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] != "Z"
    except (OSError, IndexError):
        return False


def _tail(path: Path, n: int = 15) -> str:
    try:
        lines = path.read_text(errors="replace").splitlines()
    except OSError:
        return "(no log)"
    return "\n".join(lines[-n:])


class SlurmCluster:
    """Single-node SLURM cluster with accounting and one fake GPU; a context manager.

    Attributes after start: ``base`` (its directory: configs, logs, state), ``conf``
    (slurm.conf), ``node`` (node name), ``partition``, ``cluster_name``,
    ``timings`` (seconds: install, start, stop) and ``log_dir``.
    """

    def __init__(self, *, gpus: int = 1, cluster_name: str = "clipmend",
                 partition: str = "debug", install: bool = True,
                 start_timeout: float = 60.0, lock_timeout: float = 900.0,
                 keep_dir: bool = False):
        self.gpus = gpus
        self.cluster_name = cluster_name
        self.partition = partition
        self.install = install
        self.start_timeout = start_timeout
        self.lock_timeout = lock_timeout
        self.keep_dir = keep_dir
        self.timings: dict[str, float] = {}
        self.base: Path | None = None
        self.node = socket.gethostname().split(".")[0]
        self._procs: list[tuple[str, subprocess.Popen, Path | None]] = []
        self._created: list[Path] = []   # machine-wide paths we made, removed on stop
        self._lock_fd: int | None = None
        self.running = False
        self._failed = False
        self._old_sigterm = None

    # -- context manager -------------------------------------------------------------
    def __enter__(self) -> "SlurmCluster":
        self.start()
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None:
            self._failed = True
        self.stop()

    # -- paths -----------------------------------------------------------------------
    @property
    def conf(self) -> Path:
        return self.base / "slurm.conf"

    @property
    def log_dir(self) -> Path:
        return self.base / "log"

    # -- start -----------------------------------------------------------------------
    def start(self) -> "SlurmCluster":
        ok, why = can_host_slurm()
        if not ok:
            raise SlurmClusterError(why)
        t0 = time.monotonic()
        self._catch_sigterm()
        try:
            self._acquire_lock()
            self._install_if_needed()
            t1 = time.monotonic()
            for step in (self._prepare_dir, self._start_munge, self._start_mariadb,
                         self._start_slurmdbd, self._register_cluster,
                         self._start_slurmctld, self._start_slurmd):
                ts = time.monotonic()
                step()
                self.timings[f"start.{step.__name__.lstrip('_')}"] = time.monotonic() - ts
            self.running = True
            self.timings["start"] = time.monotonic() - t1
        except BaseException as e:
            self._failed = True
            diag = self.diagnostics()
            self.stop()
            if self.base is not None:
                diag += f"\n(cluster directory kept for inspection: {self.base})"
            if isinstance(e, SlurmClusterError):
                raise SlurmClusterError(f"{e}\n{diag}") from None
            if isinstance(e, Exception):
                raise SlurmClusterError(f"starting the SLURM cluster failed: {e!r}\n{diag}") from e
            raise
        self.timings["install_and_start"] = time.monotonic() - t0
        return self

    def _catch_sigterm(self) -> None:
        # `timeout` (or CI) ends a test run with SIGTERM, which by default kills Python
        # without unwinding: turn it into SystemExit so that stop() runs.
        import threading
        if (threading.current_thread() is threading.main_thread()
                and signal.getsignal(signal.SIGTERM) is signal.SIG_DFL):
            self._old_sigterm = signal.signal(
                signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))

    def _restore_sigterm(self) -> None:
        if self._old_sigterm is not None:
            with contextlib.suppress(ValueError):
                signal.signal(signal.SIGTERM, self._old_sigterm)
            self._old_sigterm = None

    def _acquire_lock(self) -> None:
        fd = os.open(LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
        deadline = time.monotonic() + self.lock_timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    os.close(fd)
                    raise SlurmClusterError(
                        f"another test SLURM cluster holds {LOCK_FILE} (waited "
                        f"{self.lock_timeout:.0f} s)") from None
                time.sleep(1)
        self._lock_fd = fd
        _reap_stale()

    def _install_if_needed(self) -> None:
        missing = _missing_binaries()
        if not missing:
            self.timings["install"] = 0.0
            return
        if not self.install:
            raise SlurmClusterError(f"not installed: {', '.join(missing)}")
        t0 = time.monotonic()
        made_policy = False
        if not POLICY_RC_D.exists():
            # Keep the packaged services from starting while apt installs them.
            POLICY_RC_D.write_text(f"#!/bin/sh\n# {POLICY_MARK}\nexit 101\n")
            POLICY_RC_D.chmod(0o755)
            self._created.append(POLICY_RC_D)
            made_policy = True
        try:
            env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
            cmd = ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *APT_PACKAGES]
            r = subprocess.run(cmd, env=env, capture_output=True, text=True)
            if r.returncode != 0:  # stale package lists: update once and retry
                subprocess.run(["apt-get", "update", "-qq"], env=env, capture_output=True)
                r = subprocess.run(cmd, env=env, capture_output=True, text=True)
            if r.returncode != 0:
                raise SlurmClusterError(f"apt-get install failed:\n{r.stdout[-2000:]}"
                                        f"\n{r.stderr[-2000:]}")
        finally:
            if made_policy:
                POLICY_RC_D.unlink(missing_ok=True)
                self._created.remove(POLICY_RC_D)
        self.timings["install"] = time.monotonic() - t0

    def _prepare_dir(self) -> None:
        self.base = Path(tempfile.mkdtemp(prefix=DIR_PREFIX))
        self.base.chmod(0o755)  # the munge user must reach its log file
        for sub in ("log", "run", "state", "spool", "dev", "db"):
            (self.base / sub).mkdir(mode=0o700 if sub == "run" else 0o755)
        self.ports = dict(zip(("ctld", "slurmd", "dbd"), _free_ports(3)))

        # A character device stands in for the GPU (gres.conf refuses plain files).
        for i in range(self.gpus):
            os.mknod(self.base / f"dev/nvidia{i}", 0o666 | 0o020000, os.makedev(1, 3))

        # Node layout from `slurmd -C`, memory a little below what is free.
        out = subprocess.run(["slurmd", "-C"], capture_output=True, text=True,
                             check=True).stdout
        layout = " ".join(w for w in out.split()
                          if w.split("=")[0] in ("CPUs", "Boards", "SocketsPerBoard",
                                                 "CoresPerSocket", "ThreadsPerCore"))
        mem_mb = int(re.search(r"RealMemory=(\d+)", out).group(1))
        self.real_memory = max(512, int(mem_mb * 0.8))
        gres = f" Gres=gpu:{self.gpus}" if self.gpus else ""
        b = self.base
        self.conf.write_text(f"""\
# Throw-away single-node test cluster, written by tests/slurm_cluster.py
ClusterName={self.cluster_name}
SlurmctldHost={self.node}(127.0.0.1)
SlurmctldPort={self.ports['ctld']}
SlurmdPort={self.ports['slurmd']}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
StateSaveLocation={b}/state
SlurmdSpoolDir={b}/spool
SlurmctldPidFile={b}/run/slurmctld.pid
SlurmdPidFile={b}/run/slurmd.pid
SlurmctldLogFile={b}/log/slurmctld.log
SlurmdLogFile={b}/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
SchedulerType=sched/backfill
SchedulerParameters=batch_sched_delay=0
ReturnToService=2
MinJobAge=300
KillWait=5
InactiveLimit=0
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=localhost
AccountingStoragePort={self.ports['dbd']}
GresTypes=gpu
NodeName={self.node} NodeAddr=127.0.0.1 {layout} RealMemory={self.real_memory}{gres} State=UNKNOWN
PartitionName={self.partition} Nodes=ALL Default=YES MaxTime=INFINITE State=UP
""")
        (b / "gres.conf").write_text(
            "AutoDetect=off\n" + "".join(
                f"NodeName={self.node} Name=gpu File={b}/dev/nvidia{i}\n"
                for i in range(self.gpus)))
        dbd = b / "slurmdbd.conf"
        dbd.write_text(f"""\
AuthType=auth/munge
DbdHost=localhost
DbdPort={self.ports['dbd']}
SlurmUser=root
PidFile={b}/run/slurmdbd.pid
LogFile={b}/log/slurmdbd.log
StorageType=accounting_storage/mysql
StorageHost=localhost
StorageUser=root
StorageLoc=slurm_acct_db
""")
        dbd.chmod(0o600)

        SLURM_CONF_LINK.parent.mkdir(parents=True, exist_ok=True)
        SLURM_CONF_LINK.symlink_to(self.conf)
        self._note_created(SLURM_CONF_LINK)

    def _note_created(self, path: Path) -> None:
        self._created.append(path)
        with open(self.base / "created", "a") as f:  # for _reap_stale() after a SIGKILL
            f.write(f"{path}\n")

    def _env(self) -> dict[str, str]:
        return dict(os.environ, SLURM_CONF=str(self.conf),
                    MYSQL_UNIX_PORT=str(self.base / "run/mysqld.sock"))

    def _start(self, name: str, argv: Sequence[str], pidfile: Path | None,
               user: str | None = None) -> subprocess.Popen:
        # Foreground daemons, started directly (no runuser/su in between): the Popen pid
        # is the daemon's, and we reap it ourselves (PID 1 in containers may not).
        log = open(self.log_dir / f"{name}.out", "ab")
        ids = {"user": user, "group": user, "extra_groups": []} if user else {}
        try:
            proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log,
                                    stderr=subprocess.STDOUT, env=self._env(),
                                    start_new_session=True, cwd=self.base, **ids)
        finally:
            log.close()
        self._procs.append((name, proc, pidfile))
        with open(self.base / "pids", "a") as f:  # for _reap_stale() after a SIGKILL
            f.write(f"{name} {proc.pid}\n")
        return proc

    def _wait(self, ready, name: str, what: str) -> None:
        proc = next(p for n, p, _ in self._procs if n == name)
        deadline = time.monotonic() + self.start_timeout
        while not ready():
            if proc.poll() is not None:
                raise SlurmClusterError(f"{name} exited with {proc.returncode} "
                                        f"before {what}")
            if time.monotonic() > deadline:
                raise SlurmClusterError(f"timed out after {self.start_timeout:.0f} s "
                                        f"waiting for {what}")
            time.sleep(0.2)

    def _cmd_ok(self, argv: Sequence[str], pattern: str = "") -> bool:
        try:
            r = subprocess.run(argv, capture_output=True, text=True, timeout=10,
                               env=self._env())
        except subprocess.TimeoutExpired:
            return False
        return r.returncode == 0 and re.search(pattern, r.stdout) is not None

    def _start_munge(self) -> None:
        if MUNGE_SOCKET.exists() and self._cmd_ok(["sh", "-c", "munge -n | unmunge"]):
            return  # a munged with the machine's key already runs: use it, leave it
        if not MUNGE_KEY.exists():
            subprocess.run(["mungekey", "--create", "--keyfile", str(MUNGE_KEY)], check=True)
            shutil.chown(MUNGE_KEY, "munge", "munge")
            MUNGE_KEY.chmod(0o600)
        if not MUNGE_RUN_DIR.exists():
            MUNGE_RUN_DIR.mkdir(mode=0o755)
            self._note_created(MUNGE_RUN_DIR)
        shutil.chown(MUNGE_RUN_DIR, "munge", "munge")
        mlog = self.base / "munge"
        mlog.mkdir(mode=0o700)
        shutil.chown(mlog, "munge", "munge")
        self._start("munged", ["munged", "--foreground", "--force",
                               f"--log-file={mlog}/munged.log",
                               f"--pid-file={MUNGE_RUN_DIR}/munged.pid"],
                    MUNGE_RUN_DIR / "munged.pid", user="munge")
        self._wait(lambda: self._cmd_ok(["sh", "-c", "munge -n | unmunge"]), "munged",
                   "munge credentials")

    def _start_mariadb(self) -> None:
        # An empty datadir with --skip-grant-tables: no mariadb-install-db (which takes
        # ~5 s here). Safe enough: no network, and the socket's directory is root-only.
        b = self.base
        sock = b / "run/mysqld.sock"
        self._start("mariadbd", [
            "mariadbd", "--no-defaults", f"--datadir={b}/db", f"--socket={sock}",
            f"--pid-file={b}/run/mariadbd.pid", "--skip-networking", "--skip-grant-tables",
            "--user=root", f"--log-error={b}/log/mariadbd.log", "--skip-log-bin",
            "--innodb-buffer-pool-size=32M", "--innodb-log-file-size=4M"],
            b / "run/mariadbd.pid")
        self._wait(lambda: self._cmd_ok(["mariadb-admin", f"--socket={sock}", "ping"]),
                   "mariadbd", "MariaDB answering on its socket")

    def _start_slurmdbd(self) -> None:
        self._start("slurmdbd", ["slurmdbd", "-D"], self.base / "run/slurmdbd.pid")
        self._wait(lambda: _port_open(self.ports["dbd"]), "slurmdbd",
                   f"slurmdbd listening on port {self.ports['dbd']}")

    def _register_cluster(self) -> None:
        r = subprocess.run(["sacctmgr", "-i", "add", "cluster", self.cluster_name],
                           capture_output=True, text=True, env=self._env(), timeout=30)
        if r.returncode != 0 and "already exists" not in r.stdout + r.stderr:
            raise SlurmClusterError(f"sacctmgr add cluster failed:\n{r.stdout}\n{r.stderr}")

    def _start_slurmctld(self) -> None:
        self._start("slurmctld", ["slurmctld", "-D", "-i"], self.base / "run/slurmctld.pid")
        self._wait(lambda: self._cmd_ok(["scontrol", "ping"], r"is UP"), "slurmctld",
                   "slurmctld answering `scontrol ping`")

    def _start_slurmd(self) -> None:
        self._start("slurmd", ["slurmd", "-D", "-N", self.node], self.base / "run/slurmd.pid")
        self._wait(self._node_idle, "slurmd", f"node {self.node} idle in sinfo")

    def _node_idle(self) -> bool:
        return self._cmd_ok(["sinfo", "-h", "-N", "-n", self.node, "-o", "%T"],
                            r"^idle\s*$")

    # -- stop ------------------------------------------------------------------------
    def stop(self) -> None:
        """Stop every daemon we started, remove what we put outside our directory."""
        t0 = time.monotonic()
        try:
            if self._procs and any(n == "slurmctld" and p.poll() is None
                                   for n, p, _ in self._procs):
                self._cancel_all_jobs()
            for name, proc, pidfile in reversed(self._procs):
                ts = time.monotonic()
                self._stop_one(name, proc, pidfile)
                self.timings[f"stop.{name}"] = time.monotonic() - ts
            self._procs.clear()
            if self.base is not None:
                (self.base / "pids").unlink(missing_ok=True)
            for path in reversed(self._created):
                with contextlib.suppress(OSError):
                    if path.is_dir() and not path.is_symlink():
                        shutil.rmtree(path)
                    else:
                        path.unlink()
            self._created.clear()
            if self.base and self.base.exists() and not (self.keep_dir or self._failed):
                shutil.rmtree(self.base, ignore_errors=True)
        finally:
            if self._lock_fd is not None:
                os.close(self._lock_fd)  # releases the flock
                self._lock_fd = None
            self.running = False
            self._restore_sigterm()
            self.timings["stop"] = time.monotonic() - t0

    def _cancel_all_jobs(self) -> None:
        env = self._env()
        with contextlib.suppress(Exception):
            subprocess.run(["scancel", "--full", "-u", "root"], env=env,
                           capture_output=True, timeout=10)
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline:
                r = subprocess.run(["squeue", "-h", "-o", "%i"], env=env,
                                   capture_output=True, text=True, timeout=10)
                if r.returncode != 0 or not r.stdout.strip():
                    break
                time.sleep(0.5)

    @staticmethod
    def _stop_one(name: str, proc: subprocess.Popen, pidfile: Path | None) -> None:
        pids = [proc.pid]
        with contextlib.suppress(OSError, ValueError):
            if pidfile is not None and pidfile.exists():
                pid = int(pidfile.read_text().split()[0])
                if pid not in pids:
                    pids.append(pid)
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and any(_pid_alive(p) for p in pids):
            proc.poll()
            time.sleep(0.1)
        for pid in pids:
            if _pid_alive(pid):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=5)

    # -- inspection ------------------------------------------------------------------
    def started_pids(self) -> dict[str, int]:
        return {n: p.pid for n, p, _ in self._procs}

    def diagnostics(self) -> str:
        if self.base is None:
            return ""
        parts = []
        for log in sorted(self.log_dir.glob("*")):
            parts.append(f"--- {log} (tail) ---\n{_tail(log)}")
        return "\n".join(parts)

    def sacct(self, *job_ids: str) -> dict[str, str]:
        """SLURM job id -> state, from accounting."""
        r = subprocess.run(["sacct", "-X", "--parsable2", "--noheader", "--format=JobIdRaw,State",
                            "-j", ",".join(job_ids)], capture_output=True, text=True,
                           env=self._env(), check=True, timeout=30)
        return dict(line.split("|", 1) for line in r.stdout.splitlines())  # "CANCELLED by 0"

    # -- running Snakemake -----------------------------------------------------------
    def run_snakemake(self, *args: str, cwd: Path = REPO_ROOT, profile: str = "slurm",
                      timeout: int = 300, overrides: Sequence[str] = TEST_PROFILE_OVERRIDES,
                      env: dict[str, str] | None = None,
                      log_path: Path | None = None) -> subprocess.CompletedProcess:
        """Run ``snakemake --profile PROFILE [overrides] ARGS`` in `cwd`, as a user would.

        By default in the repository root, where ``slurm`` is the symlink to
        profiles/slurm; point it at another workflow and working directory with
        ``"-s", SNAKEFILE, "--directory", WORKDIR`` in `args` (Snakemake then keeps
        .snakemake/, its SLURM logs and all outputs in WORKDIR).  It runs under
        ``timeout -k 10 TIMEOUT`` (snakemake can hang waiting for job states and ignores
        SIGTERM), with the venv that runs pytest first on PATH (jobs inherit it through
        ``sbatch --export=ALL``).  Combined stdout/stderr: ``.stdout``, and `log_path`.
        """
        venv_bin = Path(sys.executable).parent
        exe = venv_bin / "snakemake"
        if not exe.exists():
            exe = Path(shutil.which("snakemake") or "snakemake")
        run_env = dict(os.environ)
        run_env["PATH"] = f"{venv_bin}{os.pathsep}{run_env.get('PATH', '')}"
        run_env.update(env or {})
        cmd = ["timeout", "-k", "10", str(timeout), str(exe), "--profile", profile,
               *overrides, *args]
        # Own process group: if we are interrupted, kill snakemake and its children too
        # (killing only `timeout` would leave snakemake behind).
        popen = subprocess.Popen(cmd, cwd=cwd, env=run_env, stdout=subprocess.PIPE,
                                 stderr=subprocess.STDOUT, text=True, start_new_session=True)
        try:
            out, _ = popen.communicate()
        except BaseException:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(popen.pid, signal.SIGKILL)
            popen.wait()
            raise
        if log_path is not None:
            Path(log_path).write_text(out)
        return subprocess.CompletedProcess(cmd, popen.returncode, out)


def submitted_job_ids(snakemake_output: str) -> list[str]:
    """SLURM job ids that the plugin reported as submitted ("... with SLURM jobid N")."""
    return re.findall(r"submitted with SLURM jobid (\d+)", snakemake_output)


def leftover_processes(pids: dict[str, int]) -> dict[str, int]:
    """Those of `pids` (name -> pid) that still run."""
    return {n: p for n, p in pids.items() if _pid_alive(p)}


# -- pytest ------------------------------------------------------------------------------
try:
    import pytest
except ImportError:  # the helper also works without pytest
    pytest = None

if pytest is not None:
    @pytest.fixture(scope="module")
    def slurm_cluster() -> Iterator[SlurmCluster]:
        """A running SlurmCluster for the tests of one module; skips where impossible.

        Import it into a test module (``from tests.slurm_cluster import slurm_cluster``);
        each module that does gets its own cluster (~5 s start, ~2.5 s stop).
        """
        ok, why = can_host_slurm()
        if not ok:
            pytest.skip(f"no SLURM test cluster here: {why}")
        cluster = SlurmCluster()
        cluster.start()
        try:
            yield cluster
        finally:
            cluster.stop()
            print("\nSLURM test cluster timings (s): "
                  + ", ".join(f"{k}={v:.1f}" for k, v in cluster.timings.items()))
