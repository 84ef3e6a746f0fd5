"""Saving and putting back VMs' memory through libvirt, the pure half: the virsh commands for
suspend (managed save), whole-lab snapshots (internal qcow2 snapshots with memory), what their
outputs say, and how a half-done restore is worded per node. The I/O is in
labctl.lab.suspend and labctl.lab.labsnapshots.

Why internal snapshots: vagrant-libvirt's disk is a qcow2 overlay on the box's volume, and an
internal snapshot (`savevm`) lives inside that overlay: no new file in the domain's disk chain
(an external one would add overlays vagrant-libvirt does not know, left behind by `vagrant
destroy`), and libvirt 9.0 cannot revert external snapshots at all."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

# A snapshot name becomes a virsh argument and a qcow2 snapshot tag: kept to plain words.
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,39}$")
READY = "ready"  # the one `labctl up` takes after its first successful checks


def domain(lab_name: str, node: str) -> str:
    """vagrant-libvirt's domain name for NODE (the Vagrantfile's `default_prefix`)."""
    return f"labctl-{lab_name}-{node}"


def valid_name(name: str) -> bool:
    return bool(NAME_PATTERN.match(name))


# --- virsh argument lists (after `virsh -q -c URI`) --------------------------------------------


def managed_save(dom: str) -> list[str]:
    # --running: `virsh start` brings it back running, whatever state it was saved in.
    return ["managedsave", dom, "--running"]


def start(dom: str, paused: bool = False) -> list[str]:
    """Start a domain; one with a managed save image is restored from it instead of booting.
    PAUSED: it stays paused, to be let go with the others at once (resume)."""
    return ["start", dom] + (["--paused"] if paused else [])


def pause(dom: str) -> list[str]:
    return ["suspend", dom]


def resume(dom: str) -> list[str]:
    return ["resume", dom]


def snapshot_create(dom: str, name: str) -> list[str]:
    # Internal snapshot of a running (paused) domain: disk and memory, in its qcow2; --atomic:
    # all or nothing per domain.
    return ["snapshot-create-as", dom, name, "--atomic"]


def snapshot_revert(dom: str, name: str) -> list[str]:
    # --paused: every VM is let go at once afterwards (resume), not each as its revert ends.
    # libvirt 9 reverts a running domain by stopping its qemu and starting another one that
    # loads the snapshot: 3.1-3.6 s a VM under emulation. The way for a VM not running, and
    # for one whose load in place (load_snapshot) failed half-way.
    return ["snapshot-revert", dom, name, "--paused"]


def load_snapshot(dom: str, name: str) -> list[str]:
    """qemu's own `loadvm` on the domain's running (paused) qemu: the snapshot's disk and memory
    put back in place, 0.3 s a VM instead of snapshot-revert's new qemu process. libvirt marks
    the domain tainted (custom-monitor) and does not hear of it; it changes nothing it keeps."""
    return ["qemu-monitor-command", dom, "--hmp", f"loadvm {name}"]


def load_error(output: str) -> str | None:
    """What qemu said to a `loadvm` (nothing when it worked; virsh exits 0 either way)."""
    text = " ".join(output.split())
    return text.removeprefix("Error: ") or None


# qemu's errors for a loadvm refused before it changed anything: no such snapshot on a disk, or
# a disk that cannot have one. Any other error may come after the disks were reverted and part
# of the memory loaded.
_REFUSED_UNTOUCHED = ("does not exist", "not support", "no block device")


def load_left_untouched(error: str) -> bool:
    text = error.lower()
    return any(marker in text for marker in _REFUSED_UNTOUCHED)


def snapshot_delete(dom: str, name: str, metadata_only: bool = False) -> list[str]:
    # --metadata: libvirt forgets it, the qcow2 keeps it (for a disk about to be removed anyway).
    return ["snapshot-delete", dom, name] + (["--metadata"] if metadata_only else [])


def snapshot_list(dom: str) -> list[str]:
    return ["snapshot-list", dom, "--name"]


def disk_list(dom: str) -> list[str]:
    return ["domblklist", dom, "--details"]


# --- what virsh and qemu-img answer -------------------------------------------------------------


def parse_names(text: str) -> list[str]:
    """`virsh -q snapshot-list DOM --name`: one name a line."""
    return [line.strip() for line in text.splitlines() if line.strip()]


def parse_disks(text: str) -> list[str]:
    """The file of each disk in `virsh -q domblklist DOM --details` (Type Device Target Source)."""
    found = []
    for line in text.splitlines():
        parts = line.split(None, 3)
        if len(parts) == 4 and parts[0] == "file" and parts[1] == "disk" and parts[3] != "-":
            found.append(parts[3].strip())
    return found


_UNITS = {"B": 1, "KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30, "TiB": 1 << 40}
_SIZE = re.compile(r"^(\d+(?:\.\d+)?)\s?(B|KiB|MiB|GiB|TiB)$")


def parse_size(text: str) -> int | None:
    """qemu-img's "98.3 MiB" in bytes; None for what is not a size."""
    match = _SIZE.match(text.strip())
    if match is None:
        return None
    return int(float(match.group(1)) * _UNITS[match.group(2)])


