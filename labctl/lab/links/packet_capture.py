"""Recording the lab segment with tcpdump, from the host side inside the lab's namespace.

The VMs pay nothing for it and every frame carries one clock (the host's). The capture never
stops a scenario: when it cannot start or dies, `stop()` says why and the report says what is
missing.
"""

from __future__ import annotations

import re
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from labctl.lab.host import netns
from labctl.lab.host.processes import dies_with_parent

SNAPLEN = 160  # Ethernet + IP + TCP headers + an HTTP status line; VRRP and ARP whole
MAX_FRAMES = 1_000_000  # about 180 MB at SNAPLEN: a run can never fill the disk


def capture_filter(port: int) -> str:
    return f"vrrp or arp or (tcp port {port})"


@dataclass(frozen=True)
class CapturePoint:
    """Where the segment can be heard: an interface in a namespace (None: the root one, which
    labctl only uses for a lab that is not isolated)."""

    namespace: str | None
    interface: str
    what: str  # for the report, e.g. "bridge virbr1 (host side of the lab network)"

    def to_dict(self) -> dict[str, Any]:
        return {"namespace": self.namespace, "interface": self.interface, "what": self.what}


class PacketCapture:
    """One tcpdump writing PATH until stop()."""

    def __init__(self, point: CapturePoint, path: Path, port: int = 80, max_frames: int = MAX_FRAMES) -> None:
        self.point = point
        self.path = path
        self.port = port
        self.max_frames = max_frames
        self.log_path = path.with_suffix(".log")
        self.popen: subprocess.Popen[bytes] | None = None
        self.error: str | None = None
        self.started: float | None = None

    def argv(self) -> list[str]:
        # -U: each frame reaches the file when captured, so a killed run keeps what it saw.
        # -Z root: write the file as root (Debian's tcpdump would otherwise drop to a user that
        # cannot write into the results folder).
        return netns.exec_argv(
            self.point.namespace,
            [
                "tcpdump",
                "-i",
                self.point.interface,
                "-n",
                "-U",
                "-s",
                str(SNAPLEN),
                "-c",
                str(self.max_frames),
                "-Z",
                "root",
                "-w",
                str(self.path),
                capture_filter(self.port),
            ],
        )

    def start(self, ready_timeout: float = 10.0) -> bool:
        if shutil.which("tcpdump") is None:
            self.error = "tcpdump is not installed (apt-get install tcpdump)"
            return False
        self.path.parent.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "wb")
        try:
            self.popen = subprocess.Popen(
                dies_with_parent(self.argv()),  # a labctl killed outright leaves no capture running
                stdout=subprocess.DEVNULL,
                stderr=log,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        except OSError as exc:
            self.error = f"cannot start tcpdump: {exc}"
            return False
        finally:
            log.close()
        # tcpdump says "listening on IFACE" once the socket is open: frames before that are lost.
        deadline = time.monotonic() + ready_timeout
        while time.monotonic() < deadline:
            if self.popen.poll() is not None:
                self.error = f"tcpdump exited: {self._log_tail()}"
                return False
            if "listening on" in self._log_text():
                self.started = time.time()
                return True
            time.sleep(0.05)
        self.error = f"tcpdump did not start listening within {ready_timeout:g} s"
        return False

    def stop(self) -> dict[str, Any]:
        """Stop tcpdump and return what it recorded: {ok, frames, dropped, error, ...}."""
        if self.popen is not None and self.popen.poll() is None:
            self.popen.send_signal(signal.SIGINT)  # tcpdump flushes and prints its counters
            try:
                self.popen.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(timeout=5)
        text = self._log_text()
        counts = {
            key: int(n)
            for n, key in re.findall(r"(\d+) packets? (captured|received by filter|dropped by kernel)", text)
        }
        if self.error is None and self.popen is not None and self.popen.returncode not in (0, None, -2):
            self.error = f"tcpdump exited with {self.popen.returncode}: {self._log_tail()}"
        ok = self.error is None and self.path.exists()
        if ok:
            self.log_path.unlink(missing_ok=True)  # its counters are in what we return
        return {
            "ok": ok,
            "file": self.path.name,
            "point": self.point.to_dict(),
            "frames": counts.get("captured"),
            "dropped": counts.get("dropped by kernel"),
            "filter": capture_filter(self.port),
            "snaplen": SNAPLEN,
            "started": self.started,
            "error": self.error,
        }

    def _log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def _log_tail(self) -> str:
        lines = [line for line in self._log_text().splitlines() if line.strip()]
        return lines[-1] if lines else "no output"


class NodeCapture:
    """The fallback where the host cannot hear the lab network (VirtualBox, a lab without a
    sandbox): tcpdump inside the client node, fetched at the end. Its frames carry the node's
    clock; the measured offset (node minus host) goes with the file so decoding corrects it."""

    REMOTE = "/run/labctl/capture.pcap"

    def __init__(
        self,
        access: Any,
        node: str,
        interface: str,
        path: Path,
        port: int = 80,
        clock_offset: Callable[[], float] | None = None,
    ) -> None:
        self.access = access
        self.measure_offset = clock_offset
        self.node = node
        self.interface = interface
        self.path = path
        self.port = port
        self.stream: Any = None
        self.error: str | None = None
        self.offset: float | None = None
        self.started: float | None = None

    def start(self, ready_timeout: float = 15.0) -> bool:
        command = (
            f"rm -f {self.REMOTE}; exec tcpdump -i {self.interface} -n -U -s {SNAPLEN} "
            f"-c {MAX_FRAMES} -Z root -w {self.REMOTE} '{capture_filter(self.port)}' 2>&1"
        )
        said: list[str] = []
        listening = threading.Event()

        def on_line(line: str) -> None:  # tcpdump's stderr: "listening on ..." or an error
            said.append(line.strip())
            listening.set()

        try:
            self.offset = self.measure_offset() if self.measure_offset else 0.0
            self.stream = self.access.stream(self.node, ["sh", "-c", command], sudo=True)
            threading.Thread(target=self._pump, args=(on_line,), daemon=True, name=f"node-capture-{self.node}").start()
            if not listening.wait(ready_timeout):
                self.error = f"tcpdump on {self.node} did not start within {ready_timeout:g} s"
            elif "listening on" not in said[0]:
                self.error = f"tcpdump on {self.node}: {said[0]}"
            else:
                self.started = time.time()
                return True
        except Exception as exc:  # noqa: BLE001 - a capture never stops the scenario
            self.error = f"tcpdump on {self.node}: {exc}"
        return False

    def _pump(self, on_line: Callable[[str], None]) -> None:
        try:
            for line in self.stream:
                on_line(line)
        except Exception:  # noqa: BLE001 - the stream ends when the command is stopped
            pass

    def stop(self) -> dict[str, Any]:
        import base64

        if self.error is None:
            try:
                self.access.run(self.node, ["pkill", "-INT", "-f", f"tcpdump .*{self.REMOTE}"], sudo=True, timeout=30)
                time.sleep(0.5)
                fetched = self.access.run(self.node, ["base64", "-w0", self.REMOTE], sudo=True, timeout=120)
                if not fetched.ok:
                    raise RuntimeError(fetched.stderr.strip() or "cannot read the capture")
                self.path.write_bytes(base64.b64decode(fetched.stdout.strip()))
            except Exception as exc:  # noqa: BLE001 - the report says what is missing
                self.error = f"fetching the capture from {self.node}: {exc}"
        if self.stream is not None:
            try:
                self.stream.stop()
            except Exception:  # noqa: BLE001 - the command may be gone already
                pass
        return {
            "ok": self.error is None and self.path.exists(),
            "file": self.path.name,
            "point": {
                "namespace": None,
                "interface": self.interface,
                "what": f"{self.interface} inside {self.node} (node clock, corrected)",
            },
            "clock_offset": self.offset,
            "frames": None,
            "dropped": None,
            "filter": capture_filter(self.port),
            "snaplen": SNAPLEN,
            "started": self.started,
            "error": self.error,
        }
