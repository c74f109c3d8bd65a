"""Which local process is on the other end of a connection to the local endpoint (Linux).

The local endpoint's ``--local-clients started`` policy answers only the candidate client
the agent started (and its descendants: Chromium's network service is a child of the
browser). An ``Origin`` header proves nothing to a non-browser client, which may send any;
the socket's owner, as the kernel knows it, cannot be forged by such a process.

``connection_in_tree(client_port, server_port, root_pid)``: find the client side of the TCP
connection 127.0.0.1:client_port → 127.0.0.1:server_port in ``/proc/net/tcp`` (and tcp6),
then look for that socket among the open files of ``root_pid`` and its descendants. It
needs ``/proc`` and the right to read those processes' ``fd`` directories (the agent's own
children, or any process for root).
"""
from __future__ import annotations

import os
from pathlib import Path

PROC = Path("/proc")


def supported() -> bool:
    return (PROC / "net" / "tcp").exists()


def socket_inode(client_port: int, server_port: int) -> int | None:
    """The inode of the socket whose local port is ``client_port`` and remote port is
    ``server_port`` (the client's side of a loopback connection), or None."""
    for table in ("tcp", "tcp6"):
        try:
            lines = (PROC / "net" / table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            try:
                local, remote, inode = fields[1], fields[2], int(fields[9])
                if int(local.rsplit(":", 1)[1], 16) == client_port and \
                        int(remote.rsplit(":", 1)[1], 16) == server_port and inode:
                    return inode
            except (IndexError, ValueError):
                continue
    return None


def descendants(root_pid: int) -> list[int]:
    """``root_pid`` and every process below it (a snapshot of /proc)."""
    children: dict[int, list[int]] = {}
    for entry in PROC.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [root_pid]
    while todo and len(found) < 4096:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, ()))
    return found


def owns_socket(pid: int, inode: int) -> bool:
    target = f"socket:[{inode}]"
    try:
        fds = os.listdir(PROC / str(pid) / "fd")
    except OSError:
        return False
    for fd in fds:
        try:
            if os.readlink(PROC / str(pid) / "fd" / fd) == target:
                return True
        except OSError:
            continue
    return False


def start_time(pid: int) -> int | None:
    """The process's start time in clock ticks since boot (with the pid, it names one
    process: a pid reused later has another), or None."""
    try:
        return int((PROC / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[19])
    except (OSError, ValueError, IndexError):
        return None


def connection_in_tree(client_port: int, server_port: int, root_pid: int | None) -> bool:
    """Whether the connection from ``client_port`` to our ``server_port`` belongs to
    ``root_pid`` or one of its descendants (False when it cannot be known)."""
    if not root_pid or not supported():
        return False
    inode = socket_inode(client_port, server_port)
    if inode is None:
        return False
    return any(owns_socket(pid, inode) for pid in descendants(root_pid))
