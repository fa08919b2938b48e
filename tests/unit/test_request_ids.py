"""Request ids made by the API's middleware for requests that bring none."""

from __future__ import annotations

import os
import re

from api.middleware import _RequestIds


def test_ids_are_32_hex_digits_and_never_repeat_in_a_process() -> None:
    ids = _RequestIds()
    made = [ids.next() for _ in range(10_000)]
    assert all(re.fullmatch(r"[0-9a-f]{32}", i) for i in made)
    assert len(set(made)) == len(made)


def test_two_processes_do_not_share_ids() -> None:
    # A forked API worker starts its own random half: the same counter value in two
    # processes still gives two ids.
    ids = _RequestIds()
    parent = ids.next()
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report its first id and leave at once
        os.write(write, ids.next().encode())
        os._exit(0)
    os.close(write)
    os.waitpid(pid, 0)
    child = os.read(read, 64).decode()
    os.close(read)
    assert len(child) == 32 and child[:16] != parent[:16]
