"""Dovecot (Debian's `dovecot-imapd`) as the development and test IMAP server.

Started with its own configuration file under a data folder, IMAP only, plain-text logins
on a loopback port (no TLS: loopback only). When started as root, login processes run as
`dovenull` and mail processes as `dovecot`, which owns the Maildirs; started as another user,
everything runs as that user. Each user has a passwd-file of its own (`users/{address}`),
so a mailbox added while Dovecot runs can log in at once (Dovecot re-reads a changed file at
most once a second, so a password changed twice within a second may take a second to count).

    root/
      dovecot.conf   users/{address} (passwd-files, mode 600)   dovecot.log
      run/  state/   mail/{domain}/{local}/Maildir   (INBOX, .Sent, ...)
"""

from __future__ import annotations

import contextlib
import grp
import os
import pwd
import shutil
import signal
import socket
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

SENT = "Sent"
_SUBDIRS = ("cur", "new", "tmp")


class DovecotError(RuntimeError):
    pass


def dovecot_binary() -> str:
    found = shutil.which("dovecot") or (
        "/usr/sbin/dovecot" if Path("/usr/sbin/dovecot").exists() else None
    )
    if not found:
        raise DovecotError(
            "dovecot is not installed (Debian package dovecot-imapd; `make install` adds it)"
        )
    return found


def _ids(name: str) -> tuple[int, int] | None:
    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        return None
    return entry.pw_uid, entry.pw_gid


@dataclass
class Dovecot:
    root: Path
    port: int
    host: str = "127.0.0.1"
    _process: subprocess.Popen[bytes] | None = field(default=None, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    @property
    def as_root(self) -> bool:
        return os.geteuid() == 0

    @property
    def mail_owner(self) -> tuple[int, int]:
        if self.as_root:
            ids = _ids("dovecot")
            if ids is None:
                raise DovecotError("the `dovecot` system user is missing")
            return ids
        return os.geteuid(), os.getegid()

    @property
    def users_dir(self) -> Path:
        return self.root / "users"

    @property
    def config_file(self) -> Path:
        return self.root / "dovecot.conf"

    @property
    def log_file(self) -> Path:
        return self.root / "dovecot.log"

    def maildir(self, address: str) -> Path:
        local, _, domain = address.lower().rpartition("@")
        return self.root / "mail" / domain / local / "Maildir"

    def folder(self, address: str, name: str | None = None) -> Path:
        """A folder's Maildir: INBOX (None) or a Maildir++ sub-folder like `Sent`."""
        base = self.maildir(address)
        return base if name is None else base / f".{name}"

    # -- users and Maildirs -------------------------------------------------------------------

    def add_user(self, address: str, password: str) -> None:
        """Add or replace a user (Dovecot picks the change up on the next login)."""
        address = address.lower()
        if any(c in address + password for c in ":\n\r"):
            raise ValueError("user names and passwords may not contain ':' or line breaks")
        if "/" in address or address.startswith("."):
            raise ValueError(f"{address!r} cannot name a user file")
        with self._lock:
            target = self.users_dir / address
            tmp = self.users_dir / f".{address}.tmp"
            tmp.write_text(f"{address}:{{PLAIN}}{password}::::::\n")
            tmp.chmod(0o600)
            os.chown(tmp, *self.mail_owner)  # the auth process reads it as the mail user
            os.replace(tmp, target)
        self.ensure_folders(address)

    def has_user(self, address: str) -> bool:
        address = address.lower()
        return "/" not in address and (self.users_dir / address).is_file()

    def ensure_folders(self, address: str) -> None:
        uid, gid = self.mail_owner
        for folder in (self.folder(address), self.folder(address, SENT)):
            for sub in _SUBDIRS:
                path = folder / sub
                path.mkdir(parents=True, exist_ok=True)
        # Every directory from the domain down belongs to the mail user.
        top = self.maildir(address).parent.parent
        for path in [top, *top.rglob("*")]:
            if path.is_dir():
                os.chown(path, uid, gid)
        subscriptions = self.maildir(address) / "subscriptions"
        if not subscriptions.exists():
            subscriptions.write_text(f"{SENT}\n")
            os.chown(subscriptions, uid, gid)

    def deliver(self, address: str, raw: bytes, folder: str | None = None) -> Path:
        """Write a message into a user's folder the Maildir way (tmp, then rename to new)."""
        self.ensure_folders(address)
        target = self.folder(address, folder)
        uid, gid = self.mail_owner
        name = f"{time.time_ns()}.P{os.getpid()}Q{threading.get_ident()}.{socket.gethostname()}"
        tmp = target / "tmp" / name
        tmp.write_bytes(raw)
        os.chown(tmp, uid, gid)
        final = target / "new" / name
        os.replace(tmp, final)
        return final

    # -- process ------------------------------------------------------------------------------

    def write_config(self) -> None:
        for sub in ("run", "state", "mail"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        self.users_dir.mkdir(mode=0o700, exist_ok=True)
        uid, gid = self.mail_owner
        os.chown(self.users_dir, uid, gid)
        os.chown(self.root / "mail", uid, gid)
        if self.as_root:
            identity = "default_login_user = dovenull\ndefault_internal_user = dovecot\n"
            owner = "uid=dovecot gid=dovecot"
        else:
            user = pwd.getpwuid(os.geteuid()).pw_name
            group = grp.getgrgid(os.getegid()).gr_name
            identity = (
                f"default_login_user = {user}\ndefault_internal_user = {user}\n"
                f"default_internal_group = {group}\n"
            )
            owner = f"uid={os.geteuid()} gid={os.getegid()}"
        self.config_file.write_text(
            f"""# Written by devstack.dovecot: development and tests only.
base_dir = {self.root}/run
state_dir = {self.root}/state
log_path = {self.log_file}
protocols = imap
listen = {self.host}
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
{identity}first_valid_uid = 0
first_valid_gid = 0
mail_location = maildir:~/Maildir
mail_privileged_group =
namespace inbox {{
  inbox = yes
  separator = /
  mailbox {SENT} {{
    special_use = \\Sent
    auto = subscribe
  }}
}}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%Lu {self.users_dir}/%Lu
}}
userdb {{
  driver = static
  args = {owner} home={self.root}/mail/%Ld/%Ln
}}
service imap-login {{
  inet_listener imap {{
    address = {self.host}
    port = {self.port}
  }}
  inet_listener imaps {{
    port = 0
  }}
  chroot =
}}
service anvil {{
  chroot =
}}
"""
        )

    def start(self, timeout: float = 20.0) -> Dovecot:
        binary = dovecot_binary()
        self.root.mkdir(parents=True, exist_ok=True)
        self.write_config()
        self._process = subprocess.Popen(
            [binary, "-F", "-c", str(self.config_file)],
            stdout=subprocess.DEVNULL,
            stderr=(self.root / "dovecot.stderr").open("ab"),
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise DovecotError(
                    f"dovecot exited with code {self._process.returncode} "
                    f"(see {self.log_file} and {self.root / 'dovecot.stderr'})"
                )
            with (
                contextlib.suppress(OSError),
                socket.create_connection((self.host, self.port), timeout=1) as conn,
            ):
                if conn.recv(64).startswith(b"* OK"):
                    return self
            time.sleep(0.05)
        self.stop()
        raise DovecotError(
            f"dovecot did not answer on {self.host}:{self.port} (see {self.log_file})"
        )

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=5)

    def __enter__(self) -> Dovecot:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


__all__ = ["SENT", "Dovecot", "DovecotError", "dovecot_binary"]
