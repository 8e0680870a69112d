"""Real Loki 2.6.1 / Promtail 2.6.1 responses (copied from shared/reference/real-responses), parsed."""

import re
from dataclasses import dataclass
from pathlib import Path

DIR = Path(__file__).parent / "data" / "real-responses"


@dataclass
class Capture:
    status: int
    headers: dict
    body: str


def capture(number):
    """The capture whose file name has `-NN-`: status, headers, body."""
    (path,) = DIR.glob(f"loki-promtail-2.6.1-{number:02d}-*.txt")
    lines = path.read_text(encoding="utf-8").split("\n")
    start = next(i for i, line in enumerate(lines) if line.startswith("HTTP/1.1 "))
    status = int(lines[start].split()[1])
    headers, i = {}, start + 1
    while i < len(lines) and re.match(r"[A-Za-z-]+: ", lines[i]):
        name, _, value = lines[i].partition(":")
        headers[name.strip()] = value.strip()
        i += 1
    rest = lines[i + 1:] if i < len(lines) and not lines[i].strip() else lines[i:]
    body = "\n".join(rest).split("\n### ")[0].strip("\n")  # file 25 holds a second request after its body
    return Capture(status, headers, body)
