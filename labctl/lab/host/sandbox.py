"""A private libvirt for one lab: virtlogd + libvirtd inside the lab's own network namespace.

Why: every lab uses the same 10.10.1.0/24 and the same libvirt network names, and lab traffic
must never leave a namespace we created. So each lab gets

- a network namespace (``labctl-<lab>``) in which libvirt creates its bridges, dnsmasq and qemu;
- a private mount namespace for the daemons, in which the lab's state folder is bind-mounted
  over /run/libvirt, /var/lib/libvirt, /var/log/libvirt, /var/cache/libvirt and /etc/libvirt
  (libvirtd in system mode has those paths compiled in; a config file cannot move them all).
  /run itself is a fresh tmpfs there, so the host's /run/libvirt is never created or touched.

Clients (virsh, vagrant-libvirt) reach the daemon through its socket, which the host sees at
``<state>/libvirt/run/libvirt-sock``: ``qemu:///system?socket=<that path>``.
Paths that libvirtd itself interprets (storage pool targets, logs) are in the daemon's view,
so the storage pool ``default`` at /var/lib/libvirt/images lands in ``<state>/libvirt/lib/images``.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

from labctl.errors import LabctlError
from labctl.lab.host import mgmtnet, netns, safefiles
from labctl.lab.host.cachedir import default_cache_root
from labctl.lab.host.processes import ProcessRecord, boot_id, process_alive, start_time, terminate

# Daemon-view path -> subfolder of <state>/libvirt bind-mounted over it.
_BIND_MOUNTS = {
    "/run/libvirt": "run",
    "/var/lib/libvirt": "lib",
    "/var/log/libvirt": "log",
    "/var/cache/libvirt": "cache",
    "/etc/libvirt": "etc",
}

_REQUIRED_PROGRAMS = {
    "libvirtd": "apt-get install libvirt-daemon-system libvirt-daemon-driver-qemu",
    "virtlogd": "apt-get install libvirt-daemon-system",
    "virsh": "apt-get install libvirt-clients",
    "unshare": "apt-get install util-linux",
    "qemu-system-x86_64": "apt-get install qemu-system-x86",
    "dnsmasq": "apt-get install dnsmasq-base",
}

# Runs inside `ip netns exec NS unshare --mount`: builds the daemons' view, then starts them.
# The folders to bind arrive as descriptors ($1-$5: run, lib, log, cache, etc), opened and
# checked by labctl (root's own, no link on the way): a name could be switched between that
# check and the mount, a descriptor cannot. Both daemons fork into the background and keep
# this mount namespace.
_START_SCRIPT = r"""
set -eu
mount -t tmpfs -o mode=0755,size=64m labctl-run /run
mkdir -p /run/libvirt /run/lock
bind() {
    mount --bind "/proc/self/fd/$1" "$2"
    # mount(8) resolves the descriptor's path by name again: check the mount is the very folder.
    [ "$(stat -L -c %d:%i "/proc/self/fd/$1")" = "$(stat -c %d:%i "$2")" ] ||
        { echo "labctl: $2 is not the folder labctl checked (changed meanwhile?)" >&2; exit 1; }
}
bind "$1" /run/libvirt
bind "$2" /var/lib/libvirt
bind "$3" /var/log/libvirt
bind "$4" /var/cache/libvirt
bind "$5" /etc/libvirt
readlink /proc/self/ns/mnt > /run/libvirt/mntns
virtlogd -d -p /run/libvirt/virtlogd.pid
libvirtd -d -p /run/libvirt/libvirtd.pid
"""

_LIBVIRTD_CONF = """\
# labctl sandbox: only root on this machine may use the socket; no polkit (no system bus here).
unix_sock_group = "root"
unix_sock_ro_perms = "0700"
unix_sock_rw_perms = "0700"
auth_unix_ro = "none"
auth_unix_rw = "none"
log_outputs = "3:file:/var/log/libvirt/libvirtd.log"
"""

# qemu runs as root so it can read images and kernels under any state folder; no per-VM
# mount namespace or cgroups (there is no systemd here), no security driver.
_QEMU_CONF = """\
user = "root"
group = "root"
dynamic_ownership = 0
security_driver = "none"
namespaces = []
cgroup_controllers = []
"""

_VIRTLOGD_CONF = """\
log_outputs = "3:file:/var/log/libvirt/virtlogd.log"
"""

# libvirt starts TCG with a 1 GiB translation cache (~1.5 GB resident per small VM);
# this wrapper asks for a smaller one.
_EMULATOR_WRAPPER = """\
#!/bin/sh
# labctl: run qemu with a {tb_size} MiB TCG translation cache instead of libvirt's 1 GiB.
prev=
for arg do
    shift
    if [ "$prev" = "-accel" ] && [ "$arg" = "tcg" ]; then
        arg="tcg,tb-size={tb_size}"
    fi
    set -- "$@" "$arg"
    prev=$arg
