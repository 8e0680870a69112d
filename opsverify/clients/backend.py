"""The backend's own HTTP API: GET /health (no auth) and GET /api/scheduler/status (Bearer JWT)."""

from dataclasses import dataclass

from opsverify.clients.http import HttpClient


@dataclass(frozen=True)
class SchedulerStatus:
    is_scheduled: bool
    is_running: bool
    next_reset: str
    last_reset: object  # ISO-8601 text, or None after a container restart
    timezone: str


class BackendClient(HttpClient):
    system = "Backend"
    hint = "Check the backend container (docker ps; docker logs) and OPSVERIFY_BACKEND_TOKEN"
    HEALTH, SCHEDULER_STATUS = "/health", "/api/scheduler/status"

    def __init__(self, base_url, *, token=None, **kwargs):
        super().__init__(base_url, **kwargs)
        self._token = token

    def health(self):
        response = self.request("GET", self.HEALTH)
        body = self.parse_json(response)
        if not isinstance(body, dict) or "status" not in body:
            raise self.shape_error(response, "no 'status' field")
        return body

    def scheduler_status(self):
        headers = {"Authorization": f"Bearer {self._token.reveal()}"} if self._token else None
        response = self.request("GET", self.SCHEDULER_STATUS, headers=headers)
        body = self.parse_json(response)
        try:
            data = body["data"]
            return SchedulerStatus(
                is_scheduled=bool(data["isScheduled"]), is_running=bool(data["isRunning"]),
                next_reset=str(data["nextReset"]), last_reset=data.get("lastReset"),
                timezone=str(data.get("timezone", "")),
            )
        except (KeyError, TypeError):
            raise self.shape_error(response, "no data.isScheduled / data.nextReset") from None
