"""The floor: the lab's box booted as bare qemu processes, with the qemu settings labctl gives
libvirt, timed to SSH-ready. Nothing of Vagrant or libvirt is involved, so this is the least a
lab of N VMs can take on this machine; bench/up.py prints every figure as a ratio to it.

Each VM gets a qcow2 overlay on the box's image (as vagrant-libvirt does), direct kernel boot
with the lab's command line, TCG with the same translation-cache cap, a lab-segment NIC and a
user-mode NIC whose SSH port is forwarded to 127.0.0.1 of a network namespace made for the
run: nothing leaves that namespace.

Usage: sudo .venv/bin/python -m bench.floor [--vms 6] [--analyze] [--json]
  --analyze: also print where the first VM's boot went (kernel timestamps, systemd-analyze).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
import uuid
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import paramiko

from labctl.lab.host import netns
from labctl.lab.host.state import LabState
from labctl.lab.vms.box import BoxInfo, build_box
from labctl.lab.vms.loginkey import login_key
from labctl.model.lab import LibvirtSettings

INSECURE_KEY_GLOB = "/usr/share/rubygems-integration/all/gems/vagrant-*/keys/vagrant"

SSH_BASE_PORT = 2200


@dataclass
class FloorResult:
    vms: int
    floor_s: float  # until the last VM answered over SSH
    per_vm_s: list[float]
    rss_per_vm_mib: float
    analysis: dict[str, object] = field(default_factory=dict)


def cached_box(folder: Path) -> BoxInfo:
    """A box of the cache by its folder (to measure an older box against the current one)."""
    info = json.loads((folder / "box.json").read_text())
    return BoxInfo(
        name=info["name"], hash=info["hash"], suite=info["suite"], path=folder, box_file=folder / "labctl.box",
        kernel=folder / "vmlinuz", initrd=folder / "initrd.img", size=(folder / "labctl.box").stat().st_size,
    )  # fmt: skip


def extract_image(box: BoxInfo, into: Path) -> Path:
    """box.img out of the .box archive (once per bench run)."""
    with tarfile.open(box.box_file) as archive:
        member = archive.getmember("box.img")
        archive.extract(member, into, filter="data")
    return into / "box.img"


def overlay(base: Path, path: Path) -> Path:
    subprocess.run(
        ["qemu-img", "create", "-q", "-f", "qcow2", "-F", "qcow2", "-b", str(base), str(path)],
        check=True,
    )
    return path


def qemu_argv(box: BoxInfo, disk: Path, index: int, settings: LibvirtSettings, memory: int, console: Path) -> list[str]:
    """What libvirt runs for a lab VM, minus libvirt: same accelerator, CPU, memory, boot."""
    mac = f"52:54:00:fe:00:{index:02x}"
    return [
        shutil.which("qemu-system-x86_64") or "/usr/bin/qemu-system-x86_64",
        "-accel",
        f"tcg,tb-size={settings.tb_size}",
        "-machine",
        "pc",
        "-cpu",
        "qemu64",
        "-m",
        str(memory),
        "-smp",
        "1",
        "-display",
        "none",
        "-vga",
        "none",
        "-no-user-config",
        "-nodefaults",
        "-serial",
        f"file:{console}",
        "-kernel",
        str(box.kernel),
        "-initrd",
        str(box.initrd),
        "-append",
        settings.cmd_line,
        "-drive",
        f"file={disk},if=virtio,format=qcow2",
        "-netdev",
        f"user,id=mgmt,restrict=on,hostfwd=tcp:127.0.0.1:{SSH_BASE_PORT + index}-:22",
        "-device",
        "virtio-net-pci,netdev=mgmt",
        # The lab segment: a socket link on loopback inside the namespace, like libvirt's bridge.
        "-netdev",
        "socket,id=lab,mcast=230.0.0.1:1234,localaddr=127.0.0.1",
        "-device",
        f"virtio-net-pci,netdev=lab,mac={mac}",
    ]


def throwaway_login_key(folder: Path) -> tuple[paramiko.PKey, str]:
    """A login key for this run, as a lab has one: the private key, and the kernel command-line
    parameter that hands its public half to the VMs (labctl.lab.vms.loginkey)."""
    key = login_key(LabState(folder / "state"))
    return paramiko.Ed25519Key.from_private_key_file(str(key.private_path)), key.cmdline()


def banner_seen(namespace: str, port: int) -> bool:
    """sshd's banner within 3 s. qemu's user network accepts the connection at once, whether the
    guest listens or not: only the banner says sshd is there (a long paramiko timeout instead
    would add up to its length to the figure)."""
    try:
        with netns.connect_in(namespace, "127.0.0.1", port, timeout=3.0) as sock:
            sock.settimeout(3.0)
            return sock.recv(4).startswith(b"SSH-")
    except OSError:
        return False


def older_box_keys() -> list[paramiko.PKey]:
    """Vagrant's insecure key, which boxes before labctl's login key (box format 1) accept: so
    that an older box's floor can be measured against the current one's."""
    import glob

    return [paramiko.RSAKey.from_private_key_file(p) for p in glob.glob(INSECURE_KEY_GLOB)]


def ssh_ready(namespace: str, port: int, key: paramiko.PKey, deadline: float) -> paramiko.SSHClient | None:
    """Log in as vagrant and run `true`, retrying every half second until DEADLINE."""
    while time.monotonic() < deadline:
        if not banner_seen(namespace, port):
            time.sleep(0.5)
            continue
        try:
            sock = netns.connect_in(namespace, "127.0.0.1", port, timeout=5.0)
            client = paramiko.SSHClient()
            client.set_missing_host_key_policy(paramiko.AutoAddPolicy())  # throwaway VMs of the bench
            client.connect(
                "127.0.0.1", port, "vagrant", pkey=key, sock=sock, timeout=30, banner_timeout=30,
                auth_timeout=30, look_for_keys=False, allow_agent=False,
            )  # fmt: skip
            _, out, _ = client.exec_command("true", timeout=10)
            if out.channel.recv_exit_status() == 0:
                return client
            client.close()
        except (OSError, EOFError, paramiko.SSHException):
            pass
        time.sleep(0.5)
    return None


def run_remote(client: paramiko.SSHClient, command: str) -> str:
    _, out, err = client.exec_command(command, timeout=60)
    return out.read().decode(errors="replace") + err.read().decode(errors="replace")


def qemu_rss_mib(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1])
    return total / 1024 / max(len(pids), 1)


def analyze(client: paramiko.SSHClient) -> dict[str, object]:
    """Where the boot went, as the guest saw it."""
    return {
        "systemd_analyze": run_remote(client, "systemd-analyze 2>&1 | head -3").strip(),
        "blame": run_remote(client, "systemd-analyze blame 2>&1 | head -15").strip().splitlines(),
        "critical_chain": run_remote(client, "systemd-analyze critical-chain 2>&1 | head -25").strip().splitlines(),
        "kernel_milestones": run_remote(
            client,
            "sudo dmesg | grep -E 'Unpacking initramfs|Freeing initrd|Run /init|EXT4-fs \\(vda\\)|"
            "systemd\\[1\\]: systemd|Freeing unused kernel' | head -12",
        )
        .strip()
        .splitlines(),
    }


def measure_floor(
    box: BoxInfo, vms: int = 6, memory: int = 256, do_analyze: bool = False, cmd_line: str | None = None
) -> FloorResult:
    settings = LibvirtSettings()
    if cmd_line:
        settings = replace(settings, cmd_line=cmd_line)
    logging.getLogger("paramiko").setLevel(logging.CRITICAL)  # refused attempts while booting are expected
    namespace = f"labctl-floor-{uuid.uuid4().hex[:6]}"
    procs: list[subprocess.Popen[bytes]] = []
    with tempfile.TemporaryDirectory(prefix="labctl-floor-") as tmp:
        work = Path(tmp)
        key, key_parameter = throwaway_login_key(work)
        if json.loads((box.path / "box.json").read_text()).get("format", 1) < 2:
            key = older_box_keys()[0]
        settings = replace(settings, cmd_line=f"{settings.cmd_line} {key_parameter}")
        base = extract_image(box, work)
        disks = [overlay(base, work / f"vm{i}.qcow2") for i in range(vms)]
        netns.create(namespace)
        try:
            started = time.monotonic()
            for i, disk in enumerate(disks):
                argv = qemu_argv(box, disk, i, settings, memory, work / f"console{i}.log")
                procs.append(subprocess.Popen(netns.exec_argv(namespace, argv), stdin=subprocess.DEVNULL))
            ready: list[float] = [0.0] * vms
            clients: list[paramiko.SSHClient | None] = [None] * vms

            def wait(i: int) -> None:
                clients[i] = ssh_ready(namespace, SSH_BASE_PORT + i, key, started + 600)
                ready[i] = round(time.monotonic() - started, 2)

            threads = [threading.Thread(target=wait, args=(i,)) for i in range(vms)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            if any(c is None for c in clients):
                raise SystemExit(f"floor: {sum(c is None for c in clients)} VM(s) never answered SSH; see {work}")
            result = FloorResult(vms, max(ready), ready, round(qemu_rss_mib([p.pid for p in procs]), 1))
            first = clients[0]
            if do_analyze and first is not None:
                result.analysis = analyze(first)
            for client in clients:
                if client is not None:
                    client.close()
            return result
        finally:
            for proc in procs:  # only the qemu processes this run started, by PID
                proc.kill()
                proc.wait()
            netns.delete(namespace)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--vms", type=int, default=6)
    parser.add_argument("--memory", type=int, default=256)
    parser.add_argument("--analyze", action="store_true")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--box", help="a box folder of the cache (default: the current box, built when missing)")
    parser.add_argument("--cmd-line", help="kernel command line (default: the lab's)")
    args = parser.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("bench/floor.py needs root (network namespace)")
    # A TERM ends the run through the cleanup below: the VMs stopped, the namespace removed.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    box = cached_box(Path(args.box)) if args.box else build_box()
    result = measure_floor(box, args.vms, args.memory, args.analyze, args.cmd_line)
    if args.json:
        json.dump(asdict(result), sys.stdout, indent=2)
        print()
        return
    print(f"floor: {result.vms} bare qemu VMs SSH-ready after {result.floor_s} s (each: {result.per_vm_s})")
    print(f"qemu RSS per VM: {result.rss_per_vm_mib} MiB")
    for key, value in result.analysis.items():
        print(f"--- {key}")
        print("\n".join(value) if isinstance(value, list) else value)


if __name__ == "__main__":
    main()
