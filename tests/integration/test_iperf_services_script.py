"""The balancer's side of `iperf-services` / `iperf-services-clear`, run for real by sh on a
scratch root: the files it keeps for the balancer's boots (rules, systemd unit, wants link,
sloppy_tcp's value before), a boot replayed with the unit's own ExecStart after
labctl-ipvs-rules.service restored the lab's rules, the call again on the services that came back, and
the clear that leaves the lab's own service alone.

What this cannot show: IPVS itself (the host kernel has no ip_vs). `ipvsadm`, `sysctl` and
`modprobe` are stand-ins on PATH that keep the table and the sysctl in files, with ipvsadm's
`-S -n` line format; the kernel's side is exercised only on VMs (tests/e2e)."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

from labctl.scenario import traffic as tr

pytestmark = pytest.mark.integration

VIPS = ["10.10.1.10", "10.10.1.20"]
REALS = ["10.10.1.11", "10.10.1.12"]
LAB_SERVICE = ["-A -t 10.10.1.10:80 -s rr", "-a -t 10.10.1.10:80 -r 10.10.1.11:80 -g -w 1"]

# A stand-in for ipvsadm: the table is the file $FAKE_TABLE, one `ipvsadm -S -n` line each.
FAKE_IPVSADM = r"""#!/bin/sh
echo "$*" >> "$FAKE_LOG"
table=$FAKE_TABLE
touch "$table"
apply() {
    case "$1" in
    -A) if awk -v p="$2" -v s="$3" '$1 == "-A" && $2 == p && $3 == s { found = 1 } END { exit !found }' "$table"; then
            echo "Service already exists" >&2; return 1; fi
        echo "$*" >> "$table" ;;
    -a) echo "$*" >> "$table" ;;
    -D) awk -v p="$2" -v s="$3" '!($2 == p && $3 == s)' "$table" > "$table.new"; mv "$table.new" "$table" ;;
    -C) : > "$table" ;;
    *) echo "fake ipvsadm: $*" >&2; return 2 ;;
    esac
}
case "$1" in
-S) cat "$table" ;;
-R) status=0; while read -r line; do [ -n "$line" ] && { apply $line || status=1; }; done; exit $status ;;
*) apply "$@" ;;
esac
"""
FAKE_SYSCTL = r"""#!/bin/sh
[ "$1" = -n ] && { cat "$FAKE_SYSCTL" 2>/dev/null || echo 0; exit 0; }
echo "${2#*=}" > "$FAKE_SYSCTL"
"""


class Balancer:
    def __init__(self, tmp_path: Path) -> None:
        self.root = tmp_path / "root"
        self.root.mkdir(parents=True)
        bin_dir = tmp_path / "bin"
        bin_dir.mkdir()
        for name, text in (("ipvsadm", FAKE_IPVSADM), ("sysctl", FAKE_SYSCTL), ("modprobe", "#!/bin/sh\n")):
            (bin_dir / name).write_text(text)
            (bin_dir / name).chmod(0o755)
        self.table = tmp_path / "table"
        self.log = tmp_path / "ipvsadm.log"
        self.sloppy = tmp_path / "sloppy_tcp"
        self.env = {
            **os.environ,
            "PATH": f"{bin_dir}:{os.environ['PATH']}",
            "FAKE_TABLE": str(self.table),
            "FAKE_LOG": str(self.log),
            "FAKE_SYSCTL": str(self.sloppy),
        }

    def sh(self, script: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["sh", "-c", script], env=self.env, capture_output=True, text=True, timeout=30)

    def path(self, absolute: str) -> Path:
        return Path(self.root.as_posix() + absolute)

    def lines(self) -> list[str]:
        return self.table.read_text().splitlines() if self.table.exists() else []

    def calls(self) -> list[str]:
        return self.log.read_text().splitlines() if self.log.exists() else []

    def boot(self) -> None:
        """A reboot: /run and the table gone, sloppy_tcp back to the kernel's 0; Debian's
        labctl-ipvs-rules.service flushes and loads /etc/ipvsadm.rules; then labctl's unit
        runs its ExecStart, as systemd would (the rules file's path under the scratch root)."""
        run_dir = self.path(tr.RUN_DIR)
        for child in sorted(run_dir.rglob("*"), reverse=True):
            if child.is_dir():
                child.rmdir()
            else:
                child.unlink()
        self.sloppy.write_text("0\n")
        self.table.write_text("\n".join(LAB_SERVICE) + "\n")  # labctl-ipvs-rules.service: -C, then the rules
        unit = self.path(tr.BOOT_UNIT).read_text()
        (exec_start,) = [line.split("=", 1)[1] for line in unit.splitlines() if line.startswith("ExecStart=")]
        argv = shlex.split(exec_start.replace(tr.RULES_FILE, str(self.path(tr.RULES_FILE))))
        assert subprocess.run(argv, env=self.env, timeout=30).returncode == 0


@pytest.fixture
def balancer(tmp_path: Path) -> Balancer:
    return Balancer(tmp_path)


def services(balancer: Balancer) -> subprocess.CompletedProcess[str]:
    return balancer.sh(tr.services_script(VIPS, REALS, 5201, root=str(balancer.root)))


def clear(balancer: Balancer) -> subprocess.CompletedProcess[str]:
    return balancer.sh(tr.clear_services_script(root=str(balancer.root)))


def test_both_scripts_parse():
    for script in (tr.services_script(VIPS, REALS, 5201), tr.clear_services_script()):
        assert subprocess.run(["sh", "-n", "-c", script], capture_output=True).returncode == 0


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="no systemd-analyze")
def test_systemd_accepts_the_unit(tmp_path: Path):
    unit = tmp_path / "labctl-iperf-ipvs.service"
    unit.write_text(tr.boot_unit())
    result = subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and "labctl-iperf-ipvs" not in result.stderr, result.stderr