done
exec {qemu} "$@"
"""

POOL_NAME = "default"
SOCKET_LINK_ROOT = Path("/run/labctl-sandbox")
# Host-wide: which state folder owns each sandbox namespace (two folders may hold labs of the
# same name; they must not share one namespace). /run is emptied at boot, as namespaces are.
NAMESPACE_RECORDS = Path("/run/labctl/namespaces")
# The daemons as started (PID, boot id, start time) and their mount namespace: what stop() may
# signal. PIDs and namespace ids are reused after a reboot; the record tells them apart.
PROCESS_RECORD = "labctl-processes.json"
_SOCKET_PATH_MAX = 100  # sun_path is 108 bytes with its NUL; keep a margin
POOL_TARGET = "/var/lib/libvirt/images"  # daemon view: <state>/libvirt/lib/images


class SandboxError(LabctlError, RuntimeError):
    """The sandbox could not be started, stopped or removed; the message names the fix."""


def namespace_for(lab_name: str) -> str:
    """The network namespace name used for lab LAB_NAME."""
    return f"labctl-{lab_name}"


class Sandbox:
    """virtlogd + libvirtd for one lab, inside network namespace NAME, state under STATE_DIR."""

    def __init__(
        self,
        name: str,
        state_dir: Path,
        tb_size_mb: int = 128,
        start_timeout: float = 120.0,
        caps_cache: Path | None = None,
    ) -> None:
        self.name = name
        self._given_dir = Path(os.path.abspath(state_dir))
        self.state_dir = Path(state_dir).resolve()
        self.tb_size_mb = tb_size_mb
        self.start_timeout = start_timeout
        # libvirtd probes qemu for ~7 s on a cold start; its answer is shared between labs.
        self.caps_cache = caps_cache or default_cache_root() / "libvirt" / "qemu-capabilities"

    # --- paths -----------------------------------------------------------------------------

    @property
    def libvirt_dir(self) -> Path:
        return self.state_dir / "libvirt"

    @property
    def socket_path(self) -> Path:
        """Where clients find libvirtd's socket. A unix socket path holds at most 107 bytes,
        and a lab's state folder can sit deep in a home directory: then clients go through a
        short link, /run/labctl-sandbox/<namespace>, to the state folder's run/."""
        real = self.libvirt_dir / "run" / "libvirt-sock"
        if len(str(real).encode()) <= _SOCKET_PATH_MAX:
            return real
        return self.socket_link / "libvirt-sock"

    @property
    def socket_link(self) -> Path:
        return SOCKET_LINK_ROOT / self.name

    def _link_socket_dir(self) -> None:
        target = self.libvirt_dir / "run"
        if self.socket_path.parent != self.socket_link:
            return
        SOCKET_LINK_ROOT.mkdir(parents=True, exist_ok=True)
        if self.socket_link.is_symlink() and Path(os.readlink(self.socket_link)) == target:
            return
        if self.socket_link.is_symlink() or self.socket_link.exists():
            self.socket_link.unlink()
        self.socket_link.symlink_to(target)

    def _unlink_socket_dir(self) -> None:
        if self.socket_link.is_symlink():
            self.socket_link.unlink()

    @property
    def log_dir(self) -> Path:
        """libvirtd.log, virtlogd.log and qemu/<domain>.log (the guests' consoles)."""
        return self.libvirt_dir / "log"

    @property
    def images_dir(self) -> Path:
        """Host view of the storage pool 'default'."""
        return self.libvirt_dir / "lib" / "images"

    @property
    def vagrant_home(self) -> Path:
        return self.state_dir / "vagrant.d"

    @property
    def uri(self) -> str:
        """The libvirt URI for this sandbox (vagrant-libvirt's `lv.uri`, virsh -c)."""
        return f"qemu:///system?socket={quote(str(self.socket_path), safe='/')}"

    def _pid_file(self, daemon: str) -> Path:
        return self.libvirt_dir / "run" / f"{daemon}.pid"

    # --- public API ------------------------------------------------------------------------

    def emulator_path(self) -> Path:
        """The qemu wrapper (smaller TCG cache) to set as vagrant-libvirt's `lv.emulator_path`.

        It sits beside the shared capabilities cache, not in the lab's state: libvirtd probes
        every new emulator path (~4 s) and keys its cached answer by path, so one path for
        all labs lets every lab after the first skip that probe.
        """
        path = self.caps_cache.parent / "bin" / f"qemu-system-x86_64-tcg{self.tb_size_mb}"
        qemu = shutil.which("qemu-system-x86_64") or "/usr/bin/qemu-system-x86_64"
        text = _EMULATOR_WRAPPER.format(tb_size=self.tb_size_mb, qemu=qemu)
        try:
            current = safefiles.read_text(path)
        except FileNotFoundError:
            current = None
        if current != text:
            # libvirtd runs it as root: never written through a link, nor into a foreign folder.
            safefiles.write_file(path, text, 0o755, base=self.caps_cache.parent.parent)
        return path

    def run_argv(self, argv: list[str]) -> list[str]:
        """ARGV wrapped to run inside the sandbox's network namespace."""
        return netns.exec_argv(self.name, argv)

    def vagrant_env(self, base_env: dict[str, str] | None = None) -> dict[str, str]:
        """Environment for vagrant: a VAGRANT_HOME of this lab's own and this libvirt."""
        env = dict(os.environ if base_env is None else base_env)
        env.update(
            {
                "VAGRANT_HOME": str(self.vagrant_home),
                "VAGRANT_DEFAULT_PROVIDER": "libvirt",
                "VAGRANT_CHECKPOINT_DISABLE": "1",  # no phoning home (and no internet anyway)
                "VAGRANT_BOX_UPDATE_CHECK_DISABLE": "1",
                "LIBVIRT_DEFAULT_URI": self.uri,
            }
        )
        return env

    def running(self) -> bool:
        """True when both daemons of this sandbox are alive and its namespace exists."""
        return (
            netns.exists(self.name)
            and self._daemon_pid("libvirtd") is not None
            and self._daemon_pid("virtlogd") is not None
        )

    def start(self) -> None:
        """Start the daemons (a no-op when they run) and wait until libvirtd answers."""
        _require_root()
        _require_programs()
        claimed = self._claim_namespace()
        if self.running():
            self._link_socket_dir()  # /run is emptied at boot: the link may be gone
            if self._load_record() is None:
                self._save_record()  # started by an older labctl: record it now
            return
        try:
            self.stop()  # a half-started sandbox (one daemon dead) starts over cleanly
            self._write_config()
            self._link_socket_dir()
            self._seed_capabilities()
            try:
                netns.create(self.name)
            except netns.NetnsError as exc:
                raise SandboxError(f"cannot create network namespace {self.name}: {exc}") from exc
        except BaseException:
            if claimed:
                self._release_namespace()  # nothing of ours runs under that name: leave it free
            raise
        self._launch()
        self._wait_until_answering()
        self._save_record()
        self._save_capabilities()
        self._ensure_pool()
        self._ensure_management_network()

    def stop(self) -> None:
        """Stop this sandbox's processes: its qemu VMs, dnsmasq, libvirtd and virtlogd.

        Only processes that live in the daemons' private mount namespace (libvirtd and
        everything it started) or whose PID is in one of its pid files are signalled.
        """
        members = [record for record in map(ProcessRecord.of, self.pids()) if record is not None]
        self._save_capabilities()  # now including the wrapper's, probed at the first VM
        vms = [r for r in members if _comm(r.pid).startswith("qemu-system")]
        terminate(vms)
        terminate([r for r in members if r not in vms])
        for leftover in ("libvirtd.pid", "virtlogd.pid", "mntns", PROCESS_RECORD):
            try:
                (self.libvirt_dir / "run" / leftover).unlink(missing_ok=True)
            except OSError:
                pass  # no state folder at all: nothing to tidy

    def destroy(self) -> None:
        """Stop, end whatever still runs in the lab's namespace, remove it and the state parts."""
        if self._given_dir.is_symlink():
            raise SandboxError(f"refusing to destroy the sandbox at {self._given_dir}: it is a symbolic link")
        try:
            for part in (self.libvirt_dir, self.vagrant_home):
                safefiles.check_tree(part, self.state_dir)  # no link, nothing foreign, before any kill
        except safefiles.UnsafePathError as exc:
            raise SandboxError(str(exc)) from exc
        except NotADirectoryError:
            pass  # no state folder to speak of: nothing of it to remove
        self.stop()
        if netns.exists(self.name) and self._namespace_owner() in (None, str(self.state_dir)):
            # The namespace is the lab's own: what still runs in it (vagrant, ssh, probes of
            # this lab) would keep lab addresses alive after the name is gone.
            terminate([r for r in map(ProcessRecord.of, netns.pids_in(self.name)) if r is not None])
            netns.delete(self.name)
        self._release_namespace()
        self._unlink_socket_dir()
        for part in (self.libvirt_dir, self.vagrant_home):
            try:
                safefiles.remove_tree(part, self.state_dir)
            except (OSError, safefiles.UnsafePathError):
                pass  # what cannot be removed safely stays; the state folder then stays too
        if self.state_dir.is_dir() and not self.state_dir.is_symlink() and not any(self.state_dir.iterdir()):
            self.state_dir.rmdir()

    def pids(self) -> list[int]:
        """PIDs of this sandbox's processes (daemons, dnsmasq, qemu).

        They are the processes in the daemons' private mount namespace; when the network
        namespace still exists they must be in it too (a namespace id can be reused later).
        """
        found = {pid for pid in (self._daemon_pid("libvirtd"), self._daemon_pid("virtlogd")) if pid is not None}
        mntns = self._saved_mntns()
        if mntns:
            netns_id = self._netns_id()
            # Everything of the sandbox started after its first daemon: an older process in a
            # namespace with a reused id is not the sandbox's.
            earliest = self._earliest_start()
            for entry in Path("/proc").iterdir():
                if not entry.name.isdigit():
                    continue
                pid = int(entry.name)
                if (
                    _ns_id(pid, "mnt") == mntns
                    and process_alive(pid)
                    and (netns_id is None or _ns_id(pid, "net") == netns_id)
                    and (earliest is None or (start_time(pid) or -1) >= earliest)
                ):
                    found.add(pid)
        return sorted(found)

    def bridges_without_stp(self) -> list[str]:
        """Spanning tree off on every bridge in the sandbox's namespace; the bridges it was on.
        libvirt makes the lab's network a bridge with STP on, where the kernel holds a new port
        (a VM's tap, made anew whenever its qemu starts) 2 s listening and 2 s learning before
        it forwards: a VM resumed from saved memory missed its peers' VRRP adverts that long and
        took their VIPs over (3 of 5 resumes measured). One bridge, no loop: no STP needed."""
        shown = subprocess.run(
            ["ip", "-n", self.name, "-j", "-d", "link", "show", "type", "bridge"], capture_output=True, text=True
        )
        changed = []
        for bridge in bridges_with_stp(shown.stdout):
            argv = ["ip", "-n", self.name, "link", "set", "dev", bridge, "type", "bridge", "stp_state", "0"]
            done = subprocess.run(argv, capture_output=True, text=True)
            if done.returncode == 0:
                changed.append(bridge)
        return changed

    def virsh(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run `virsh -c URI ARGS` (the socket is a file: no network traffic)."""
        proc = subprocess.run(["virsh", "-q", "-c", self.uri, *args], capture_output=True, text=True)
        if check and proc.returncode != 0:
            raise SandboxError(f"virsh {' '.join(args)}: {_last_line(proc.stderr)}")
        return proc

    # --- internals -------------------------------------------------------------------------

    def _write_config(self) -> None:
        try:
            self._write_config_files()
        except OSError as exc:
            raise SandboxError(
                f"cannot write the sandbox state under {self.state_dir}: "
                f"{exc.strerror or exc}; choose a writable state folder"
            ) from exc

    def _root_dir(self, sub: str):
        """A descriptor of <libvirt>/SUB: root's alone from the sandbox folder down (what root
        runs from, its configs, sockets and pid files, must not be anyone else's to change)."""
        return safefiles.open_dir(self.libvirt_dir / sub, self.state_dir.parent, mode=0o755, root_only=True)

    def _write_config_files(self) -> None:
        for sub in _BIND_MOUNTS.values():
            with self._root_dir(sub):
                pass
        with self._root_dir("etc") as etc:
            safefiles.write_at(etc, "libvirtd.conf", _LIBVIRTD_CONF, 0o644)
            safefiles.write_at(etc, "qemu.conf", _QEMU_CONF, 0o644)
            safefiles.write_at(etc, "virtlogd.conf", _VIRTLOGD_CONF, 0o644)
        with safefiles.open_dir(self.vagrant_home, self.state_dir.parent):
            pass
        self.emulator_path()

    @property
    def _own_caps(self) -> Path:
        return self.libvirt_dir / "cache" / "qemu" / "capabilities"

    def _seed_capabilities(self) -> None:
        """Copy shared qemu capabilities in; libvirtd re-probes any that went stale."""
        if not self.caps_cache.is_dir() or any(self._own_caps.glob("*.xml")):
            return
        try:
            with safefiles.open_dir(self._own_caps, self.state_dir.parent, mode=0o755, root_only=True) as own:
                for xml in self.caps_cache.glob("*.xml"):
                    safefiles.write_at(own, xml.name, safefiles.read_text(xml), 0o644)
        except (OSError, ValueError, safefiles.UnsafePathError):
            pass  # only a speed-up

    def _save_capabilities(self) -> None:
        try:
            xmls = list(self._own_caps.glob("*.xml"))
            if not xmls:
                return
            # Written by name and renamed (atomic for other labs), never through a link.
            with safefiles.open_dir(self.caps_cache, self.caps_cache.parent.parent) as cache:
                for xml in xmls:
                    safefiles.write_at(cache, xml.name, safefiles.read_text(xml), 0o644)
        except (OSError, ValueError, safefiles.UnsafePathError):
            pass  # only a speed-up

    def _launch(self) -> None:
        start_log = self.log_dir / "sandbox-start.log"
        with contextlib.ExitStack() as stack:
            fds = [stack.enter_context(self._root_dir(sub)) for sub in ("run", "lib", "log", "cache", "etc")]
            log_fd = os.open(
                start_log.name,
                os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC,
                0o644,
                dir_fd=fds[2],
            )
            argv = self.run_argv(
                ["unshare", "--mount", "--propagation", "private", "sh", "-c", _START_SCRIPT, "labctl-sandbox"]
                + [str(fd) for fd in fds]
            )
            # Output to a file, not a pipe: the daemons inherit it and outlive this call.
            with os.fdopen(log_fd, "w") as log:
                proc = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log, pass_fds=fds)
        if proc.returncode != 0:
            cause = _last_line(start_log.read_text())
            self.stop()
            raise SandboxError(f"could not start libvirtd in namespace {self.name}: {cause} (details: {start_log})")

    def _wait_until_answering(self) -> None:
        deadline = time.monotonic() + self.start_timeout
        last = "no answer"
        while time.monotonic() < deadline:
            if self._daemon_pid("libvirtd") is None:
                self.stop()
                raise SandboxError(
                    f"libvirtd in namespace {self.name} exited at start: "
                    f"{self._libvirtd_log_tail()} (log: {self.log_dir})"
                )
            proc = self.virsh("version", check=False)
            if proc.returncode == 0:
                return
            last = _last_line(proc.stderr)
            time.sleep(0.5)
        self.stop()
        raise SandboxError(
            f"libvirtd in namespace {self.name} did not answer within "
            f"{self.start_timeout:.0f} s: {last} (log: {self.log_dir})"
        )

    def _ensure_pool(self) -> None:
        """Storage pool 'default', which vagrant-libvirt uses, inside the state folder."""
        if self.virsh("pool-info", POOL_NAME, check=False).returncode != 0:
            self.virsh("pool-define-as", POOL_NAME, "dir", "--target", POOL_TARGET)
            self.virsh("pool-build", POOL_NAME)
            self.virsh("pool-autostart", POOL_NAME)
        info = self.virsh("pool-info", POOL_NAME).stdout
        if "running" not in info:
            self.virsh("pool-start", POOL_NAME)

    def _ensure_management_network(self) -> None:
        """labctl's management network (see labctl.lab.host.mgmtnet), defined and started. One made by
        an older labctl through vagrant-libvirt is defined again; a running one takes the new
        definition when it next starts (with the sandbox)."""
        current = self.virsh("net-dumpxml", "--inactive", mgmtnet.NAME, check=False)
        if current.returncode != 0 or not mgmtnet.is_labctls(current.stdout):
            with self._root_dir("etc") as etc:
                safefiles.write_at(etc, "labctl-mgmt-network.xml", mgmtnet.network_xml(), 0o644)
            self.virsh("net-define", str(self.libvirt_dir / "etc" / "labctl-mgmt-network.xml"))
        self.virsh("net-autostart", mgmtnet.NAME)
        if "Active:         yes" not in self.virsh("net-info", mgmtnet.NAME).stdout:
            self.virsh("net-start", mgmtnet.NAME)

    def _daemon_pid(self, daemon: str) -> int | None:
        """PID from DAEMON's pid file when that process is alive, is DAEMON and is the one this
        sandbox started (the record's boot id and start time match; see _trusted)."""
        try:
            pid = int(self._pid_file(daemon).read_text().strip())
        except (OSError, ValueError):
            return None
        if _comm(pid) != daemon or not process_alive(pid):
            return None
        record = self._load_record()
        if record is None:
            return pid if self._written_this_boot(self._pid_file(daemon)) else None
        known = record.get("daemons", {}).get(daemon)
        if known is None or int(known.get("pid", -1)) != pid:
            return None
        return pid if ProcessRecord.from_dict(known).matches() else None

    def _saved_mntns(self) -> str | None:
        """The daemons' mount namespace, when it was saved in this boot (ids are reused)."""
        record = self._load_record()
        if record is not None:
            return record.get("mntns") if record.get("boot") == boot_id() else None
        path = self.libvirt_dir / "run" / "mntns"
        try:
            text = path.read_text().strip()
        except OSError:
            return None
        return text if text and self._written_this_boot(path) else None

    def _earliest_start(self) -> int | None:
        record = self._load_record()
        if record is None:
            return None
        starts = [int(d["start"]) for d in record.get("daemons", {}).values()]
        return min(starts) if starts else None

    @staticmethod
    def _written_this_boot(path: Path) -> bool:
        """A sandbox started by an older labctl has no record: trust its files only when they
        were written after this boot (after a reboot the PIDs in them mean nothing)."""
        try:
            return path.stat().st_mtime >= _boot_time()
        except OSError:
            return False

    def _record_path(self) -> Path:
        return self.libvirt_dir / "run" / PROCESS_RECORD

    def _load_record(self) -> dict[str, Any] | None:
        try:
            data = json.loads(safefiles.read_text(self._record_path()))
        except (OSError, ValueError, safefiles.UnsafePathError):
            return None
        return data if isinstance(data, dict) else None

    def _save_record(self) -> None:
        """Record the daemons as they run now: PID, boot id, start time, mount namespace."""
        daemons: dict[str, Any] = {}
        for daemon in ("libvirtd", "virtlogd"):
            try:
                pid = int(self._pid_file(daemon).read_text().strip())
            except (OSError, ValueError):
                continue
            record = ProcessRecord.of(pid) if _comm(pid) == daemon else None
            if record is not None:
                daemons[daemon] = record.to_dict()
        try:
            mntns = (self.libvirt_dir / "run" / "mntns").read_text().strip()
        except OSError:
            mntns = ""
        data = {"boot": boot_id(), "mntns": mntns or None, "daemons": daemons}
        with self._root_dir("run") as run:
            safefiles.write_at(run, PROCESS_RECORD, json.dumps(data, indent=2) + "\n", 0o644)

    # --- the host-wide record of who owns this namespace ------------------------------------

    def _namespace_owner(self) -> str | None:
        try:
            return safefiles.read_text(NAMESPACE_RECORDS / self.name).strip() or None
        except FileNotFoundError:
            return None
        except (OSError, safefiles.UnsafePathError):
            return "(an unreadable record)"

    def _claim_namespace(self) -> bool:
        """Record that this state folder owns the namespace; refuse one another folder owns.
        True when the record was written now (it was not this folder's yet)."""
        mine = str(self.state_dir)
        owner = self._namespace_owner()
        if owner is not None and owner != mine and Path(owner).is_dir():
            raise SandboxError(
                f"network namespace {self.name} belongs to the lab in {_lab_folder(owner)} (state {owner}): "
                "a lab of the same name in another folder uses it; "
                "destroy that one first (`labctl destroy` there) or give this lab another name"
            )
        if owner is not None and owner != mine and netns.exists(self.name):
            # Its lab's folder is gone (removed without `labctl destroy`), but what that lab
            # started may still run in the namespace: a new sandbox there would meet its
            # bridges and VMs ("network ... already in use").
            left = netns.pids_in(self.name)
            if left:
                running = ", ".join(f"{_comm(pid) or '?'} {pid}" for pid in left[:8])
                raise SandboxError(
                    f"network namespace {self.name} still runs processes of a lab whose state {owner} is gone "
                    f"(its folder removed without `labctl destroy`): {running}; stop them "
                    f"(`kill {' '.join(map(str, left))}`), then `ip netns delete {self.name}`, "
                    "or give this lab another name"
                )
        if owner is None and netns.exists(self.name) and not self.running() and self._saved_mntns() is None:
            raise SandboxError(
                f"network namespace {self.name} exists but was not made for {mine}: "
                f"remove it if nothing uses it (`ip netns delete {self.name}`) or give this lab another name"
            )
        if owner == mine:
            return False
        try:
            with safefiles.open_dir(NAMESPACE_RECORDS, NAMESPACE_RECORDS.parent.parent, root_only=True) as fd:
                safefiles.write_at(fd, self.name, mine + "\n", 0o644)
        except (OSError, safefiles.UnsafePathError) as exc:
            raise SandboxError(f"cannot record the owner of namespace {self.name}: {exc}") from exc
        return True

    def _release_namespace(self) -> None:
        if self._namespace_owner() != str(self.state_dir):
            return
        try:
            with safefiles.open_dir(NAMESPACE_RECORDS, NAMESPACE_RECORDS.parent.parent, create=False) as fd:
                safefiles.remove_at(fd, self.name)
        except (OSError, safefiles.UnsafePathError):
            pass

    def _netns_id(self) -> str | None:
        try:
            return f"net:[{(netns.NETNS_DIR / self.name).stat().st_ino}]"
        except OSError:
            return None

    def _libvirtd_log_tail(self) -> str:
        try:
            lines = (self.log_dir / "libvirtd.log").read_text().splitlines()
        except OSError:
            return "no libvirtd.log"
        errors = [line for line in lines if " error : " in line]
        return (errors or lines or ["empty libvirtd.log"])[-1]


