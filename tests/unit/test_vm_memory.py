"""Suspend, resume and whole-lab snapshots: the pure parts (virsh commands, their outputs, the
clock step decision, a half-done restore in words). The VMs' side is proved on a lab by hand
and in tests/e2e/test_snapshots.py."""

from __future__ import annotations

import json

from labctl.lab.nodes import clockstep
from labctl.lab.nodes.ssh import CommandResult
from labctl.lab.vms import vmstate


def test_commands_name_the_labs_domain_and_keep_their_flags():
    dom = vmstate.domain("dev", "b1")
    assert dom == "labctl-dev-b1"
    assert vmstate.managed_save(dom) == ["managedsave", "labctl-dev-b1", "--running"]
    assert vmstate.start(dom) == ["start", "labctl-dev-b1"]
    assert vmstate.start(dom, paused=True) == ["start", "labctl-dev-b1", "--paused"]
    assert vmstate.snapshot_create(dom, "ready") == ["snapshot-create-as", "labctl-dev-b1", "ready", "--atomic"]
    assert vmstate.snapshot_revert(dom, "ready") == ["snapshot-revert", "labctl-dev-b1", "ready", "--paused"]
    assert vmstate.snapshot_delete(dom, "ready") == ["snapshot-delete", "labctl-dev-b1", "ready"]
    assert vmstate.snapshot_delete(dom, "ready", metadata_only=True)[-1] == "--metadata"


def test_a_running_vm_loads_a_snapshot_in_its_own_qemu_and_qemu_s_words_are_its_error():
    dom = vmstate.domain("dev", "b1")
    assert vmstate.load_snapshot(dom, "ready") == ["qemu-monitor-command", dom, "--hmp", "loadvm ready"]
    assert vmstate.load_error("") is None and vmstate.load_error("\n") is None
    refused = vmstate.load_error("Error: Snapshot 'ready' does not exist in one or more devices\n")
    assert refused == "Snapshot 'ready' does not exist in one or more devices"
    assert vmstate.load_left_untouched(refused)
    # Any other error may come after the disk was reverted and part of the memory loaded.
    assert not vmstate.load_left_untouched("Error -22 while loading VM state")


def test_snapshot_names_are_plain_words():
    assert vmstate.valid_name("ready") and vmstate.valid_name("before-demo.2")
    for bad in ("", "-x", "a b", "x;rm", "é", "a" * 41, "../up"):
        assert not vmstate.valid_name(bad), bad


def test_disks_and_vm_state_sizes_are_read_from_virsh_and_qemu_img():
    blk = (
        " file   disk   vda   /var/lib/libvirt/images/labctl-dev-b1.img\n"
        " file   cdrom  sda   -\n"
        " file   disk   vdb   /var/lib/libvirt/images/extra.qcow2\n"
    )
    assert vmstate.parse_disks(blk) == [
        "/var/lib/libvirt/images/labctl-dev-b1.img",
        "/var/lib/libvirt/images/extra.qcow2",
    ]
    listing = (
        "Snapshot list:\n"
        "ID        TAG               VM SIZE                DATE     VM CLOCK     ICOUNT\n"
        "1         ready           98.3 MiB 2026-12-02 18:00:00 00:01:02.345          0\n"
        "2         empty              0 B 2026-12-02 18:10:00 00:00:00.000          0\n"
    )
    assert vmstate.parse_vm_state_sizes(listing) == {"ready": int(98.3 * (1 << 20)), "empty": 0}
    assert vmstate.parse_size("1.5 GiB") == 3 << 29
    assert vmstate.parse_size("lots") is None


def test_daemon_paths_map_into_the_state_folder_and_no_further():
    root = "/work/lab/.labctl/dev/sandbox/libvirt/lib"
    assert vmstate.host_path("/var/lib/libvirt/images/b1.img", "/var/lib/libvirt", root) == root + "/images/b1.img"
    assert vmstate.host_path("/var/lib/libvirtx/b1.img", "/var/lib/libvirt", root) == "/var/lib/libvirtx/b1.img"


