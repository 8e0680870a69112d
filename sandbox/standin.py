"""The EscaShop backend container, for real: a stand-in run on a Docker engine.

The image (`opsverify-standin:1`) is made once per engine by `docker import` of a
minimal root filesystem: a static busybox with a few applets, a `node` user (uid
1000) as in the official Node.js images, /app owned by it, and the stand-in's
script. No image registry is needed.

The container prints the scheduler's start-up lines on stdout (as the real app does
when it starts, system-under-test.md), marks itself ready for its healthcheck, then
prints an Express access line every 30 seconds until stopped. It runs with
`--network none`, as user node, with the json-file log driver, and carries the label
opsverify.sandbox=1. The sandbox never touches a container without that label: a
same-named container without it could be production.

The docker SDK is imported inside the functions: the rest of the sandbox runs without it.
"""

import io
import json
import os
import shutil
import struct
import sys
import tarfile
import tempfile
import time
from importlib import resources
from pathlib import Path

IMAGE = "opsverify-standin:3"  # bump the tag when the root filesystem or the image config changes
LABEL = "opsverify.sandbox"  # "1" on every container the sandbox creates, and on no other
SCENARIO_LABEL = "opsverify.scenario"
DEFAULT_DOCKER_HOST = "unix:///var/run/docker.sock"
CONNECT_TIMEOUT = 30  # seconds, for each API call

USER, UID = "node", 1000
TIMEZONE = "Asia/Manila"
ACCESS_EVERY = 30  # seconds between access lines
READY_FILE = "/tmp/ready"
ENTRYPOINT = "/usr/local/bin/escashop-standin"
# system-under-test.md: what the scheduler prints when the backend starts.
STARTUP_LINES = ("🕐 Initializing Daily Queue Reset Scheduler...",
                 "📅 Daily reset cron job scheduled for midnight Philippine Time")
SECOND = 1_000_000_000  # the engine counts healthcheck durations in nanoseconds
HEALTHCHECK = {"test": ["CMD-SHELL", f"test -f {READY_FILE}"], "interval": 1 * SECOND, "timeout": 3 * SECOND,
               "retries": 3, "start_period": 0}
HEALTHY_WITHIN = 20  # seconds run() waits for `healthy`
STOP_TIMEOUT = 3  # seconds between SIGTERM and SIGKILL when the sandbox removes its container

# The applets the stand-in and the suite's checks run inside the container.
APPLETS = ("sh", "echo", "date", "sleep", "cat", "test", "[", "id", "df", "touch", "printf", "seq", "ls",
           "mkdir", "rm", "true", "false", "grep", "env", "ps", "stat", "uname", "head", "tail", "wc",
           "kill", "readlink")
BUSYBOX_PATHS = ("/bin/busybox", "/usr/bin/busybox")
# Zone data the scheduler's time zone needs inside the container (TZ=Asia/Manila date); from the
# tzdata package, the same IANA files an image's tzdata package installs under /usr/share/zoneinfo.
ZONES = ("Asia/Manila", "UTC")

# The stand-in's main process. Its arguments are the start-up lines; `--lines FILE` first makes it
# also print FILE's timed lines (see SCRIPT_FORMAT) once ready. Signals end it at once: the trap
# runs as soon as `wait` returns, not after a sleep.
LINES_FILE = "/app/standin-lines.tsv"
SCRIPT = f"""#!/bin/sh
# The EscaShop backend stand-in (opsverify sandbox): prints its arguments, the
# scheduler's start-up lines; with --lines FILE, then FILE's timed lines (one
# "DELAY<tab>STREAM<tab>TEXT" a line: sleep DELAY seconds, or with DELAY
# "@EPOCH+SECONDS" wait until the wall clock reaches EPOCH, then sleep SECONDS;
# then print TEXT on STREAM, stdout or stderr); then an Express access line every
# $STANDIN_ACCESS_EVERY seconds (default {ACCESS_EVERY}) until stopped.
trap 'exit 0' TERM INT
rm -f {READY_FILE}
lines=
if [ "$1" = --lines ]; then lines=$2; shift 2; fi
for line in "$@"; do
  printf '%s\\n' "$line"
done
touch {READY_FILE}
if [ -n "$lines" ]; then
  tab=$(printf '\\t')
  while IFS="$tab" read -r delay stream text; do
    case $delay in
      @*) until=${{delay#@}}; until=${{until%%+*}}; delay=${{delay#*+}}
          while [ "$(date +%s)" -lt "$until" ]; do sleep 0.02 & wait $!; done ;;
    esac
    if [ "$delay" != 0 ]; then sleep "$delay" & wait $!; fi
    if [ "$stream" = stderr ]; then printf '%s\\n' "$text" >&2; else printf '%s\\n' "$text"; fi
  done < "$lines"
fi
while true; do
  sleep "${{STANDIN_ACCESS_EVERY:-{ACCESS_EVERY}}}" &
  wait $!
  printf '::ffff:127.0.0.1 - - [%s] "GET /health HTTP/1.1" 200 52 "-" "Wget"\\n' \\
    "$(date -u '+%d/%b/%Y:%H:%M:%S +0000')"
done
"""

