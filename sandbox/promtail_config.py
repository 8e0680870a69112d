"""The emulated Promtail's scrape configuration: its jobs, and the files inside its container.

A scenario may give `promtail_jobs` and `promtail_files`; without them Promtail runs
EscaShop's configuration as captures 26 and 27 show it (real-responses/loki-promtail-2.6.1-
26-promtail-targets-page.txt and -27-promtail-service-discovery-page.txt):

- docker job `docker-containers`: docker_sd_configs on unix:///var/run/docker.sock (port 80),
  discovering the backend container with the labels of the capture;
- file job `escashop-backend`: __path__ /var/log/app/*.log, labels container and job;
- file job `midnight-reset-logs`: __path__ /var/log/midnight_reset*.log, labels component,
  job (midnight-reset-monitor, as captured) and process;
- files /var/log/app/backend.log and /var/log/midnight_reset.log.

A job is `{job_name, type: file, path, labels}` or `{job_name, type: docker, host, port,
containers, line_labels, socket_mounted}`; a file is `{path, size, position, lines}`. A docker job's
`containers` are what its engine runs; `socket_mounted: false` (unix:// hosts only) says the socket is
not mounted into the Promtail container: Prometheus' docker discovery then fails every refresh
("Unable to refresh target groups"), the job's group stays empty ("(0/0 ready)") and none of those
containers' lines is shipped while this Promtail runs. How Promtail 2.6 turns
that into targets (clients/pkg/promtail/targets/file/filetargetmanager.go and filetarget.go):

- a file job's static target becomes one FileTarget whatever its path matches; the target
  tails every existing file its `__path__` matches (the path itself if it names an existing
  file, else doublestar v1 Glob), and `FileTarget.Ready()` is `len(t.readers) > 0`: a path
  that matches nothing leaves the target unready, with no files in its details;
- `promtail_targets_active_total` counts FileTargets (it is incremented when one is created,
  ready or not); `promtail_files_active_total` counts the files they tail.

The sandbox puts no line of these files into Loki (its lines are the backend container's,
shipped by docker discovery), so a file's size, position and lines are what Promtail reports
about it, nothing more; they default to 0 (an empty file).

`line_labels` on the docker job that discovers the scenario's container is what a pipeline
promoting a per-line field to a label does (capture 07: label `timestamp`="2026-11-29 13:31:19",
the line's own time): each named label gets a value computed from the line. The only source the
sandbox knows is `local_time`: the line's instant in the scenario's timezone, to the second,
"YYYY-MM-DD HH:MM:SS". Anything else is refused.
"""

import re
from dataclasses import dataclass, field

DOCKER_HOST = "unix:///var/run/docker.sock"
DOCKER_PORT = 80  # Prometheus' DockerSDConfig default port, hence "...docker.sock:80" in capture 26
# The backend container as captures 26 and 27 show its discovered labels.
BACKEND_CONTAINER = {
    "__address__": ":80",
    "__meta_docker_container_id": "ea21c70e693c574688bb1778576b88c31cfd16cdbc018a6549b1932360307d24",
    "__meta_docker_container_label_com_docker_compose_service": "backend",
    "__meta_docker_container_name": "/escashop-backend-prod",
    "__meta_docker_container_network_mode": "none",
    "__meta_docker_network_id": "178857f0dc6b2e77131ec533f4884f8c28db61a706aa1cfbf74479494b86a691",
    "__meta_docker_network_ingress": "false",
    "__meta_docker_network_internal": "false",
    "__meta_docker_network_ip": "",
    "__meta_docker_network_name": "none",
    "__meta_docker_network_scope": "local",
}
DEFAULT_JOBS = [
    {"job_name": "docker-containers", "type": "docker", "host": DOCKER_HOST, "port": DOCKER_PORT,
     "containers": [BACKEND_CONTAINER]},
    {"job_name": "escashop-backend", "type": "file", "path": "/var/log/app/*.log",
     "labels": {"container": "escashop-backend-prod", "job": "escashop-backend"}},
    {"job_name": "midnight-reset-logs", "type": "file", "path": "/var/log/midnight_reset*.log",
     "labels": {"component": "scheduler", "job": "midnight-reset-monitor", "process": "midnight_reset"}},
]
DEFAULT_FILES = [{"path": "/var/log/app/backend.log"}, {"path": "/var/log/midnight_reset.log"}]

FILE_JOB_KEYS = {"job_name", "type", "path", "labels"}
DOCKER_JOB_KEYS = {"job_name", "type", "host", "port", "containers", "line_labels", "socket_mounted"}
FILE_KEYS = {"path", "size", "position", "lines"}
LINE_LABEL_SOURCES = {"local_time"}
LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*\Z")  # Prometheus' model.LabelName.IsValid


