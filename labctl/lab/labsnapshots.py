"""Whole-lab snapshots (`labctl snapshot save|restore|list|delete`): disk and memory of every
VM, captured at one moment. Every VM is paused first, then each is snapshotted (libvirt's
internal qcow2 snapshot, memory included: see labctl.lab.vms.vmstate for why internal), then all
are let go at once. A restore pauses everything, reverts every VM, lets them all go at once
and starts stepping their clocks; the CLI checks the lab as `up` does meanwhile.

The snapshots live in the VMs' disks, inside the sandbox (the state folder); snapshots.json
in the state folder remembers when each was taken. `destroy` removes both with the lab."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import time
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from labctl.errors import LabctlError
from labctl.lab import afterwake
from labctl.lab.nodes.ssh import run_parallel
from labctl.lab.running import RunningLab
from labctl.lab.suspend import let_go, sandbox_of
from labctl.lab.vms import vmstate
from labctl.lab.vms.guestclock import ClockReading
from labctl.lab.vms.virshall import error_of, virsh_all
from labctl.lab.wakeclocks import step_clocks, step_clocks_meanwhile

log = logging.getLogger(__name__)

RECORDS = "snapshots.json"
DAEMON_LIB = "/var/lib/libvirt"  # the sandbox's libvirtd sees its state folder's lib/ here


# --- the records (pure) --------------------------------------------------------------------------


def parse_records(text: str | None) -> dict[str, dict[str, Any]]:
    if not text:
        return {}
    try:
        data = json.loads(text)
    except ValueError:
        return {}
    return {str(k): v for k, v in data.items() if isinstance(v, dict)} if isinstance(data, dict) else {}


def age_words(seconds: float) -> str:
    """An age as a person says it: 40 s, 12 min, 3 h, 2 d."""
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{int(seconds // size)} {unit}"
    return f"{max(0, int(seconds))} s"


def refuse_unless_saveable(name: str, states: dict[str, str], nodes: list[str], journal_left: bool) -> None:
    """Why a snapshot cannot be taken now, raised: a bad name, a scenario's leftovers, a VM not
    running (a snapshot with one VM's memory missing is not one moment of the lab)."""
    if not vmstate.valid_name(name):
        raise LabctlError(f"snapshot name {name!r}: use letters, digits, '.', '_' or '-' (up to 40)", exit_code=2)
    if journal_left:
        raise LabctlError(
            "a scenario run left changes behind (its journal): a snapshot now would keep them",
            fix="`labctl scenario restore`, then save the snapshot",
        )
    down = [f"{n} ({states.get(n, 'not created')})" for n in nodes if states.get(n) != "running"]
    if down:
        raise LabctlError(f"every VM must run for a snapshot: {', '.join(down)} not", fix="labctl up")


# A scenario's processes on a node (probes, polling loops from /run/labctl/bin, iperf3): a
# snapshot must not keep them. The brackets keep the pattern from matching its own shell.
LEFTOVERS = "pgrep -af '[/]run/labctl/bin/|[i]perf3' || true"


def parse_leftovers(text: str) -> dict[int, str]:
    """`pgrep -a` output: PID -> command line."""
    found = {}
    for line in text.splitlines():
        pid, _, command = line.strip().partition(" ")
        if pid.isdigit():
            found[int(pid)] = command.strip()
    return found


# --- I/O -----------------------------------------------------------------------------------------


def read_records(run: RunningLab) -> dict[str, dict[str, Any]]:
    return parse_records(run.state.read(RECORDS))


def _write_records(run: RunningLab, records: dict[str, dict[str, Any]]) -> None:
    run.state.write(RECORDS, json.dumps(records, indent=2, sort_keys=True) + "\n")


def _virsh_each(run: RunningLab, nodes: list[str], build) -> dict[str, str | None]:
    sandbox = sandbox_of(run, "a snapshot")
    done = virsh_all(sandbox, {n: build(vmstate.domain(run.info.name, n)) for n in nodes})
    return {n: error_of(p) for n, p in done.items()}


def snapshots_of(run: RunningLab, nodes: list[str]) -> dict[str, list[str]]:
    """Node -> the snapshot names libvirt knows for its domain."""
    sandbox = sandbox_of(run, "a snapshot")
    done = virsh_all(sandbox, {n: vmstate.snapshot_list(vmstate.domain(run.info.name, n)) for n in nodes})
    return {n: vmstate.parse_names(p.stdout) if p.returncode == 0 else [] for n, p in done.items()}


@dataclass
class SaveResult:
    name: str
    seconds: float = 0.0
    paused_s: float = 0.0  # how long the lab stood still
    failed: dict[str, str] = field(default_factory=dict)
    stopped: dict[str, list[str]] = field(default_factory=dict)  # node -> scenario leftovers ended
    clocks: dict[str, ClockReading] = field(default_factory=dict)


def stop_leftovers(run: RunningLab, nodes: list[str]) -> dict[str, list[str]]:
    """End what a scenario run left running on the nodes (it would live on in the snapshot);
    node -> the command lines ended."""

    def sweep(node: str, opened) -> list[str]:
        session = opened.get()
        found = parse_leftovers(session.run(LEFTOVERS, sudo=True, timeout=30).stdout)
        if found:
            session.run(["kill", *map(str, found)], sudo=True, timeout=30)
        return list(found.values())

    done = run_parallel(run.sessions(nodes, wait=30.0), sweep)
    return {n: r for n, r in done.items() if isinstance(r, list) and r}


def save(run: RunningLab, nodes: list[str], name: str, journal_left: bool) -> SaveResult:
    """Pause every VM, snapshot each, let all go at once. All or nothing: when one VM's
    snapshot fails, the others' of this name are deleted again."""
    refuse_unless_saveable(name, run.domain_states() or {}, nodes, journal_left)
    if any(name in names for names in snapshots_of(run, nodes).values()):
        raise LabctlError(f"snapshot {name} exists", fix=f"`labctl snapshot delete {name}` first, or another name")
    result = SaveResult(name)
    result.stopped = stop_leftovers(run, nodes)
    # The balancers' state words as the snapshot will hold them: a restore judges against these,
    # so a transition right at its wake is seen too.
    words = afterwake.read_vrrp(run, run.lab, [b for b in run.lab.balancers if b.name in nodes]) if run.lab else {}
    started = time.monotonic()
    paused = [n for n, error in _virsh_each(run, nodes, vmstate.pause).items() if error is None]
    try:
        if len(paused) == len(nodes):
            outcome = _virsh_each(run, nodes, lambda dom: vmstate.snapshot_create(dom, name))
            result.failed = {n: e for n, e in outcome.items() if e is not None}
            if result.failed:
                made = [n for n, e in outcome.items() if e is None]
                _virsh_each(run, made, lambda dom: vmstate.snapshot_delete(dom, name))
        else:
            result.failed = {n: "could not be paused" for n in nodes if n not in paused}
    finally:
        _virsh_each(run, paused, vmstate.resume)
        result.paused_s = round(time.monotonic() - started, 2)
    # A paused guest's clock stood still: behind by the pause now.
    result.clocks = step_clocks(run, paused)
    if not result.failed:
        records = read_records(run)
        records[name] = {
            "created": time.time(),
            "nodes": nodes,
            "seconds": result.paused_s,
            "vrrp": afterwake.words_record(words),
        }
        _write_records(run, records)
    result.seconds = round(time.monotonic() - started, 2)
    log.info("snapshot save %s: %.1f s; failed %s", name, result.seconds, result.failed)
    return result


@dataclass
class RestoreResult:
    name: str
    outcomes: list[vmstate.NodeRestore] = field(default_factory=list)
    clocks: dict[str, ClockReading] = field(default_factory=dict)  # once wait_for_clocks returned
    stepping: Future[dict[str, ClockReading]] | None = None  # the clocks' steps, under way
    vrrp_recorded: afterwake.Words = field(default_factory=dict)  # the restored balancers' words at the save
    seconds: float = 0.0  # pause to every VM running and its clock read once (the checks come after)
    phases: dict[str, float] = field(default_factory=dict)  # pause, load, revert, resume, clock reading

    @property
    def ok(self) -> bool:
        return all(o.ok for o in self.outcomes)

    def wait_for_clocks(self) -> dict[str, ClockReading]:
        """The clocks' readings, once their steps (which run while the lab is checked) are done."""
        if self.stepping is not None:
            self.clocks = self.stepping.result()
            self.stepping = None
        return self.clocks


def restore(run: RunningLab, nodes: list[str], name: str, journal_left: bool) -> RestoreResult:
    """Every VM of NODES back to snapshot NAME at once. Refused before anything changes when a
    VM lacks it. A running VM is paused and loads the snapshot in its own qemu (seconds faster
    than libvirt's revert, which starts a new qemu: kept for VMs not running and for a load that
    failed half-way). A VM whose revert fails is let go as it was when nothing of it changed,
    left paused when it did; the result says which."""
    if journal_left:
        raise LabctlError(
            "a scenario run left changes behind (its journal), some on the host side a restore does not undo",
            fix="`labctl scenario restore`, then restore the snapshot",
        )
    have = snapshots_of(run, nodes)
    missing = [n for n in nodes if name not in have.get(n, [])]
    if missing:
        raise LabctlError(f"snapshot {name} is not there for {', '.join(missing)}", fix="labctl snapshot list")
    result = RestoreResult(name)
    started = time.monotonic()

    def phase(what: str) -> None:
        result.phases[what] = round(time.monotonic() - started - sum(result.phases.values()), 2)

    states = run.domain_states() or {}
    running = [n for n in nodes if states.get(n) == "running"]
    for node in nodes:
        run.drop_session(node)  # the guests' TCP state goes back in time: no session survives
    paused = _virsh_each(run, running, vmstate.pause)
    phase("pause")
    reverted = _load_each(run, [n for n in running if paused[n] is None], name)
    phase("load")
    intact = {n: True for n in nodes}
    again = [n for n in nodes if n not in reverted or not _untouched(reverted[n])]
    if again:
        reverted.update(_virsh_each(run, again, lambda dom: vmstate.snapshot_revert(dom, name)))
        # A load that failed half-way, then libvirt's revert too: neither as it was nor restored.
        intact.update({n: False for n in again if reverted[n] is not None and n in running and paused[n] is None})
    phase("revert")
    # Everything reverted, or paused by us and left as it was, is let go at once.
    to_resume = [n for n in nodes if reverted[n] is None or (paused.get(n, "x") is None and intact[n])]
    resumed = let_go(run, sandbox_of(run, "a snapshot"), {n: vmstate.domain(run.info.name, n) for n in to_resume})
    phase("resume")
    for node in nodes:
        result.outcomes.append(
            vmstate.NodeRestore(node, reverted[node], resumed.get(node), node in running, intact[node])
        )
    back = [o.node for o in result.outcomes if o.resumed is None and o.reverted is None]
    if back:
        result.stepping = step_clocks_meanwhile(run, back)
    recorded = afterwake.words_from_record(read_records(run).get(name, {}).get("vrrp"))
    result.vrrp_recorded = {n: words for n, words in recorded.items() if n in back}
    phase("clock reading")
    result.seconds = round(time.monotonic() - started, 2)
    lines = vmstate.restore_lines(result.outcomes)
    log.info("snapshot restore %s: %s in %.1f s %s", name, lines, result.seconds, result.phases)
    return result


def _untouched(error: str | None) -> bool:
    """A load that worked, or that qemu refused before changing anything."""
    return error is None or vmstate.load_left_untouched(error)


def _load_each(run: RunningLab, nodes: list[str], name: str) -> dict[str, str | None]:
    """loadvm NAME in each node's own (paused) qemu at once; node -> qemu's or virsh's error."""
    sandbox = sandbox_of(run, "a snapshot")
    done = virsh_all(sandbox, {n: vmstate.load_snapshot(vmstate.domain(run.info.name, n), name) for n in nodes})
    errors = {n: error_of(p) or vmstate.load_error(p.stdout) for n, p in done.items()}
    for node, error in errors.items():
        if error is not None:
            log.info("%s: loadvm %s failed: %s", node, name, error)
    return errors


def delete(run: RunningLab, nodes: list[str], name: str) -> dict[str, str | None]:
    """Delete snapshot NAME from every VM that has it; node -> error or None."""
    have = snapshots_of(run, nodes)
    holders = [n for n in nodes if name in have.get(n, [])]
    records = read_records(run)
    if not holders and name not in records:
        raise LabctlError(f"no snapshot {name}", fix="labctl snapshot list")
    outcome = _virsh_each(run, holders, lambda dom: vmstate.snapshot_delete(dom, name))
    if all(e is None for e in outcome.values()):
        records.pop(name, None)
        _write_records(run, records)
    return outcome


@dataclass
class SnapshotRow:
    name: str
    age_s: float | None
    nodes: list[str]
    memory_bytes: dict[str, int]  # node -> saved memory in its disk
    disk_bytes: int  # the VMs' disk files as they are (every snapshot's blocks included)


def listing(run: RunningLab, nodes: list[str]) -> list[SnapshotRow]:
    """Every snapshot libvirt knows for the lab's VMs, with its age and size on disk."""
    have = snapshots_of(run, nodes)
    records = read_records(run)
    names = sorted({s for names in have.values() for s in names} | set(records))
    sizes, disk_total = _sizes(run, nodes)
    now = time.time()
    rows = []
    for name in names:
        created = records.get(name, {}).get("created")
        holders = [n for n in nodes if name in have.get(n, [])]
        memory = {n: sizes.get(n, {}).get(name, 0) for n in holders}
        rows.append(SnapshotRow(name, now - created if created else None, holders, memory, disk_total))
    return rows


def _sizes(run: RunningLab, nodes: list[str]) -> tuple[dict[str, dict[str, int]], int]:
    """Node -> snapshot -> saved memory (qemu-img reads the qcow2's snapshot table; -U: the VM
    keeps it open), and the disk files' total size on disk."""
    sandbox = sandbox_of(run, "a snapshot")
    done = virsh_all(sandbox, {n: vmstate.disk_list(vmstate.domain(run.info.name, n)) for n in nodes})
    sizes: dict[str, dict[str, int]] = {}
    total = 0
    host_lib = str(sandbox.libvirt_dir / "lib")
    for node, proc in done.items():
        for disk in vmstate.parse_disks(proc.stdout):
            path = vmstate.host_path(disk, DAEMON_LIB, host_lib)
            try:
                total += os.stat(path).st_blocks * 512
            except OSError:
                continue
            info = subprocess.run(
                ["qemu-img", "snapshot", "-U", "-l", vmstate.without_backing(path)], capture_output=True, text=True
            )
            for tag, size in vmstate.parse_vm_state_sizes(info.stdout).items():
                sizes.setdefault(node, {})[tag] = sizes.get(node, {}).get(tag, 0) + size
    return sizes, total