# The root filesystem: directories (mode, owner uid) and files (content, mode).
DIRECTORIES = {"bin": (0o755, 0), "etc": (0o755, 0), "tmp": (0o1777, 0), "root": (0o700, 0),
               "home": (0o755, 0), f"home/{USER}": (0o755, UID), "app": (0o755, UID),
               "usr": (0o755, 0), "usr/local": (0o755, 0), "usr/local/bin": (0o755, 0),
               "proc": (0o755, 0), "sys": (0o755, 0), "dev": (0o755, 0)}
FILES = {
    "etc/passwd": (f"root:x:0:0:root:/root:/bin/sh\n{USER}:x:{UID}:{UID}::/home/{USER}:/bin/sh\n", 0o644),
    "etc/group": (f"root:x:0:\n{USER}:x:{UID}:\n", 0o644),
    ENTRYPOINT.lstrip("/"): (SCRIPT, 0o755),
}
# `docker import --change` instructions. The engine takes CMD, ENTRYPOINT, ENV, EXPOSE,
# HEALTHCHECK, LABEL, ONBUILD, USER, VOLUME and WORKDIR here, not STOPSIGNAL (SIGTERM, the default,
# is what the stand-in expects); HEALTHCHECK refuses --start-period=0s (0 is its default when omitted). No opsverify.sandbox label: containers inherit the image's labels,
# and that one marks the containers the sandbox created, not those anyone runs from this image.
CHANGES = [
    f"ENTRYPOINT {json.dumps([ENTRYPOINT])}",
    f"CMD {json.dumps(list(STARTUP_LINES), ensure_ascii=False)}",
    f"USER {USER}",
    "WORKDIR /app",
    f"ENV TZ={TIMEZONE}",
    "EXPOSE 5000",
    "LABEL org.opencontainers.image.title=opsverify-standin",
    f"HEALTHCHECK --interval=1s --timeout=3s --retries=3 CMD test -f {READY_FILE}",
]


class StandinError(Exception):
    pass


def docker_host(environ=None):
    """The engine the sandbox talks to: DOCKER_HOST, else Docker's default socket."""
    environ = os.environ if environ is None else environ
    return environ.get("DOCKER_HOST") or DEFAULT_DOCKER_HOST


def connect(environ=None, timeout=CONNECT_TIMEOUT):
    """(client, DOCKER_HOST) for the engine at DOCKER_HOST; StandinError if none answers there."""
    import docker
    import requests

    environ = dict(os.environ if environ is None else environ)
    unset = "" if environ.get("DOCKER_HOST") else " (DOCKER_HOST is not set: Docker's default)"
    host = environ["DOCKER_HOST"] = docker_host(environ)  # set: no fall-back to a docker CLI context
    try:
        client = docker.from_env(environment=environ, timeout=timeout)
        client.ping()
    except (docker.errors.DockerException, requests.RequestException, OSError) as exc:
        raise StandinError(f"no Docker engine answers at DOCKER_HOST={host}{unset}: {exc}") from None
    return client, host


def ensure_image(client, tag=IMAGE):
    """The stand-in image, made by `docker import` if the engine does not have it yet."""
    import docker

    try:
        return client.images.get(tag)
    except docker.errors.ImageNotFound:
        pass
    busybox = find_busybox()
    repository, _, version = tag.rpartition(":")
    with tempfile.TemporaryDirectory(prefix="opsverify-standin-") as tmp:
        root = Path(tmp) / "rootfs"
        make_rootfs(root, busybox)
        stream = tar_stream(root)
        try:
            answer = client.api.import_image(src=stream, repository=repository, tag=version, changes=CHANGES)
        except docker.errors.APIError as exc:
            raise StandinError(f"the engine refused to import {tag}: {exc}") from None
    for line in answer.splitlines():  # the engine reports a failed import in its progress stream
        message = json.loads(line) if line.strip().startswith("{") else {}
        if message.get("error"):
            raise StandinError(f"the engine could not import {tag}: {message['error']}")
    try:
        return client.images.get(tag)
    except docker.errors.ImageNotFound:
        raise StandinError(f"the engine imported {tag} but does not list it: {answer.strip()[:300]}") from None


