"""Docker Engine API through the docker SDK: the backend container's state and its log
(GET /containers/{id}/json, GET /containers/{id}/logs). The SDK is imported where first needed."""

import os
from dataclasses import dataclass
from datetime import datetime, timezone

from opsverify.clients.http import ClientError, NotFound, Unreachable

DEFAULT_HOST = "unix:///var/run/docker.sock"


def engine_url(configured=""):
    """The engine to ask: the setting, else DOCKER_HOST, else Docker's default socket."""
    return configured or os.environ.get("DOCKER_HOST") or DEFAULT_HOST


def parse_time(text):
    """Docker's RFC 3339 nanosecond times; None for the zero time of a container never stopped."""
    if not text or text.startswith("0001-01-01"):
        return None
    head, _, rest = text.rstrip("Z").partition(".")
    micros = (rest + "000000")[:6] if rest else "000000"
    return datetime.fromisoformat(f"{head}.{micros}").replace(tzinfo=timezone.utc)


@dataclass(frozen=True)
class ContainerState:
    name: str
    image: str
    status: str
    running: bool
    started_at: object  # datetime (UTC) or None
    finished_at: object
    restart_count: int
    oom_killed: bool
    exit_code: int
    health: object  # "healthy" | "unhealthy" | "starting" | None without a healthcheck
    user: str

    @classmethod
    def from_attrs(cls, attrs):
        state, config = attrs.get("State") or {}, attrs.get("Config") or {}
        return cls(
            name=attrs.get("Name", "").lstrip("/"), image=config.get("Image", ""), status=state.get("Status", ""),
            running=bool(state.get("Running")), started_at=parse_time(state.get("StartedAt")),
            finished_at=parse_time(state.get("FinishedAt")), restart_count=int(attrs.get("RestartCount") or 0),
            oom_killed=bool(state.get("OOMKilled")), exit_code=int(state.get("ExitCode") or 0),
            health=(state.get("Health") or {}).get("Status"), user=config.get("User", ""),
        )


class DockerClient:
    system = "Docker"

    def __init__(self, base_url="", timeout=20):
        self.base_url = engine_url(base_url)
        self.timeout = timeout
        self._sdk = None

    def __repr__(self):
        return f"DockerClient({self.base_url!r})"

    @property
    def hint(self):
        return (f"Check that the Docker engine at {self.base_url} runs and that this user may use it "
                f"(set DOCKER_HOST or OPSVERIFY_DOCKER_HOST to the engine)")

    def _client(self):
        if self._sdk is None:
            import docker  # heavy; only runs that look at containers need it
            from docker.errors import DockerException

            try:
                sdk = docker.DockerClient(base_url=self.base_url, timeout=self.timeout)
                sdk.ping()
            except DockerException as exc:
                raise Unreachable(self.system, "GET", self._url("/_ping"), f"no engine answered: {_reason(exc)}",
                                  hint=self.hint) from None
            self._sdk = sdk
        return self._sdk

    def ping(self):
        self._client()

    def container(self, name):
        """The container's state (GET /containers/{name}/json)."""
        from docker.errors import APIError, NotFound as SdkNotFound

        try:
            return ContainerState.from_attrs(self._client().api.inspect_container(name))
        except SdkNotFound:
            raise NotFound(self.system, "GET", self._url(f"/containers/{name}/json"),
                           f"has no container '{name}'", status=404,
                           hint="Check the container's name (OPSVERIFY_CONTAINER) with docker ps -a") from None
        except APIError as exc:
            raise ClientError(self.system, "GET", self._url(f"/containers/{name}/json"), f"answered {exc}",
                              status=getattr(exc, "status_code", None), hint=self.hint) from None

    def logs(self, name, since, until):
        """The container's own log lines in [since, until] (aware datetimes): [(UTC datetime, text)],
        stdout and stderr, as the json-file driver stamped them."""
        from docker.errors import APIError, NotFound as SdkNotFound

        try:
            raw = self._client().api.logs(name, stdout=True, stderr=True, timestamps=True,
                                          since=int(since.timestamp()), until=int(until.timestamp()) + 1)
        except SdkNotFound:
            raise NotFound(self.system, "GET", self._url(f"/containers/{name}/logs"),
                           f"has no container '{name}'", status=404) from None
        except APIError as exc:
            raise ClientError(self.system, "GET", self._url(f"/containers/{name}/logs"), f"answered {exc}",
                              hint=self.hint) from None
        lines = []
        for row in raw.decode("utf-8", errors="replace").splitlines():
            stamp, _, text = row.partition(" ")
            moment = parse_time(stamp)
            if moment is not None and since <= moment <= until:
                lines.append((moment, text))
        return lines

    def _url(self, path):
        return self.base_url.rstrip("/") + path


def _reason(exc):
    text = str(exc)
    for marker in ("No such file or directory", "Connection refused", "Permission denied", "timed out"):
        if marker.lower() in text.lower():
            return marker.lower()
    return type(exc).__name__