class PromtailConfigError(Exception):
    pass


# --- doublestar v1 (github.com/bmatcuk/doublestar, which Promtail 2.6's filetarget.go imports) ---

class BadPattern(Exception):
    """doublestar.ErrBadPattern."""


def _index_escaped(text, char):
    """indexRuneWithEscaping: the first `char` not preceded by a backslash, or -1."""
    end = text.find(char)
    if end == -1:
        return -1
    if end > 0 and text[end - 1] == "\\":
        start = end + 1
        end = _index_escaped(text[start:], char)
        if end != -1:
            end += start
    return end


def _split(path, separator="/"):
    """splitPathOnSeparator: split on `separator`, except where it is escaped."""
    if separator not in path:
        return [path]
    parts, start = [], 0
    while start < len(path):
        end = _index_escaped(path[start:], separator)
        end = len(path) if end == -1 else end + start
        parts.append(path[start:end])
        start = end + 1
    return parts


def _match_components(pattern, name):
    """doMatching: `**` as a whole component matches any number of components."""
    if not pattern and not name:
        return True
    if not pattern or not name:
        return False
    p = n = 0
    while p < len(pattern) and n < len(name):
        if pattern[p] == "**":
            p += 1
            if p >= len(pattern):
                return True
            return any(_match_components(pattern[p:], name[i:]) for i in range(n, len(name)))
        if not _match_component(pattern[p], name[n]):
            return False
        p += 1
        n += 1
    return p >= len(pattern) and n >= len(name)


def _match_component(pattern, name):
    """matchComponent: `*`, `?`, `[...]` (`^` negates), `{a,b}`, backslash escapes; BadPattern if malformed."""
    if not pattern and not name:
        return True
    if not pattern:
        return False
    if not name and pattern != "*":
        return False
    p = n = 0
    while p < len(pattern) and n < len(name):
        c = pattern[p]
        if c == "\\":
            p += 1
            if p >= len(pattern):
                raise BadPattern(pattern)
            if pattern[p] != name[n]:
                return False
            p += 1
            n += 1
        elif c == "*":
            p += 1
            if p >= len(pattern):
                return True
            return any(_match_component(pattern[p:], name[i:]) for i in range(n, len(name)))
        elif c == "[":
            p += 1
            end = _closing(pattern, p, "]")
            runes = pattern[p:end]
            if not runes:
                raise BadPattern(pattern)
            i, matched = (1 if runes[0] == "^" else 0), False
            while i < len(runes):
                low, i = _class_char(pattern, runes, i)
                high = low
                if i < len(runes) and runes[i] == "-":
                    high, i = _class_char(pattern, runes, i + 1)
                if low <= name[n] <= high:
                    matched = True
            if matched == (runes[0] == "^"):
                return False
            p = end + 1
            n += 1
        elif c == "{":
            p += 1
            end = _closing(pattern, p, "}")
            options = _split(pattern[p:end], ",")
            rest = pattern[end + 1:]
            return any(_match_component(option + rest, name[n:]) for option in options)
        elif c == "?" or c == name[n]:
            p += 1
            n += 1
        else:
            return False
    if p >= len(pattern) and n >= len(name):
        return True
    return n >= len(name) and pattern[p:] == "*"


def _closing(pattern, start, char):
    """Where the `char` that closes the class or alternatives opened just before `start` stands
    (indexRuneWithEscaping); BadPattern if there is none."""
    end = _index_escaped(pattern[start:], char)
    if end == -1:
        raise BadPattern(pattern)
    return start + end


def _class_char(pattern, runes, i):
    """The character of a `[...]` class at runes[i] (one alone, or a range's bound) and the index after it.
    A bare '-' is malformed; a backslash takes the character after it as it is."""
    if i >= len(runes) or runes[i] == "-":
        raise BadPattern(pattern)
    if runes[i] == "\\":
        i += 1
        if i >= len(runes):
            raise BadPattern(pattern)
    return runes[i], i + 1


def match(pattern, name):
    """doublestar.Match(pattern, name) with '/' as the separator."""
    return _match_components(_split(pattern), _split(name))


def glob(pattern, files):
    """What FileTarget.sync() tails for `pattern` when the container holds exactly `files`.

    sync() stats the path first: an existing file is tailed as named. Otherwise it globs;
    Glob finds directories too, but startTailing skips them, and a malformed pattern makes
    sync() fail before it tails anything, so it tails nothing.
    """
    if pattern in files:
        return [pattern]
    try:
        return sorted(f for f in files if match(pattern, f))
    except BadPattern:
        return []


# --- the configuration ---