def test_the_services_are_kept_for_boot_and_come_back_before_keepalived(balancer: Balancer):
    balancer.table.write_text("\n".join(LAB_SERVICE) + "\n")  # the lab's own, by ipvsadm.rules
    result = services(balancer)
    assert result.returncode == 0, result.stderr
    ours = [line for line in balancer.lines() if line not in LAB_SERVICE]
    assert len([line for line in ours if line.startswith("-A ")]) == 4 and len(ours) == 12
    assert "-A -u 10.10.1.10:5201 -s sh" in ours and "-a -t 10.10.1.20:5201 -r 10.10.1.12:5201 -g -w 1" in ours
    # The rules file holds labctl's services only, as `ipvsadm -S -n` prints them.
    assert balancer.path(tr.RULES_FILE).read_text().splitlines() == ours
    unit = balancer.path(tr.BOOT_UNIT).read_text()
    assert "Before=keepalived.service" in unit and "After=systemd-modules-load.service ipvsadm.service" in unit
    wants = balancer.path(tr.BOOT_WANTS)
    assert wants.is_symlink() and os.readlink(wants) == tr.BOOT_UNIT
    assert balancer.sloppy.read_text().strip() == "1"
    assert balancer.path(tr.SLOPPY_FILE).read_text().strip() == "0"

    # Again on the same boot: nothing added twice.
    added = len(balancer.calls())
    assert services(balancer).returncode == 0
    assert not any(c.startswith(("-A", "-a")) for c in balancer.calls()[added:])

    # A reboot: the unit restores them on top of the lab's rules and sets sloppy_tcp.
    balancer.boot()
    assert sorted(balancer.lines()) == sorted(LAB_SERVICE + ours)
    assert balancer.sloppy.read_text().strip() == "1"
    # The scenario's iperf-services after the power-on takes them as its own.
    added = len(balancer.calls())
    result = services(balancer)
    assert result.returncode == 0, result.stderr
    assert not any(c.startswith(("-A", "-a", "-D", "-C")) for c in balancer.calls()[added:])
    assert len(balancer.path(tr.SERVICES_FILE).read_text().splitlines()) == 4
    assert balancer.path(tr.SLOPPY_FILE).read_text().strip() == "0"  # the value before labctl, kept

    assert clear(balancer).returncode == 0
    assert balancer.lines() == LAB_SERVICE
    assert balancer.sloppy.read_text().strip() == "0"
    for kept in (tr.RULES_FILE, tr.BOOT_UNIT, tr.SLOPPY_FILE, tr.SERVICES_FILE):
        assert not balancer.path(kept).exists(), kept
    assert not os.path.lexists(balancer.path(tr.BOOT_WANTS))
    assert not any(c.startswith("-C") for c in balancer.calls()), "labctl never clears the table"


def test_the_clear_after_a_reboot_removes_what_the_unit_restored(balancer: Balancer):
    assert services(balancer).returncode == 0
    balancer.boot()
    assert clear(balancer).returncode == 0  # /run's record is gone: the rules file says what
    assert balancer.lines() == LAB_SERVICE
    assert clear(balancer).returncode == 0  # and once more, with nothing left


def test_someone_elses_service_on_the_address_is_left_alone(balancer: Balancer):
    balancer.table.write_text("-A -u 10.10.1.10:5201 -s rr\n")
    result = services(balancer)
    assert result.returncode != 0 and "labctl did not add" in result.stderr
    assert balancer.lines() == ["-A -u 10.10.1.10:5201 -s rr"]
    assert not balancer.path(tr.BOOT_UNIT).exists()
    # Nor one that differs from what labctl saved (a real list changed by hand).
    other = Balancer(balancer.root.parent / "other")
    assert services(other).returncode == 0
    other.boot()
    other.table.write_text(other.table.read_text().replace("-r 10.10.1.12:5201 -g -w 1", "-r 10.10.1.12:5201 -g -w 5"))
    assert "labctl did not add" in services(other).stderr