def find_busybox():
    """A statically linked busybox on this machine (the image has no C library for any other)."""
    candidates = [shutil.which("busybox"), *BUSYBOX_PATHS]
    dynamic = None
    for candidate in filter(None, candidates):
        path = Path(candidate)
        if path.is_file():
            if _is_static_elf(path):
                return path
            dynamic = dynamic or path
    if dynamic:
        raise StandinError(f"{dynamic} is dynamically linked; the stand-in image needs a static busybox "
                           "(Debian: apt-get install busybox-static)")
    raise StandinError(f"no busybox found (looked at {', '.join(dict.fromkeys(filter(None, candidates)))}); "
                       "the stand-in image needs a static one (Debian: apt-get install busybox-static)")


def _is_static_elf(path):
    """True for an ELF executable without a program interpreter (PT_INTERP)."""
    with open(path, "rb") as handle:
        header = handle.read(64)
        if len(header) < 64 or header[:4] != b"\x7fELF":
            return False
        order = "<" if header[5] == 1 else ">"
        if header[4] == 2:  # ELFCLASS64
            (phoff,) = struct.unpack(order + "Q", header[32:40])
            phentsize, phnum = struct.unpack(order + "HH", header[54:58])
        else:
            (phoff,) = struct.unpack(order + "I", header[28:32])
            phentsize, phnum = struct.unpack(order + "HH", header[42:46])
        for index in range(phnum):
            handle.seek(phoff + index * phentsize)
            (kind,) = struct.unpack(order + "I", handle.read(4))
            if kind == 3:  # PT_INTERP
                return False
    return True


def make_rootfs(root, busybox):
    """The stand-in's root filesystem under `root` (modes and owners are set in the tar stream)."""
    root.mkdir()
    for directory in DIRECTORIES:
        (root / directory).mkdir(parents=True, exist_ok=True)
    shutil.copyfile(busybox, root / "bin" / "busybox")
    for applet in APPLETS:
        os.symlink("busybox", root / "bin" / applet)
    for name, (content, _) in FILES.items():
        (root / name).write_text(content, encoding="utf-8")
    for zone in ZONES:
        target = root / "usr" / "share" / "zoneinfo" / zone
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(resources.files("tzdata.zoneinfo").joinpath(*zone.split("/")).read_bytes())


