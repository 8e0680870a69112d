"""A checkout's monitoring stack as files: the compose services (images, tags, mounts, ports, environment)
and where the Grafana provisioning, the dashboards and the Loki and Promtail configs are, found from the
compose mounts first, then by name. Reads files only."""

import re
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from opsverify.lint import LintError, load_document

COMPOSE_NAMES = ("docker-compose.yml", "docker-compose.yaml", "compose.yml", "compose.yaml",
                 "docker-compose.*.yml", "docker-compose.*.yaml")
SKIP_DIRS = {".git", "node_modules", ".venv", "venv", "__pycache__"}
ROLES = {"grafana": r"(^|/)grafana(-enterprise|-oss)?$", "loki": r"(^|/)loki$", "promtail": r"(^|/)promtail$"}


@dataclass(frozen=True)
class Mount:
    source: str  # as written: a host path (absolute or ./relative) or a named volume
    target: str  # the path inside the container
    host: Path = None  # the resolved host path, None for a named volume
    line: int = 0


@dataclass
class Service:
    name: str
    file: object  # the compose Document
    image: str = ""
    mounts: list = field(default_factory=list)
    ports: list = field(default_factory=list)  # (published host port, container port) as strings
    environment: dict = field(default_factory=dict)
    command: str = ""

    @property
    def repository(self):
        return split_image(self.image)[0]

    @property
    def tag(self):
        return split_image(self.image)[1]

    @property
    def role(self):
        """grafana, loki, promtail or '' (by the image's repository)."""
        return next((role for role, pattern in ROLES.items() if re.search(pattern, self.repository)), "")

    def container_path_on_host(self, path):
        """The host file behind `path` inside this container (deepest mount wins), or None."""
        best = None
        for mount in self.mounts:
            if mount.host is not None and _under(path, mount.target):
                if best is None or len(mount.target) > len(best.target):
                    best = mount
        if best is None:
            return None
        rest = PurePosixPath(path).relative_to(PurePosixPath(best.target))
        return best.host / rest if str(rest) != "." else best.host

    def mounted(self, path):
        """The mount whose target holds `path` inside the container (deepest first), or None."""
        found = [m for m in self.mounts if _under(path, m.target)]
        return max(found, key=lambda m: len(m.target)) if found else None


def _under(path, directory):
    path, directory = PurePosixPath(path), PurePosixPath(directory)
    return path == directory or directory in path.parents


def split_image(image):
    """(repository, tag) of an image reference; tag '' when it has none (a digest counts as a tag)."""
    image = str(image or "")
    if "@" in image:
        return image.split("@")[0], "@" + image.split("@")[1]
    last = image.rsplit("/", 1)[-1]
    if ":" in last:
        return image.rsplit(":", 1)[0], image.rsplit(":", 1)[1]
    return image, ""


def _find(root, patterns, limit=4):
    found = []
    for path in sorted(root.rglob("*")):
        parts = path.relative_to(root).parts
        if len(parts) > limit or SKIP_DIRS & set(parts):
            continue
        if path.is_file() and any(path.match(p) for p in patterns):
            found.append(path)
    return found


