"""Which process listens on a loopback port, and how much CPU it has used (Linux /proc).

A server's CPU time per request is what its throughput costs when the machine is shared:
unlike requests per second it does not drop when a neighbour takes the other core.
"""

from __future__ import annotations

import os
from pathlib import Path

_TICKS = os.sysconf("SC_CLK_TCK")
_LISTEN = "0A"


def listener_pid(port: int) -> int:
    """The process holding the listening TCP socket on `port` (IPv4 or IPv6)."""
    inodes: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        lines = Path(table).read_text().splitlines()[1:] if Path(table).exists() else []
        for line in lines:
            fields = line.split()
            local, state, inode = fields[1], fields[3], fields[9]
            if state == _LISTEN and int(local.rsplit(":", 1)[1], 16) == port:
                inodes.add(f"socket:[{inode}]")
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            for fd in (proc / "fd").iterdir():
                if os.readlink(fd) in inodes:
                    return int(proc.name)
        except OSError:  # gone, or not ours to read
            continue
    raise LookupError(f"no process listens on port {port}")


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of `pid` so far."""
    # The command name (field 2) may hold spaces: count fields after its closing paren.
    after = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(after[11]) + int(after[12])) / _TICKS
