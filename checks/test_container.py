"""The backend container, from the Docker engine: running, healthy, not restarted during the night."""

import pytest

from opsverify.evidence import not_applicable, require

pytestmark = [pytest.mark.smoke, pytest.mark.nightly]


def _evidence(state):
    return {"name": state.name, "image": state.image, "status": state.status, "health": state.health,
            "RestartCount": state.restart_count, "StartedAt": state.started_at and state.started_at.isoformat(),
            "FinishedAt": state.finished_at and state.finished_at.isoformat(), "OOMKilled": state.oom_killed,
            "ExitCode": state.exit_code, "User": state.user}


@pytest.fixture(scope="session")
def container(docker_engine, settings):
    """The backend container's state (GET /containers/{name}/json)."""
    return docker_engine.container(settings.container)


@pytest.mark.severity("critical")
def test_container_running(container, docker_engine, settings, evidence):
    evidence.add("container", _evidence(container))
    require(container.running, "Docker", f"{docker_engine.base_url}/containers/{settings.container}/json",
            f"container {settings.container} running", f"status {container.status}, exit code {container.exit_code}",
            f"the backend is down: docker logs {settings.container}; docker start {settings.container}")


@pytest.mark.severity("warning")
def test_container_healthy(container, docker_engine, settings, evidence):
    evidence.add("container", _evidence(container))
    if container.health is None:
        not_applicable(f"container {settings.container} defines no healthcheck")
    require(container.health == "healthy", "Docker", f"{docker_engine.base_url}/containers/{settings.container}/json",
            "health healthy", f"health {container.health}",
            f"read the healthcheck's output: docker inspect --format '{{{{json .State.Health}}}}' {settings.container}")


@pytest.mark.severity("warning")
def test_container_not_restarted_in_window(container, docker_engine, night, settings, evidence):
    evidence.add("container", _evidence(container))
    started = container.started_at
    if started and started > night.window_end:
        evidence.add("note", f"started at {night.local(started):%Y-%m-%d %H:%M:%S %Z}, after the night's window: "
                             f"its restarts during the night are judged from the log (test_no_restart_in_window)")
    inside = started is not None and night.window_start <= started <= night.window_end
    require(not inside, "Docker", f"{docker_engine.base_url}/containers/{settings.container}/json",
            f"no start of {settings.container} during the night's window",
            f"started at {night.local(started):%H:%M:%S %Z}" if inside else "",
            "the backend restarted around the reset (downtime): find why in docker logs and the host's journal")


@pytest.mark.severity("warning")
def test_container_not_oom_killed(container, docker_engine, settings, evidence):
    evidence.add("container", _evidence(container))
    require(not container.oom_killed, "Docker", f"{docker_engine.base_url}/containers/{settings.container}/json",
            "OOMKilled false", f"OOMKilled true (finished {container.finished_at})",
            "the kernel killed the backend for memory: raise its memory limit or find the leak")