# --- helpers ------------------------------------------------------------------------------


def _require_root() -> None:
    if os.geteuid() != 0:
        raise SandboxError("the isolated sandbox (network namespace, libvirtd) needs root: run it with sudo")


def _require_programs() -> None:
    for program, fix in _REQUIRED_PROGRAMS.items():
        if shutil.which(program) is None and not Path("/usr/sbin", program).exists():
            raise SandboxError(f"{program} is not installed: {fix}")


def _comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


def _ns_id(pid: int, kind: str) -> str | None:
    """The id of PID's namespace of KIND ("mnt", "net"), e.g. "mnt:[4026532301]"."""
    try:
        return os.readlink(f"/proc/{pid}/ns/{kind}")
    except OSError:
        return None


def _lab_folder(sandbox_dir: str) -> str:
    """The lab folder of a sandbox folder <folder>/.labctl/<lab>/sandbox (as is otherwise)."""
    path = Path(sandbox_dir)
    if len(path.parents) >= 3 and path.parents[1].name == ".labctl":
        return str(path.parents[2])
    return sandbox_dir


def _boot_time() -> float:
    """When this machine booted, in seconds since the epoch (btime of /proc/stat)."""
    for line in Path("/proc/stat").read_text().splitlines():
        if line.startswith("btime "):
            return float(line.split()[1])
    return 0.0


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else "no message"


def bridges_with_stp(ip_json: str) -> list[str]:
    """The bridges with spanning tree on, in `ip -j -d link show type bridge` output."""
    try:
        links = json.loads(ip_json or "[]")
    except ValueError:
        return []
    return [
        str(link["ifname"])
        for link in links
        if isinstance(link, dict) and link.get("linkinfo", {}).get("info_data", {}).get("stp_state", 0) != 0
    ]