def tar_stream(root):
    """The root filesystem as a tar stream, owned by root except the node user's directories."""
    modes = {name: mode for name, (mode, _) in DIRECTORIES.items()}
    owners = {name: uid for name, (_, uid) in DIRECTORIES.items()}
    modes.update({name: mode for name, (_, mode) in FILES.items()})
    modes["bin/busybox"] = 0o755

    def normalise(info):
        info.uid = info.gid = owners.get(info.name, 0)
        info.uname = info.gname = USER if info.uid == UID else "root"
        if not info.issym():
            info.mode = modes.get(info.name, 0o755 if info.isdir() else 0o644)
        return info

    stream = io.BytesIO()
    with tarfile.open(fileobj=stream, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for path in sorted(root.rglob("*")):
            tar.add(path, arcname=path.relative_to(root).as_posix(), recursive=False, filter=normalise)
    stream.seek(0)
    return stream


def is_sandbox(container):
    """Whether the sandbox created `container` (it carries opsverify.sandbox=1)."""
    return (container.labels or {}).get(LABEL) == "1"


def _refusal(container, doing):
    return StandinError(
        f"a container named {container.name} ({container.short_id}, image "
        f"{container.attrs.get('Config', {}).get('Image', '?')}, {container.status}) exists on this engine "
        f"without the label {LABEL}=1: the sandbox did not create it and it could be production, so it will "
        f"not {doing} it. Point DOCKER_HOST at a sandbox engine, or remove that container yourself.")


def _get(client, name):
    import docker

    try:
        return client.containers.get(name)
    except docker.errors.NotFound:
        return None


def script_text(entries):
    """The --lines file for [(delay, stream, text)]: delay is seconds (a number) or "@EPOCH+SECONDS"."""
    rows = []
    for delay, stream, text in entries:
        if stream not in ("stdout", "stderr") or "\t" in text or "\n" in text:
            raise StandinError(f"cannot print {text!r} on {stream!r}: one line of stdout or stderr, no tabs")
        rows.append(f"{delay if isinstance(delay, str) else format(delay, '.3f')}\t{stream}\t{text}\n")
    return "".join(rows)


def put_lines(container, entries):
    """Bake the --lines file into `container` (created or running) with put_archive."""
    data = script_text(entries).encode("utf-8")
    stream = io.BytesIO()
    with tarfile.open(fileobj=stream, mode="w", format=tarfile.PAX_FORMAT) as tar:
        info = tarfile.TarInfo(LINES_FILE.rsplit("/", 1)[1])
        info.size, info.mode, info.uid, info.gid, info.mtime = len(data), 0o644, UID, UID, int(time.time())
        tar.addfile(info, io.BytesIO(data))
    if not container.put_archive(LINES_FILE.rsplit("/", 1)[0], stream.getvalue()):
        raise StandinError(f"the engine refused to write {LINES_FILE} into {container.name}")


def run(client, name, lines=STARTUP_LINES, *, scenario, timezone=TIMEZONE, access_every=ACCESS_EVERY,
        image=IMAGE, healthy_within=HEALTHY_WITHIN, script=None, restart_at=None):
    """Start the stand-in as container `name`, printing `lines` at start-up; returns the Container.

    A same-named container the sandbox created is removed first; one without the label is
    refused (StandinError) and left as it is. With `healthy_within` (seconds), waits until the
    engine reports the container healthy; a container that does not get there is removed.

    `script` [(delay, stream, text)] is baked into the container as its --lines file (after
    `lines`). With `restart_at` (a time.time() instant), the container first starts with an empty
    file, gets `script` at `restart_at` and is restarted then (container.restart()), so that its
    State.StartedAt is that instant and it prints `script` only after the restart.
    """
    import docker

    ensure_image(client, image)
    existing = _get(client, name)
    if existing is not None:
        if not is_sandbox(existing):
            raise _refusal(existing, "replace")
        _remove(existing)
    try:
        container = client.containers.create(
            image, command=(["--lines", LINES_FILE] if script is not None else []) + list(lines), name=name,
            labels={LABEL: "1", SCENARIO_LABEL: scenario},
            network_mode="none", user=USER, working_dir="/app",
            environment={"TZ": timezone, "STANDIN_ACCESS_EVERY": str(access_every)},
            healthcheck=HEALTHCHECK,
            log_config=docker.types.LogConfig(type="json-file"),
            restart_policy={"Name": "no"})
    except docker.errors.APIError as exc:
        if exc.status_code == 409:
            raise StandinError(f"a container named {name} appeared on the engine while the sandbox was "
                               f"replacing its own: {exc.explanation}") from None
        raise StandinError(f"the engine refused to create {name}: {exc}") from None
    try:
        if script is not None:
            put_lines(container, [] if restart_at is not None else script)
        container.start()
        if restart_at is not None:
            time.sleep(max(0.0, restart_at - time.time()))
            put_lines(container, script)
            container.restart(timeout=STOP_TIMEOUT)
        if healthy_within:
            wait_healthy(container, healthy_within)
    except BaseException as exc:
        try:
            _remove(container)
        except docker.errors.DockerException:
            pass  # the error that matters is the first one
        if isinstance(exc, docker.errors.DockerException):
            raise StandinError(f"container {name} did not start: {exc}") from None
        raise
    return container


def wait_healthy(container, timeout):
    """Wait until the engine reports `container` healthy; StandinError (with its log) otherwise."""
    deadline = time.monotonic() + timeout
    status = None
    while True:
        container.reload()
        state = container.attrs["State"]
        status = (state.get("Health") or {}).get("Status")
        if status == "healthy":
            return
        if not state.get("Running") or status == "unhealthy":
            break
        if time.monotonic() > deadline:
            break
        time.sleep(0.2)
    log = container.logs(tail=10).decode("utf-8", "replace").strip()
    raise StandinError(f"container {container.name} is not healthy (state {state.get('Status')}, exit code "
                       f"{state.get('ExitCode')}, health {status}) after {timeout} s; its log ends: {log!r}")


def _remove(container):
    import docker

    try:
        container.stop(timeout=STOP_TIMEOUT)
        container.remove(force=True)
    except docker.errors.NotFound:
        pass


def stop(client, name):
    """Remove the sandbox's container `name` (a name or an id); False if there is none.

    A container without the label opsverify.sandbox=1 is refused (StandinError) and left as it is.
    """
    container = _get(client, name)
    if container is None:
        return False
    if not is_sandbox(container):
        raise _refusal(container, "remove")
    _remove(container)
    return True


class Standin:
    """The CLI's running stand-in; stop() removes it (as the sandbox's servers stop)."""

    def __init__(self, client, container):
        self.client, self.container = client, container

    def stop(self):
        import docker

        try:
            stop(self.client, self.container.id)
        except (StandinError, docker.errors.DockerException) as exc:
            print(f"sandbox: could not remove container {self.container.name}: {exc}", file=sys.stderr,
                  flush=True)
