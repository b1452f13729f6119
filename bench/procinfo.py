"""Resource use of a running process, read from ``/proc`` (Linux only, no extra dependency)."""

from __future__ import annotations

import os
import platform
import sys
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

MIB = 1024 * 1024
_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True, slots=True)
class Usage:
    """Resident memory now and at its peak, and CPU seconds (user + system) since start."""

    rss_bytes: int
    peak_rss_bytes: int
    cpu_seconds: float

    @property
    def rss_mib(self) -> float:
        return self.rss_bytes / MIB

    @property
    def peak_rss_mib(self) -> float:
        return self.peak_rss_bytes / MIB


def _kib_field(status: str, name: str) -> int:
    for line in status.splitlines():
        key, _, value = line.partition(":")
        if key == name:
            return int(value.split()[0]) * 1024
    raise ValueError(f"{name} is missing from /proc status")


def usage(pid: int) -> Usage:
    """The process's ``VmRSS``, ``VmHWM`` and ``utime + stime``."""
    status = Path(f"/proc/{pid}/status").read_text()
    stat = Path(f"/proc/{pid}/stat").read_text()
    # Fields after the command name (which may hold spaces) start at field 3 (state);
    # utime and stime are fields 14 and 15.
    fields = stat.rsplit(")", 1)[1].split()
    ticks = int(fields[11]) + int(fields[12])
    return Usage(
        rss_bytes=_kib_field(status, "VmRSS"),
        peak_rss_bytes=_kib_field(status, "VmHWM"),
        cpu_seconds=ticks / _CLOCK_TICKS,
    )


def machine() -> dict[str, Any]:
    """What the numbers were measured on."""
    model = ""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                model = line.partition(":")[2].strip()
                break
    meminfo = Path("/proc/meminfo").read_text() if Path("/proc/meminfo").exists() else ""
    memory = _kib_field(meminfo, "MemTotal") if "MemTotal" in meminfo else 0
    return {
        "cpus": os.cpu_count(),
        "cpu_model": model,
        "memory_gib": round(memory / (1024 * MIB), 1),
        "kernel": platform.release(),
        "python": sys.version.split()[0],
        "kopf": metadata.version("kopf"),
    }
