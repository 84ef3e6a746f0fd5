"""The KVM probe, run for real and once per boot: the test guest of `labctl.lab.providers.libvirt.kvmjudge` under
KVM and under TCG (both at once: the probe takes as long as the slower run, ~0.1 s here), the
verdict kept in <cache>/kvm-probe.json.

The cache is keyed by the boot id (a reboot may change firmware settings, modules, nested
virtualization), the user (who may or may not open /dev/kvm) and the qemu binary (installing
or upgrading qemu is the usual fix of a bad verdict).
"""

from __future__ import annotations

import errno
import json
import logging
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from labctl.lab.host.cachedir import default_cache_root
from labctl.lab.host.processes import boot_id
from labctl.lab.providers.libvirt.kvmjudge import (
    DEVICE_ABSENT,
    DEVICE_NO_ACCESS,
    DEVICE_PRESENT,
    QEMU,
    GuestRun,
    ProbeResult,
    firmware_image,
    judge,
    qemu_command,
)

log = logging.getLogger(__name__)

CACHE_FILE = "kvm-probe.json"
KVM_DEVICE = Path("/dev/kvm")
# The guest exits after three instructions: these limits only catch a guest that never runs.
KVM_TIMEOUT = 5.0
TCG_TIMEOUT = 10.0


def device_state(device: Path = KVM_DEVICE) -> str:
    """absent, no access (this user cannot open it) or present (it opens read-write)."""
    try:
        fd = os.open(device, os.O_RDWR | os.O_CLOEXEC)
    except OSError as exc:
        return DEVICE_NO_ACCESS if exc.errno in (errno.EACCES, errno.EPERM) else DEVICE_ABSENT
    os.close(fd)
    return DEVICE_PRESENT


def run_guests(qemu: str, timeouts: dict[str, float], image: bytes | None = None) -> dict[str, GuestRun]:
    """The test guest (or IMAGE) under each accelerator of TIMEOUTS (kvm, tcg), all at once."""
    runs: dict[str, GuestRun] = {}
    with tempfile.TemporaryDirectory(prefix="labctl-kvmprobe-") as tmp:
        firmware = Path(tmp, "probe.bin")
        firmware.write_bytes(firmware_image() if image is None else image)
        started: dict[str, tuple[subprocess.Popen[bytes], float, Path]] = {}
        for accel in timeouts:
            # stderr to a file, not a pipe: nobody reads one run's pipe while waiting for the other
            err_path = Path(tmp, f"{accel}.stderr")
            with open(err_path, "wb") as err:
                proc = subprocess.Popen(
                    qemu_command(qemu, str(firmware), accel),
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL,
                    stderr=err,
                )
            started[accel] = (proc, time.monotonic(), err_path)
        for accel, (proc, start, err_path) in started.items():
            limit = timeouts[accel]
            try:
                code: int | None = proc.wait(timeout=max(0.0, start + limit - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
                code = None
            seconds = time.monotonic() - start
            stderr = err_path.read_text(errors="replace")
            runs[accel] = GuestRun(code, stderr, round(seconds, 3), limit)
    return runs


def run_probe(qemu: str | None = None) -> ProbeResult:
    """The probe itself, no cache: QEMU (default: the one on PATH) under KVM (when /dev/kvm
    opens) and under TCG."""
    qemu = qemu or shutil.which(QEMU)
    if qemu is None:
        return judge(DEVICE_ABSENT, None, None, qemu_found=False)
    device = device_state()
    timeouts = {"kvm": KVM_TIMEOUT, "tcg": TCG_TIMEOUT} if device == DEVICE_PRESENT else {"tcg": TCG_TIMEOUT}
    runs = run_guests(qemu, timeouts)
    return judge(device, runs.get("kvm"), runs.get("tcg"))


def cache_key(qemu: str | None) -> dict[str, object]:
    """What a cached verdict holds for: this boot, this user, this qemu binary."""
    identity = "missing"
    if qemu is not None:
        stat = os.stat(qemu)
        identity = f"{os.path.realpath(qemu)}:{stat.st_size}:{stat.st_mtime_ns}"
    return {"boot_id": boot_id(), "uid": os.geteuid(), "qemu": identity}


def cached_result(text: str | None, key: dict[str, object]) -> ProbeResult | None:
    """The verdict in a cache file's TEXT when it was made under KEY, else None."""
    if not text:
        return None
    try:
        data = json.loads(text)
        if data.get("key") != key:
            return None
        return ProbeResult.from_dict(data["result"])
    except (ValueError, KeyError, TypeError, AttributeError):
        return None  # a damaged cache is only a cache: probe again


def probe(cache_root: Path | None = None, fresh: bool = False) -> ProbeResult:
    """The verdict for this boot: from the cache, or probed now and cached."""
    qemu = shutil.which(QEMU)
    key = cache_key(qemu)
    path = (cache_root or default_cache_root()) / CACHE_FILE
    if not fresh:
        try:
            text: str | None = path.read_text()
        except OSError:
            text = None
        cached = cached_result(text, key)
        if cached is not None:
            return cached
    result = run_probe(qemu)
    # A qemu that cannot even emulate is not kept: its fix (a missing firmware file, a library)
    # may not change the binary, and a host loaded enough to time the run out is not a verdict.
    if result.tcg:
        _write_cache(path, {"key": key, "result": result.to_dict()})
    return result


def _write_cache(path: Path, data: dict[str, object]) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f".{path.name}.{os.getpid()}")
        partial.write_text(json.dumps(data, indent=2) + "\n")
        os.replace(partial, path)  # never half a file under the name
    except OSError as exc:
        log.info("KVM probe not cached in %s: %s", path, exc)