class Checkout:
    """The repository at `root`; `paths` are the site file's lint section (relative to root, '' = find)."""

    def __init__(self, root, paths=None):
        self.root = Path(root).resolve()
        if not self.root.is_dir():
            raise LintError(f"--repo {root}: no such directory")
        self.paths = {k: v for k, v in (paths or {}).items() if v}
        self.services = {}
        self.compose_files = []
        for path in self._compose_paths():
            document = load_document(path, self.root)
            self.compose_files.append(document)
            for name, spec in ((document.data or {}).get("services") or {}).items():
                self.services[name] = _service(name, spec or {}, document)

    def _given(self, key):
        value = self.paths.get(key)
        return [self.root / p.strip() for p in str(value).split(",") if p.strip()] if value else None

    def _compose_paths(self):
        given = self._given("compose")
        if given is not None:
            missing = [str(p) for p in given if not p.is_file()]
            if missing:
                raise LintError(f"lint.compose: no file {', '.join(missing)}")
            return given
        return [p for p in _find(self.root, COMPOSE_NAMES, limit=2)]

    def service(self, role):
        """The first service running `role`'s image (grafana, loki, promtail), or None."""
        return next((s for s in self.services.values() if s.role == role), None)

    def config_file(self, role, names):
        """The config file of Loki or Promtail: the site file's, the one mounted into its service, or one
        found by name. None when there is none."""
        given = self._given(f"{role}_config")
        if given:
            return given[0]
        service = self.service(role)
        if service is not None:
            flag = re.search(r"-config\.file[= ](\S+)", service.command)
            for mount in service.mounts:
                if mount.host is not None and mount.host.is_file() and mount.host.suffix in (".yml", ".yaml"):
                    if flag is None or flag.group(1) == mount.target:
                        return mount.host
        found = _find(self.root, names)
        return found[0] if found else None

    def grafana_provisioning(self):
        """The host directory mounted as Grafana's provisioning (/etc/grafana/provisioning), the site file's,
        or a directory named provisioning holding alerting/ or datasources/. None when there is none."""
        given = self._given("grafana_provisioning")
        if given:
            return given[0]
        grafana = self.service("grafana")
        if grafana is not None:
            host = grafana.container_path_on_host("/etc/grafana/provisioning")
            if host is not None and host.is_dir():
                return host
        for path in sorted(self.root.rglob("provisioning")):
            if path.is_dir() and ((path / "alerting").is_dir() or (path / "datasources").is_dir()):
                return path
        return None

    def provisioning_files(self, kind):
        """The YAML/JSON files of one provisioning kind (alerting, datasources, dashboards)."""
        base = self.grafana_provisioning()
        if base is None or not (base / kind).is_dir():
            return []
        return [load_document(p, self.root) for p in sorted((base / kind).iterdir())
                if p.is_file() and p.suffix in (".yml", ".yaml", ".json")
                and not (kind == "dashboards" and p.suffix == ".json")]

    def dashboard_files(self):
        """(host path, path inside the Grafana container or None) of every dashboard JSON: those mounted
        into Grafana, else those under the site file's lint.dashboards, else any *.json with panels."""
        grafana = self.service("grafana")
        found = {}
        if grafana is not None:
            for mount in grafana.mounts:
                if mount.host is None or not mount.host.exists():
                    continue
                files = [mount.host] if mount.host.is_file() else sorted(mount.host.rglob("*.json"))
                for path in files:
                    if path.suffix == ".json":
                        inside = PurePosixPath(mount.target) / path.relative_to(mount.host) \
                            if mount.host.is_dir() else PurePosixPath(mount.target)
                        found[path] = str(inside)
        given = self._given("dashboards")
        for base in given or ():
            for path in ([base] if base.is_file() else sorted(base.rglob("*.json"))):
                found.setdefault(path, None)
        return sorted(found.items())


def _service(name, spec, document):
    base = document.path.parent
    service = Service(name, document, image=str(spec.get("image") or ""))
    for index, item in enumerate(spec.get("volumes") or ()):
        line = document.line(("services", name, "volumes", index))
        if isinstance(item, dict):
            source, target = str(item.get("source") or ""), str(item.get("target") or "")
        else:
            parts = str(item).split(":")
            source, target = (parts[0], parts[1]) if len(parts) > 1 else ("", parts[0])
        host = None
        if source.startswith(("/", ".", "~")):
            host = Path(source) if source.startswith("/") else (base / source).resolve()
        service.mounts.append(Mount(source, target, host, line))
    for item in spec.get("ports") or ():
        if isinstance(item, dict):
            service.ports.append((str(item.get("published") or ""), str(item.get("target") or "")))
            continue
        parts = str(item).split("/")[0].split(":")
        service.ports.append((parts[-2] if len(parts) > 1 else "", parts[-1]))
    environment = spec.get("environment") or {}
    if isinstance(environment, list):
        environment = dict(str(e).split("=", 1) if "=" in str(e) else (str(e), "") for e in environment)
    service.environment = {str(k): "" if v is None else str(v) for k, v in environment.items()}
    command = spec.get("command") or ""
    service.command = " ".join(map(str, command)) if isinstance(command, list) else str(command)
    return service
