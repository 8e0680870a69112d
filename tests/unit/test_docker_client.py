"""The Docker client's parsing and its errors when there is no engine (no engine needed here)."""

from datetime import datetime, timezone

import pytest

from opsverify.clients.docker import ContainerState, DockerClient, engine_url, parse_time
from opsverify.clients.http import Unreachable


def test_docker_times_have_nanoseconds_and_a_zero_value():
    assert parse_time("2026-11-28T16:00:01.532123456Z") == datetime(2026, 11, 28, 16, 0, 1, 532123,
                                                                    tzinfo=timezone.utc)
    assert parse_time("2026-11-28T16:00:01Z") == datetime(2026, 11, 28, 16, 0, 1, tzinfo=timezone.utc)
    assert parse_time("0001-01-01T00:00:00Z") is None


def test_state_from_inspect():
    state = ContainerState.from_attrs({
        "Name": "/escashop-backend-prod", "RestartCount": 2,
        "State": {"Status": "running", "Running": True, "StartedAt": "2026-11-28T15:52:03.088Z",
                  "FinishedAt": "0001-01-01T00:00:00Z", "OOMKilled": False, "ExitCode": 0,
                  "Health": {"Status": "healthy"}},
        "Config": {"Image": "escashop/backend:1.4.2", "User": "node"}})
    assert (state.name, state.running, state.restart_count, state.health, state.user) == (
        "escashop-backend-prod", True, 2, "healthy", "node")
    assert state.finished_at is None and state.started_at.minute == 52


def test_engine_url_precedence(monkeypatch):
    monkeypatch.setenv("DOCKER_HOST", "unix:///run/user/1000/docker.sock")
    assert engine_url("tcp://127.0.0.1:2375") == "tcp://127.0.0.1:2375"
    assert engine_url("") == "unix:///run/user/1000/docker.sock"
    monkeypatch.delenv("DOCKER_HOST")
    assert engine_url("") == "unix:///var/run/docker.sock"


def test_no_engine_names_the_engine_and_how_to_point_at_one(tmp_path):
    client = DockerClient(f"unix://{tmp_path}/nothing.sock", timeout=2)
    with pytest.raises(Unreachable) as err:
        client.container("escashop-backend-prod")
    text = str(err.value)
    assert text.startswith(f"Docker: GET unix://{tmp_path}/nothing.sock/_ping no engine answered")
    assert "DOCKER_HOST" in text
