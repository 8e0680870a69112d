"""Starts the bundled sandbox (`python -m sandbox`) for a run and reads the settings it writes.

opsverify talks to the sandbox only over the wire and through the env file it
writes, as it would to production; it never imports it.
"""

import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from opsverify.project import PROJECT  # where `python -m sandbox` is found (checkout or installed copy)

STARTUP_SECONDS = 60
READY = "sandbox ready:"


class SandboxError(Exception):
    pass


class Sandbox:
    def __init__(self, scenario, night, docker=False, faults=(), options=(), startup_seconds=STARTUP_SECONDS):
        """`options`: further `python -m sandbox` options (the benchmark's --volume and --request-log)."""
        self.scenario, self.night, self.docker, self.faults = scenario, night, docker, tuple(faults)
        self.options, self.startup_seconds = [str(o) for o in options], startup_seconds
        self.process = None
        self._dir = tempfile.TemporaryDirectory(prefix="opsverify-sandbox-")
        self.env_file = Path(self._dir.name) / "sandbox.env"
        self._output = []

    def start(self):
        """Start it and return the OPSVERIFY_* variables that point at it."""
        command = [sys.executable, "-m", "sandbox", "--scenario", self.scenario,
                   "--night", self.night.isoformat(), "--env-file", str(self.env_file)]
        if self.docker:
            command.append("--docker")
        for fault in self.faults:
            command += ["--fault", fault]
        command += self.options
        self.process = subprocess.Popen(command, cwd=PROJECT, stdout=subprocess.PIPE,
                                        stderr=subprocess.STDOUT, text=True, encoding="utf-8")
        ready = threading.Event()
        threading.Thread(target=self._read, args=(ready,), daemon=True).start()
        deadline = time.monotonic() + self.startup_seconds
        # Polled with sleep, not ready.wait(0.1): a timed lock wait never times out under libfaketime
        # (glibc's sem_clockwait gets a faked deadline), and CI runs the tests under a faked clock.
        while not ready.is_set():
            time.sleep(0.1)
            if ready.is_set():
                break
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                what = ("exited" if self.process.returncode is not None
                        else f"was not ready in {self.startup_seconds:g} s")
                raise SandboxError(f"the sandbox ({' '.join(command[1:])}) {what}: "
                                   + " | ".join(self._output[-10:]))
        return read_env_file(self.env_file)

    def stop(self):
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._dir.cleanup()

    def _read(self, ready):
        for line in self.process.stdout:
            self._output.append(line.rstrip())
            if line.startswith(READY):
                ready.set()


def read_env_file(path):
    """KEY=VALUE lines (no quoting, # comments) to a dict."""
    values = {}
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            key, _, value = line.partition("=")
            values[key.strip()] = value.strip()
    return values


def environ_with(overrides):
    """os.environ with `overrides` on top (the sandbox's values win over the caller's)."""
    merged = dict(os.environ)
    merged.update(overrides)
    return merged