@dataclass
class FileJob:
    job_name: str
    path: str
    labels: dict  # the static target's labels, without __path__

    type = "File"

    @property
    def discovered_labels(self):
        """The static target's labels before relabeling (filetargetmanager.go defaults the target to localhost)."""
        return {"__address__": "localhost", "__path__": self.path, **self.labels}

    def document(self):
        return {"type": "file", "path": self.path, "labels": dict(self.labels)}


@dataclass
class DockerJob:
    job_name: str
    host: str
    port: int
    containers: list  # the discovered labels of each container, all running
    line_labels: dict = field(default_factory=dict)  # label name -> source (LINE_LABEL_SOURCES)
    socket_mounted: bool = True

    type = "Docker"

    @property
    def discovered(self):
        """The containers discovery gives: none when it cannot reach the engine."""
        return list(self.containers) if self.socket_mounted else []

    @property
    def key(self):
        """How Promtail names the job on its pages: docker/targetmanager.go's syncer key "%s/%s:%d"."""
        return f"{self.job_name}/{self.host}:{self.port}"

    def discovers(self, container):
        """Whether the job is the one meant to ship `container` (its engine runs it; reachable or not)."""
        return any(c.get("__meta_docker_container_name") == "/" + container for c in self.containers)

    def document(self):
        return {"type": "docker", "host": self.host, "port": self.port,
                "containers": {c["__meta_docker_container_id"]: dict(c) for c in self.containers},
                "line_labels": dict(self.line_labels), "socket_mounted": self.socket_mounted}


@dataclass
class PromtailFile:
    path: str
    size: int = 0
    position: int = 0
    lines: int = 0


@dataclass
class PromtailConfig:
    jobs: list  # FileJob | DockerJob, in configuration order
    files: dict  # path -> PromtailFile: what exists inside the Promtail container

    @classmethod
    def site(cls, jobs=None, files=None, where="promtail"):
        """EscaShop's configuration, or the given jobs / files instead of its own; PromtailConfigError if invalid."""
        return cls([_job(item, f"{where}_jobs[{i}]") for i, item in enumerate(DEFAULT_JOBS if jobs is None else
                                                                               _list(jobs, f"{where}_jobs"))],
                   _files(DEFAULT_FILES if files is None else _list(files, f"{where}_files"), f"{where}_files")
                   )._checked(where)

    def _checked(self, where):
        names = [job.job_name for job in self.jobs]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise PromtailConfigError(f"{where}_jobs: job_name {', '.join(duplicates)} appears more than once")
        return self

    def document(self):
        """Everything configured, keyed by stable names (for comparing two configurations)."""
        return {"jobs": {job.job_name: job.document() for job in self.jobs},
                "files": {path: {"size": f.size, "position": f.position, "lines": f.lines}
                          for path, f in self.files.items()}}

    @property
    def file_jobs(self):
        return [job for job in self.jobs if isinstance(job, FileJob)]

    @property
    def docker_jobs(self):
        return [job for job in self.jobs if isinstance(job, DockerJob)]

    def tailed(self, job):
        """The files a file job's target tails."""
        return glob(job.path, self.files)

    def shipping_job(self, container):
        """The one docker job that discovers `container`; PromtailConfigError if none or several."""
        found = [job for job in self.docker_jobs if job.discovers(container)]
        if len(found) != 1:
            what = "no docker job discovers" if not found else \
                f"docker jobs {', '.join(j.job_name for j in found)} all discover"
            raise PromtailConfigError(
                f"promtail_jobs: {what} container /{container}, whose lines the sandbox ships through "
                "docker discovery: exactly one docker job must list it in containers "
                "(__meta_docker_container_name)")
        return found[0]


def _list(value, where):
    if not isinstance(value, list) or not value:
        raise PromtailConfigError(f"{where} must be a non-empty list, not {value!r}")
    return value


def _only(mapping, allowed, where):
    if not isinstance(mapping, dict):
        raise PromtailConfigError(f"{where} must be a mapping, not {mapping!r}")
    unknown = set(mapping) - allowed
    if unknown:
        raise PromtailConfigError(f"{where} has keys the sandbox does not emulate: {', '.join(sorted(unknown))} "
                                  f"(it knows {', '.join(sorted(allowed))})")


def _labels(value, where, internal=False):
    """A label set: valid names; `__` names only where discovery produces them (`internal`)."""
    if not isinstance(value, dict):
        raise PromtailConfigError(f"{where} must be a mapping of label names to values, not {value!r}")
    for name, label_value in value.items():
        if not isinstance(name, str) or not LABEL_NAME.match(name):
            raise PromtailConfigError(f"{where}: {name!r} is not a valid label name")
        if name.startswith("__") and not internal:
            raise PromtailConfigError(f"{where}: label {name} is reserved (give a file job's glob as `path`)")
        if not isinstance(label_value, str):
            raise PromtailConfigError(f"{where}: label {name} must be a string, not {label_value!r}")
    return dict(value)