def test_a_half_done_restore_says_per_node_what_each_vm_is():
    outcomes = [
        vmstate.NodeRestore("b1", None, None),
        vmstate.NodeRestore("b2", "internal error: loadvm failed", None),
        vmstate.NodeRestore("r1", "timed out", "domain is not running"),
        vmstate.NodeRestore("c1", None, "cannot resume"),
        vmstate.NodeRestore("r2", "no such snapshot", None, was_running=False),
        vmstate.NodeRestore("b3", "Error -22 while loading VM state", None, intact=False),
    ]
    assert vmstate.restore_lines(outcomes) == [
        "b2: NOT restored (internal error: loadvm failed): running as before",
        "b3: NOT restored (Error -22 while loading VM state): the load failed half-way, the VM is left paused; "
        "`labctl down b3` then `labctl up` boot it afresh",
        "c1: restored but left paused (cannot resume)",
        "r1: NOT restored (timed out), and not running again (domain is not running)",
        "r2: NOT restored (no such snapshot): as before (it was not running)",
        "b1: restored",
    ]


def test_the_clock_offset_is_taken_at_the_round_trips_middle():
    assert clockstep.offset(100.0, 40.5, 101.0) == -60.0
    assert not clockstep.needs_step(0.3) and not clockstep.needs_step(-0.5)
    assert clockstep.needs_step(0.6) and clockstep.needs_step(-3600)
    assert clockstep.parse_epoch("noise\n1733160000.250000000\n") == 1733160000.25
    assert clockstep.parse_epoch("date: invalid\n") is None
    assert clockstep.step_command(1733160000.5) == "date -u -s @1733160000.500000 >/dev/null && date +%s.%N"


class FakeGuest:
    """A guest clock AHEAD seconds off the host's; its `date -s` sets it. (A stand-in for SSH:
    the decision under test is labctl's, the real guest is in the e2e tier.)"""

    def __init__(self, ahead: float, host: list[float]) -> None:
        self.ahead = ahead
        self.host = host
        self.commands: list[str | list[str]] = []

    def run(self, argv: str | list[str], sudo: bool) -> CommandResult:
        self.commands.append(argv)
        self.host[0] += 0.1  # half of a 0.2 s round trip
        if isinstance(argv, str) and argv.startswith("date -u -s @"):
            self.ahead = float(argv.split("@")[1].split()[0]) - self.host[0]
        out = f"{self.host[0] + self.ahead:.9f}\n"
        self.host[0] += 0.1
        return CommandResult("b1", argv, 0, out, "", 0.2)


def test_a_guest_behind_by_a_suspend_is_stepped_and_one_on_time_is_not():
    host = [1000.0]
    guest = FakeGuest(-300.0, host)
    reading = clockstep.measure_and_step("b1", guest.run, clock=lambda: host[0])
    assert round(reading.before_s, 3) == -300.0
    assert reading.after_s is not None and abs(reading.after_s) < 0.01
    assert len(guest.commands) == 2
    on_time = FakeGuest(0.2, host)
    reading = clockstep.measure_and_step("b2", on_time.run, clock=lambda: host[0])
    assert reading.after_s is None and len(on_time.commands) == 1


def test_a_clock_that_cannot_be_read_is_reported_not_stepped():
    def broken(argv: str | list[str], sudo: bool) -> CommandResult:
        return CommandResult("b1", argv, 1, "", "date: not found", 0.1)

    reading = clockstep.measure_and_step("b1", broken)
    assert reading.after_s is None and reading.error and "not found" in reading.error


def test_snapshot_records_survive_damage_and_ages_read_as_people_say_them():
    from labctl.lab import labsnapshots as snaps

    assert snaps.parse_records(None) == {} and snaps.parse_records("{oops") == {} and snaps.parse_records("[1]") == {}
    assert snaps.parse_records('{"ready": {"created": 1.0}, "bad": 3}') == {"ready": {"created": 1.0}}
    assert [snaps.age_words(s) for s in (-2, 40, 61, 7200, 3 * 86400)] == ["0 s", "40 s", "1 min", "2 h", "3 d"]


def test_a_snapshot_is_refused_when_it_would_not_be_one_clean_moment_of_the_lab():
    import pytest

    from labctl.errors import LabctlError
    from labctl.lab import labsnapshots as snaps

    nodes = ["b1", "c1"]
    running = {"b1": "running", "c1": "running"}
    snaps.refuse_unless_saveable("ready", running, nodes, journal_left=False)  # no refusal
    with pytest.raises(LabctlError, match="name"):
        snaps.refuse_unless_saveable("a b", running, nodes, journal_left=False)
    with pytest.raises(LabctlError, match="journal"):
        snaps.refuse_unless_saveable("ready", running, nodes, journal_left=True)
    with pytest.raises(LabctlError, match=r"c1 \(saved\) not"):
        snaps.refuse_unless_saveable("ready", {"b1": "running", "c1": "saved"}, nodes, journal_left=False)


