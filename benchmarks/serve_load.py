"""Helpers of ``bench_serve.py``: a server process, HTTP load with wrk, and memory readings.

Load comes from ``wrk`` (Debian's ``wrk`` package) when it is on the PATH. Without it a
small asyncio load generator stands in, so the benchmark still runs (for example in CI's
smoke run); its figures are lower bounds, since it shares the two cores with the server
and is slower than wrk. The report names which tool produced each figure.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import httpx
import numpy as np

__all__ = ["LoadResult", "ServerProcess", "free_port", "run_load", "tree_rss_bytes"]

_WRK_SCRIPT = """
local bodies = {}
local next_body = 1
init = function(args)
  for line in io.lines(args[1]) do bodies[#bodies + 1] = line end
  next_body = math.random(#bodies)
end
request = function()
  next_body = next_body % #bodies + 1
  return wrk.format("POST", nil, {["Content-Type"] = "application/json"}, bodies[next_body])
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{"requests":%d,"microseconds":%d,"socket_errors":%d,"non_2xx":%d,' ..
    '"p50_us":%d,"p99_us":%d}\\n',
    summary.requests, summary.duration, e.connect + e.read + e.write + e.timeout, e.status,
    latency:percentile(50), latency:percentile(99)))
end
"""


@dataclass(frozen=True)
class LoadResult:
    """What one load run measured."""

    tool: str
    requests: int
    seconds: float
    socket_errors: int
    non_2xx: int
    p50_ms: float
    p99_ms: float

    @property
    def rate(self) -> float:
        """Requests per second."""
        return self.requests / self.seconds

    @property
    def failed(self) -> int:
        """Requests that did not get a 2xx answer."""
        return self.socket_errors + self.non_2xx

    def line(self) -> str:
        """One report line."""
        return (
            f"{self.rate:>9,.0f} req/s  p50 {self.p50_ms:6.2f} ms  p99 {self.p99_ms:6.2f} ms  "
            f"{self.requests:,} requests, {self.failed} failed ({self.tool})"
        )


def free_port() -> int:
    """Return a free TCP port on 127.0.0.1."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _wrk_options(seconds: float, connections: int) -> list[str]:
    return ["wrk", "-t2", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--timeout", "5s"]


def _wrk(url: str, bodies: Path, seconds: float, connections: int) -> LoadResult:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(_WRK_SCRIPT)
    try:
        done = subprocess.run(
            [*_wrk_options(seconds, connections), "-s", script.name, url, "--", str(bodies)],
            capture_output=True,
            text=True,
            check=True,
        )
    finally:
        os.unlink(script.name)
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    return LoadResult(
        tool="wrk -t2",
        requests=figures["requests"],
        seconds=figures["microseconds"] / 1e6,
        socket_errors=figures["socket_errors"],
        non_2xx=figures["non_2xx"],
        p50_ms=figures["p50_us"] / 1e3,
        p99_ms=figures["p99_us"] / 1e3,
    )


async def _connection(
    host: str, port: int, request_of: list[bytes], until: float, start: int
) -> tuple[list[float], int, int]:
    latencies: list[float] = []
    failed = socket_errors = 0
    reader, writer = await asyncio.open_connection(host, port)
    turn = start
    try:
        while time.perf_counter() < until:
            turn = (turn + 1) % len(request_of)
            began = time.perf_counter()
            writer.write(request_of[turn])
            head = await reader.readuntil(b"\r\n\r\n")
            length = next(
                int(line.split(b":")[1])
                for line in head.split(b"\r\n")
                if line.lower().startswith(b"content-length:")
            )
            await reader.readexactly(length)
            latencies.append(time.perf_counter() - began)
            failed += not head.startswith(b"HTTP/1.1 2")
    except (OSError, asyncio.IncompleteReadError):
        socket_errors += 1
    finally:
        writer.close()
    return latencies, failed, socket_errors


async def _python_load(
    url: str, bodies: Sequence[bytes], seconds: float, connections: int
) -> LoadResult:
    parsed = httpx.URL(url)
    host, port = parsed.host, parsed.port or 80
    request_of = [
        (
            f"POST {parsed.raw_path.decode()} HTTP/1.1\r\nHost: {host}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        ).encode()
        + body
        for body in bodies
    ]
    began = time.perf_counter()
    until = began + seconds
    results = await asyncio.gather(
        *(
            _connection(host, port, request_of, until, i * 7919 % len(request_of))
            for i in range(connections)
        )
    )
    elapsed = time.perf_counter() - began
    latencies = np.concatenate([np.asarray(r[0]) for r in results]) * 1e3
    return LoadResult(
        tool="python asyncio (wrk not found: a lower bound)",
        requests=len(latencies),
        seconds=elapsed,
        socket_errors=sum(r[2] for r in results),
        non_2xx=sum(r[1] for r in results),
        p50_ms=float(np.percentile(latencies, 50)),
        p99_ms=float(np.percentile(latencies, 99)),
    )


def run_load(
    url: str, bodies: Sequence[bytes], seconds: float, connections: int = 32
) -> LoadResult:
    """POST the bodies round robin to ``url`` over ``connections`` keep-alive connections."""
    if shutil.which("wrk"):
        with tempfile.NamedTemporaryFile("wb", suffix=".jsonl", delete=False) as handle:
            handle.write(b"\n".join(bodies) + b"\n")
        try:
            return _wrk(url, Path(handle.name), seconds, connections)
        finally:
            os.unlink(handle.name)
    return asyncio.run(_python_load(url, bodies, seconds, connections))


def _children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        found.extend(int(child) for child in task.read_text().split())
    return found


def tree_rss_bytes(pid: int) -> int:
    """Resident memory of a process and all its descendants (Linux ``/proc``)."""
    total, pending = 0, [pid]
    while pending:
        current = pending.pop()
        try:
            status = Path(f"/proc/{current}/status").read_text()
            pending.extend(_children(current))
        except (FileNotFoundError, ProcessLookupError):
            continue
        for line in status.splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1]) * 1024
    return total


class ServerProcess:
    """A server started as a subprocess; ``startup_seconds`` is spawn-to-ready time."""

    def __init__(
        self, command: list[str], ready_url: str, env: dict[str, str] | None = None
    ) -> None:
        self.command = command
        self.ready_url = ready_url
        self.env = {**os.environ, **(env or {})}
        self.startup_seconds = float("nan")
        self.process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> ServerProcess:
        began = time.perf_counter()
        self.process = subprocess.Popen(
            self.command, env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        with httpx.Client(timeout=2) as client:
            while True:
                try:
                    if client.get(self.ready_url).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if self.process.poll() is not None:
                    error = self.process.stderr.read().decode() if self.process.stderr else ""
                    sys.exit(f"the server exited early:\n{error[-3000:]}")
                time.sleep(0.01)
        self.startup_seconds = time.perf_counter() - began
        return self

    @property
    def pid(self) -> int:
        """The server's process id."""
        assert self.process is not None
        return self.process.pid

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        assert self.process is not None
        self.process.terminate()
        self.process.wait(60)