def parse_vm_state_sizes(text: str) -> dict[str, int]:
    """Tag -> bytes of saved memory (VM SIZE) in `qemu-img snapshot -l` output:
    ID  TAG  VM SIZE  DATE  VM CLOCK  ICOUNT, with the size written as "98.3 MiB"."""
    sizes: dict[str, int] = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) < 4 or not parts[0].isdigit():
            continue
        size = parse_size(f"{parts[2]} {parts[3]}")
        if size is None:
            size = parse_size(parts[2])  # "0 B" has a space too; a bare number has none
        if size is not None:
            sizes[parts[1]] = size
    return sizes


def without_backing(path: str) -> str:
    """A qcow2 file as qemu-img opens it without its backing file: the backing file is named
    by the sandbox daemon's path, which the host does not have (the snapshot table is in the
    overlay itself)."""
    spec = {"driver": "qcow2", "backing": None, "file": {"driver": "file", "filename": path}}
    return "json:" + json.dumps(spec, separators=(",", ":"))


def host_path(daemon_path: str, daemon_root: str, host_root: str) -> str:
    """A path as a sandbox's libvirtd names it, as the host sees it (its /var/lib/libvirt is the
    state folder's lib/); other paths are the host's already."""
    root = daemon_root.rstrip("/")
    if daemon_path == root or daemon_path.startswith(root + "/"):
        return host_root.rstrip("/") + daemon_path[len(root) :]
    return daemon_path


# --- a restore that did not go all the way ------------------------------------------------------


@dataclass(frozen=True)
class NodeRestore:
    """How one VM came out of a restore: reverted (or why not) and running again (or why not)."""

    node: str
    reverted: str | None  # None: reverted; else virsh's (or qemu's) error
    resumed: str | None  # None: running again; else virsh's error
    was_running: bool = True
    intact: bool = True  # a failed revert left the VM as it was (False: half loaded, left paused)

    @property
    def ok(self) -> bool:
        return self.reverted is None and self.resumed is None

    def words(self) -> str:
        if self.ok:
            return "restored"
        if self.reverted is None:
            return f"restored but left paused ({self.resumed})"
        if not self.intact:
            return (
                f"NOT restored ({self.reverted}): the load failed half-way, the VM is left paused; "
                f"`labctl down {self.node}` then `labctl up` boot it afresh"
            )
        before = "running as before" if self.was_running else "as before (it was not running)"
        if self.resumed is None:
            return f"NOT restored ({self.reverted}): {before}"
        return f"NOT restored ({self.reverted}), and not running again ({self.resumed})"


def restore_lines(outcomes: list[NodeRestore]) -> list[str]:
    """One line per node, the ones that did not come back restored first."""
    ordered = sorted(outcomes, key=lambda o: (o.ok, o.node))
    return [f"{o.node}: {o.words()}" for o in ordered]
