"""One virsh kept open for many commands: its interactive shell, fed through a pipe. A virsh
process per command costs about 20 ms of the host's CPU to start and connect; polling a guest
agent's command (guest-exec-status) on six VMs a few times a second that way takes a core from
the emulated guests it waits for. Through an open shell a command costs a few milliseconds.

Each command is followed by an `echo` of a marker that differs from how it is typed (virsh
echoes each line it reads, behind its prompt: see ENV), so everything before the printed marker is that
command's output; virsh's `error: ...` lines come in the same stream (stderr into stdout).

The reply's parsing is pure (split_reply, reply_of); VirshShell owns the process."""

from __future__ import annotations

import itertools
import os
import select
import shlex
import subprocess
import threading
import time

PROMPT = "virsh # "
# virsh reads its commands through readline, which echoes each line behind the prompt; on a
# screen it thinks narrow it scrolls a long line instead ("<" and a tail): a wide dumb one.
ENV = {"TERM": "dumb", "COLUMNS": "10000000"}
_counter = itertools.count(1)


def marker_command(n: int) -> tuple[str, str]:
    """The line that makes virsh print marker N, and the marker as printed: typed in two quoted
    halves, so virsh's echo of the typed line never contains the printed marker."""
    return f"echo '@@labctl''-end-{n}@@'", f"@@labctl-end-{n}@@"


def split_reply(buffer: str, marker: str) -> tuple[str, str] | None:
    """(the command's output, what follows the marker) once BUFFER holds the printed marker at
    the start of a line; None while it does not yet."""
    at = 0
    while True:
        found = buffer.find(marker, at)
        if found < 0:
            return None
        if found == 0 or buffer[found - 1] == "\n" or buffer[:found].endswith(PROMPT):
            end = found + len(marker)
            if end < len(buffer) and buffer[end] == "\n":
                end += 1
            return buffer[:found], buffer[end:]
        at = found + 1


def reply_of(text: str) -> tuple[str, str | None]:
    """One command's output without virsh's prompts and echoed lines: (output, error), the error
    being virsh's last `error:` line without its prefix (None when there is none)."""
    out: list[str] = []
    errors: list[str] = []
    for line in text.splitlines():
        # virsh's prompt and the line it read after it; the prompt may follow output that did not
        # end its line (virsh's own `echo` does not).
        line = line.split(PROMPT, 1)[0]
        if not line.strip():
            continue
        if line.startswith("error: "):
            errors.append(line.removeprefix("error: ").strip())
        else:
            out.append(line)
    return "\n".join(out), (errors[-1] if errors else None)


class VirshShell:
    """`virsh -q -c URI` kept open; call() runs one command and waits for its output. One caller
    at a time (a lock): keep one shell per VM for commands that may wait on that VM."""

    def __init__(self, uri: str) -> None:
        self.uri = uri
        self._proc: subprocess.Popen[bytes] | None = None
        self._pending = ""
        self._lock = threading.Lock()

    def _start(self) -> subprocess.Popen[bytes]:
        if self._proc is None or self._proc.poll() is not None:
            self._proc = subprocess.Popen(
                ["virsh", "-q", "-c", self.uri],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                bufsize=0,
                env={**os.environ, **ENV},
            )
            self._pending = ""
        return self._proc

    def call(self, args: list[str], timeout_s: float) -> tuple[str, str | None]:
        """virsh ARGS: (its output, its error or None). A virsh that has not answered in TIMEOUT_S
        is killed (the next call starts another) and the error says so."""
        with self._lock:
            proc = self._start()
            assert proc.stdin is not None and proc.stdout is not None
            typed, marker = marker_command(next(_counter))
            try:
                proc.stdin.write(f"{shlex.join(args)}\n{typed}\n".encode())
            except (BrokenPipeError, OSError):
                self._kill()
                return "", "virsh exited"
            deadline = time.monotonic() + timeout_s
            buffer = self._pending
            while (found := split_reply(buffer, marker)) is None:
                left = deadline - time.monotonic()
                ready = select.select([proc.stdout], [], [], max(0.0, left))[0] if left > 0 else []
                if not ready:
                    self._kill()
                    return "", f"virsh did not answer in {timeout_s:g} s"
                chunk = os.read(proc.stdout.fileno(), 65536)
                if not chunk:
                    self._kill()
                    out, error = reply_of(buffer)
                    return out, error or "virsh exited"
                buffer += chunk.decode(errors="replace")
            text, self._pending = found
            return reply_of(text)

    def _kill(self) -> None:
        if self._proc is not None:
            self._proc.kill()
            self._proc.wait()
        self._proc = None
        self._pending = ""

    def close(self) -> None:
        with self._lock:
            if self._proc is not None and self._proc.poll() is None:
                assert self._proc.stdin is not None
                try:
                    self._proc.stdin.close()
                    self._proc.wait(timeout=5)
                except (OSError, subprocess.TimeoutExpired):
                    pass
            self._kill()