def test_a_vrrp_state_file_written_after_the_wake_is_a_transition():
    from labctl.lab import afterwake

    before = afterwake.parse_vrrp_files("VI_1 1733160000.100 MASTER\nVI_2 1733160000.200 BACKUP\nnoise\n")
    assert before == {"VI_1": ("1733160000.100", "MASTER"), "VI_2": ("1733160000.200", "BACKUP")}
    assert afterwake.transitions(before, dict(before)) == []
    after = {"VI_1": ("1733160009.000", "BACKUP"), "VI_2": ("1733160009.500", "BACKUP"), "VI_3": ("1.0", "FAULT")}
    assert afterwake.transitions(before, after) == [
        "VI_1 MASTER -> BACKUP",
        "VI_2 BACKUP again",
        "VI_3 (none) -> FAULT",
    ]


def test_no_state_words_on_either_side_of_the_wake_is_no_evidence_not_a_pass():
    from labctl.lab import afterwake

    # Read as the login user from a folder only root could read: nothing before, nothing after.
    ok, words = afterwake.vrrp_verdict({}, {})
    assert not ok and "cannot be told" in words
    before = afterwake.parse_vrrp_files("VI_1 1733160000.100 MASTER\n")
    assert afterwake.vrrp_verdict(before, dict(before)) == (True, "no VRRP transition since the wake")
    ok, words = afterwake.vrrp_verdict(before, {"VI_1": ("1733160009.000", "BACKUP")})
    assert not ok and "VI_1 MASTER -> BACKUP" in words


def test_one_round_trip_after_the_checks_brings_words_and_addresses():
    import subprocess

    from labctl.lab import afterwake

    # The command itself, run here: no state folder (exit 0 of its own), then this host's
    # addresses and links; parsed apart.
    out = subprocess.run(["sh", "-c", afterwake.WORDS_THEN_ADDRESSES], capture_output=True, text=True).stdout
    words, addresses = afterwake.words_and_addresses(out)
    assert words == {} and "127.0.0.1" in addresses and "@@links" in addresses
    text = "VI_1 1733160000.100 MASTER\n@@addresses\n2: eth1    inet 10.10.1.10/24 scope global eth1\n@@links\n"
    text += "2: eth1: <UP> mtu 1500\\    link/ether 52:54:00:aa:bb:02 brd ff:ff:ff:ff:ff:ff\n"
    words, addresses = afterwake.words_and_addresses(text)
    assert words == {"VI_1": ("1733160000.100", "MASTER")}
    assert afterwake.holder_macs(addresses, ["10.10.1.10"]) == {"10.10.1.10": "52:54:00:aa:bb:02"}


def test_arp_entries_are_judged_against_the_mac_holding_each_vip():
    from labctl.lab import afterwake

    balancer = (
        "1: lo    inet 127.0.0.1/8 scope host lo\\       valid_lft forever preferred_lft forever\n"
        "3: eth1    inet 10.10.1.2/24 brd 10.10.1.255 scope global eth1\\       valid_lft forever\n"
        "3: eth1    inet 10.10.1.10/24 scope global secondary eth1\\       valid_lft forever\n"
        "@@links\n"
        "1: lo: <LOOPBACK,UP,LOWER_UP> mtu 65536 qdisc noqueue state UNKNOWN mode DEFAULT group default qlen 1000\\    link/loopback 00:00:00:00:00:00 brd 00:00:00:00:00:00\n"
        "3: eth1: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 qdisc fq_codel state UP mode DEFAULT group default qlen 1000\\    link/ether 52:54:00:aa:bb:01 brd ff:ff:ff:ff:ff:ff\n"
    )
    holders = afterwake.holder_macs(balancer, ["10.10.1.10", "10.10.1.20"])
    assert holders == {"10.10.1.10": "52:54:00:aa:bb:01"}
    holders["10.10.1.20"] = "52:54:00:aa:bb:02"
    neigh = afterwake.parse_neighbours(
        "10.10.1.10 dev eth1 lladdr 52:54:00:AA:BB:01 REACHABLE\n"
        "10.10.1.20 dev eth1 lladdr 52:54:00:aa:bb:03 STALE\n"
        "10.10.1.30 dev eth1 FAILED\n"
    )
    assert neigh["10.10.1.30"] is None
    assert afterwake.arp_mismatches(neigh, holders) == ["10.10.1.20 at 52:54:00:aa:bb:03, held by 52:54:00:aa:bb:02"]
    assert afterwake.arp_mismatches({}, holders) == []  # nothing cached: resolved afresh