def _job(item, where):
    if not isinstance(item, dict):
        raise PromtailConfigError(f"{where} must be a mapping, not {item!r}")
    kind = item.get("type")
    name = item.get("job_name")
    if not isinstance(name, str) or not name:
        raise PromtailConfigError(f"{where} needs a job_name")
    if kind == "file":
        _only(item, FILE_JOB_KEYS, where)
        path = item.get("path")
        if not isinstance(path, str) or not path.startswith("/"):
            raise PromtailConfigError(f"{where} ({name}): path must be an absolute glob inside the Promtail "
                                      f"container, not {path!r} (a relative one depends on Promtail's working "
                                      "directory, which the sandbox does not know)")
        if "//" in path or "/./" in path or "/../" in path or path.endswith(("/.", "/..")):
            raise PromtailConfigError(f"{where} ({name}): path {path!r} is not clean; Glob would clean it "
                                      "(filepath.Join) and the sandbox does not")
        return FileJob(name, path, _labels(item.get("labels") or {}, f"{where} ({name}) labels"))
    if kind == "docker":
        _only(item, DOCKER_JOB_KEYS, where)
        host = item.get("host", DOCKER_HOST)
        port = item.get("port", DOCKER_PORT)
        if not isinstance(host, str) or not host:
            raise PromtailConfigError(f"{where} ({name}): host must be a Docker daemon address, not {host!r}")
        if not isinstance(port, int) or isinstance(port, bool) or not 0 < port < 65536:
            raise PromtailConfigError(f"{where} ({name}): port must be a TCP port, not {port!r}")
        containers = item.get("containers", [BACKEND_CONTAINER])
        if not isinstance(containers, list):
            raise PromtailConfigError(f"{where} ({name}): containers must be a list of discovered label sets")
        checked = []
        for i, container in enumerate(containers):
            labels = _labels(container, f"{where} ({name}) containers[{i}]", internal=True)
            for required in ("__meta_docker_container_id", "__meta_docker_container_name"):
                if not labels.get(required):
                    raise PromtailConfigError(f"{where} ({name}) containers[{i}] needs {required} "
                                              "(docker discovery always sets it)")
            checked.append(labels)
        line_labels = item.get("line_labels") or {}
        _labels(line_labels, f"{where} ({name}) line_labels")
        for label, source in line_labels.items():
            if source not in LINE_LABEL_SOURCES:
                raise PromtailConfigError(f"{where} ({name}) line_labels: {label}: the sandbox computes a label "
                                          f"only from {', '.join(sorted(LINE_LABEL_SOURCES))}, not {source!r}")
        mounted = item.get("socket_mounted", True)
        if not isinstance(mounted, bool) or (not mounted and not host.startswith("unix://")):
            raise PromtailConfigError(f"{where} ({name}): socket_mounted must be true or false, and false only "
                                      f"for a unix:// host (a socket to mount), not {mounted!r} with {host}")
        return DockerJob(name, host, port, checked, dict(line_labels), mounted)
    raise PromtailConfigError(f"{where} ({name}): type must be file or docker (the sandbox emulates only "
                              f"those scrape configs), not {kind!r}")


def _files(items, where):
    files = {}
    for i, item in enumerate(items):
        _only(item, FILE_KEYS, f"{where}[{i}]")
        path = item.get("path")
        if not isinstance(path, str) or not path.startswith("/") or path.endswith("/"):
            raise PromtailConfigError(f"{where}[{i}]: path must be an absolute file path, not {path!r}")
        if path in files:
            raise PromtailConfigError(f"{where}[{i}]: {path} appears more than once")
        numbers = {key: item.get(key, 0) for key in ("size", "position", "lines")}
        for key, value in numbers.items():
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise PromtailConfigError(f"{where}[{i}] ({path}): {key} must be a whole number >= 0, not {value!r}")
        if numbers["position"] > numbers["size"]:
            raise PromtailConfigError(f"{where}[{i}] ({path}): position {numbers['position']} is past the end of "
                                      f"the file (size {numbers['size']})")
        files[path] = PromtailFile(path, **numbers)
    dirs = {path[:i] for path in files for i in range(1, len(path)) if path[i] == "/"}
    clash = sorted(path for path in files if path in dirs)
    if clash:
        raise PromtailConfigError(f"{where}: {', '.join(clash)} is both a file and a directory")
    return files