def test_ready_snapshot_is_on_unless_the_lab_file_says_false():
    import tempfile
    from pathlib import Path

    import pytest

    from labctl.model.initlab import initial_lab, write_lab_file
    from labctl.model.labfile import LabFileError, read_lab

    with tempfile.TemporaryDirectory() as folder:
        path = write_lab_file(Path(folder), initial_lab("snaps"))
        assert read_lab(path).ready_snapshot is True
        path.write_text(path.read_text() + "ready_snapshot: false\n")
        assert read_lab(path).ready_snapshot is False
        path.write_text(path.read_text().replace("ready_snapshot: false", "ready_snapshot: sometimes"))
        with pytest.raises(LabFileError, match="ready_snapshot: must be true or false"):
            read_lab(path)


def test_a_scenarios_leftover_processes_are_read_from_pgrep():
    from labctl.lab import labsnapshots as snaps

    text = "812 python3 /run/labctl/bin/labctl-probe.py --vip 10.10.1.10\n901 iperf3 -s -D\n\n"
    assert snaps.parse_leftovers(text) == {
        812: "python3 /run/labctl/bin/labctl-probe.py --vip 10.10.1.10",
        901: "iperf3 -s -D",
    }
    assert "[/]run/labctl/bin/" in snaps.LEFTOVERS  # the pattern never matches its own shell


def test_qemu_img_reads_an_overlay_without_the_daemons_backing_path():
    import json

    spec = vmstate.without_backing("/lab/.labctl/dev/sandbox/libvirt/lib/images/labctl-dev-b1.img")
    assert spec.startswith("json:")
    assert json.loads(spec[5:]) == {
        "driver": "qcow2",
        "backing": None,
        "file": {"driver": "file", "filename": "/lab/.labctl/dev/sandbox/libvirt/lib/images/labctl-dev-b1.img"},
    }


class SlowFirstGuest(FakeGuest):
    """Its first step lands a second late (a guest busy right after its restore)."""

    def run(self, argv: str | list[str], sudo: bool) -> CommandResult:
        result = super().run(argv, sudo)
        if isinstance(argv, str) and len(self.commands) == 2:
            self.ahead -= 1.0
            result = CommandResult("b1", argv, 0, f"{self.host[0] - 0.1 + self.ahead:.9f}\n", "", 0.2)
        return result


def test_a_step_that_lands_late_is_taken_again():
    host = [1000.0]
    guest = SlowFirstGuest(-300.0, host)
    reading = clockstep.measure_and_step("b1", guest.run, clock=lambda: host[0])
    assert len(guest.commands) == 3  # read, a step left a second off, a second step
    assert reading.after_s is not None and abs(reading.after_s) < 0.01


def test_the_bridges_whose_spanning_tree_holds_new_ports_back_are_found():
    from labctl.lab.host.sandbox import bridges_with_stp

    shown = (
        '[{"ifname":"labctl-mgmt0","linkinfo":{"info_kind":"bridge","info_data":{"stp_state":0}}},'
        '{"ifname":"virbr0","linkinfo":{"info_kind":"bridge","info_data":{"forward_delay":200,"stp_state":1}}}]'
    )
    assert bridges_with_stp(shown) == ["virbr0"]
    assert bridges_with_stp("") == [] and bridges_with_stp("not json") == []


def test_state_words_read_before_the_sleep_are_kept_as_json_and_judged_against_after_the_wake():
    from types import SimpleNamespace

    from labctl.lab import afterwake

    words = {"b1": {"VI_1": ("1733160000.250000000", "MASTER")}, "b2": {"VI_1": ("1733159990.5", "BACKUP")}}
    record = json.loads(json.dumps(afterwake.words_record(words)))
    assert afterwake.words_from_record(record) == words
    assert afterwake.words_from_record({"b1": {"VI_1": "MASTER"}, "b2": "x"}) == {"b1": {}}
    assert afterwake.words_from_record(None) == {}
    # Every balancer recorded: nothing is read after the wake (a round trip less), and a word
    # written at the wake itself is a transition.
    lab = SimpleNamespace(balancers=[SimpleNamespace(name="b1"), SimpleNamespace(name="b2")])
    run = SimpleNamespace(shells=lambda *a, **k: (_ for _ in ()).throw(AssertionError("read after the wake")))
    before = afterwake.read_vrrp_meanwhile(run, lab, words).result()  # type: ignore[arg-type]
    assert before == words
    after = {**words, "b2": {"VI_1": ("1733160042.1", "BACKUP")}}
    assert afterwake.vrrp_verdict(before["b2"], after["b2"]) == (False, "transitions since the wake: VI_1 BACKUP again")
