"""The pieces of a fast second `labctl up`, with the real programs: sync-and-run.sh skipping
provision.sh for files it already provisioned (run by dash, in a private mount namespace whose
/etc is a tmpfs, so the host's /etc is never touched), and the HTTP check from the host side of a
lab segment against real nginx servers in namespaces."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from pathlib import Path

import pytest

from labctl.lab.nodes.hosthttp import http_rows
from labctl.lab.nodes.provision import files_as_tar
from labctl.lab.vms.render import RenderedFile
from labctl.resources import provision_dir
from tests.support.nslab import _nginx_conf

pytestmark = pytest.mark.integration

SYNC = (provision_dir() / "common" / "sync-and-run.sh").read_text()
QUICK = (provision_dir() / "common" / "quick-check.sh").read_text()
SNAPSHOT = (provision_dir() / "common" / "labctl-snapshot.sh").read_text()


def node_files(provision_body: str) -> list[RenderedFile]:
    return [
        RenderedFile("provision.sh", f"#!/bin/sh\nset -eu\n{provision_body}\n", 0o755),
        RenderedFile("labctl-snapshot.sh", SNAPSHOT, 0o755),
        RenderedFile("site.conf", "listen 80;\n"),
    ]


@pytest.fixture
def node(tmp_path: Path):
    """A node's /etc that lives for the test: each call runs sync-and-run.sh as labctl does
    (`sh -c SCRIPT labctl-sync DIGEST SECTION...`, the files as a tar on stdin), in a fresh
    private mount namespace with TMP_PATH/etc on /etc and TMP_PATH/var-lib on /var/lib."""
    if shutil.which("unshare") is None:
        pytest.skip("unshare is not installed")
    etc, var_lib = tmp_path / "etc", tmp_path / "var-lib"
    etc.mkdir()
    var_lib.mkdir()

    def run(script: str, files: list[RenderedFile], digest: str | None, sections: tuple[str, ...], stdin: bytes):
        archive = files_as_tar(files)
        digest = hashlib.sha256(archive).hexdigest() if digest is None else digest
        inner = 'mount --bind "$0" /etc && mount --bind "$1" /var/lib && exec sh -c "$2" labctl-node "$3" "${@:4}"'
        argv = ["unshare", "--mount", "--propagation", "private", "bash", "-c", inner, str(etc), str(var_lib), script]
        argv.append(digest)
        return subprocess.run([*argv, *sections], input=stdin, capture_output=True, timeout=60)

    def sync(files: list[RenderedFile], digest: str | None = None, *sections: str) -> subprocess.CompletedProcess:
        return run(SYNC, files, digest, sections, files_as_tar(files))

    def quick(files: list[RenderedFile], *sections: str) -> subprocess.CompletedProcess:
        return run(QUICK, files, None, sections, SNAPSHOT.encode())  # the snapshot script on stdin

    sync.etc = etc  # type: ignore[attr-defined]
    sync.quick = quick  # type: ignore[attr-defined]
    return sync


def test_unchanged_files_skip_provision_and_the_snapshot_comes_in_the_same_round_trip(node):
    files = node_files('echo "changed: ran"')
    first = node(files)
    assert first.returncode == 0, first.stderr
    out = first.stdout.decode()
    assert "uploaded: provision.sh" in out and "changed: ran" in out and "provision: skipped" not in out
    second = node(files, None, "hostname")
    out = second.stdout.decode()
    assert second.returncode == 0, second.stderr
    assert "uploaded:" not in out and "changed: ran" not in out and "provision: skipped" in out
    assert "@@sample " in out and "@@hostname" in out and out.rstrip().endswith("@@end")
    # An empty digest (labctl's "force") runs provision.sh whatever the stamp says.
    assert "changed: ran" in node(files, "").stdout.decode()


def test_the_quick_check_sends_no_file_and_answers_with_a_snapshot_or_needed(node):
    files = node_files('echo "changed: ran"')
    assert "provision: needed" in node.quick(files, "hostname").stdout.decode()  # never provisioned
    assert node(files).returncode == 0
    out = node.quick(files, "hostname").stdout.decode()
    assert out.startswith("provision: skipped\n@@sample ") and "@@hostname" in out and "changed:" not in out
    other = files[:2] + [RenderedFile("site.conf", "listen 8080;\n")]
    assert node.quick(other, "hostname").stdout.decode() == "provision: needed\n"


def test_a_changed_file_or_a_failed_run_provisions_again(node):
    files = node_files('echo "changed: ran"')
    assert node(files).returncode == 0
    changed = files[:2] + [RenderedFile("site.conf", "listen 8080;\n")]
    out = node(changed).stdout.decode()
    assert "uploaded: site.conf" in out and "changed: ran" in out
    # provision.sh fails: no stamp is left, so the same files are provisioned again next time.
    failing = node_files('echo "changed: half"; exit 4')
    assert node(failing).returncode == 4
    assert not (node.etc / "labctl" / ".provisioned").exists()
    again = node(failing)
    assert again.returncode == 4 and "changed: half" in again.stdout.decode()


def test_http_rows_from_the_host_side_name_the_real_that_answered(lab_segment, tmp_path):
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    if not Path(nginx).exists():
        pytest.skip("nginx is not installed")
    segment = lab_segment({"r1": "10.10.1.21/24", "r2": "10.10.1.22/24"}, bridge_address="10.10.1.1/24")
    for name in ("r1", "r2"):
        segment.start(name, [nginx, "-c", str(_nginx_conf(tmp_path, name))])
    import time

    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        rows = http_rows(segment.bridge_ns, ["10.10.1.21", "10.10.1.22"], 80, 2, timeout=1.0)
        if all(status == "200" for _, status, _ in rows):
            break
        time.sleep(0.2)
    assert rows == [("10.10.1.21", "200", "r1")] * 2 + [("10.10.1.22", "200", "r2")] * 2
    # Nothing listens there: a failed request, not an exception.
    assert http_rows(segment.bridge_ns, ["10.10.1.99"], 80, 1, timeout=0.5) == [("10.10.1.99", "000", "-")]


def test_files_arrive_with_their_modes_and_a_mode_change_alone_is_an_upload(node):
    files = node_files('echo "changed: ran"')
    files[2] = RenderedFile("site.conf", "listen 80;\n", 0o600)
    assert node(files).returncode == 0
    site = node.etc / "labctl" / "site.conf"
    assert (site.stat().st_mode & 0o777, site.stat().st_uid) == (0o600, 0)
    assert (node.etc / "labctl" / "provision.sh").stat().st_mode & 0o777 == 0o755
    files[2] = RenderedFile("site.conf", "listen 80;\n", 0o644)
    out = node(files).stdout.decode()
    assert "uploaded: site.conf" in out and "uploaded: provision.sh" not in out
    assert site.stat().st_mode & 0o777 == 0o644


LIB = (provision_dir() / "common" / "lib.sh").read_text()


def test_a_package_whose_files_dpkg_vouches_for_needs_no_package_manager(node, tmp_path):
    """need_package asks dpkg's per-package checksum list first (no process): a package that has
    one is installed, and neither dpkg-query nor apt-get runs (here they would find no package
    database under the test's /var/lib and try to install it)."""
    info = tmp_path / "var-lib" / "dpkg" / "info"
    info.mkdir(parents=True)
    (info / "labctl-test-package.md5sums").write_text("0  usr/bin/x\n")
    done = node(node_files(f"{LIB}\nneed_package labctl-test-package\necho need_package: $?"))
    assert done.returncode == 0, done.stderr
    assert "need_package: 0" in done.stdout.decode() and "packages installed" not in done.stdout.decode()


def _clocksources(tmp_path, available: str, current: str):
    sysfs = tmp_path / "clocksource0"
    sysfs.mkdir(parents=True)
    (sysfs / "available_clocksource").write_text(available + " \n")
    (sysfs / "current_clocksource").write_text(current + "\n")
    return sysfs


def _restorable_clock(sysfs, tmpfiles) -> str:
    done = subprocess.run(
        ["sh", "-c", f'{LIB}\nrestorable_clock "$0" "$1"', str(sysfs), str(tmpfiles)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_a_guest_under_emulation_keeps_a_clock_that_a_snapshot_puts_back(tmp_path):
    """The TSC is not in what qemu saves under TCG: restorable_clock moves the kernel to the
    HPET now and at every boot (a tmpfiles rule), once; a second run changes nothing."""
    sysfs = _clocksources(tmp_path, "tsc hpet acpi_pm", "tsc")
    tmpfiles = tmp_path / "tmpfiles.d"
    first = _restorable_clock(sysfs, tmpfiles)
    assert "changed: clocksource hpet" in first
    assert (sysfs / "current_clocksource").read_text().strip() == "hpet"
    rule = (tmpfiles / "labctl-clocksource.conf").read_text().split()
    assert rule == ["w", f"{sysfs}/current_clocksource", "-", "-", "-", "-", "hpet"]
    assert _restorable_clock(sysfs, tmpfiles) == ""


def test_kvm_clock_or_no_hpet_leaves_the_clock_alone(tmp_path):
    for available in ("kvm-clock tsc hpet acpi_pm", "tsc acpi_pm"):
        sysfs = _clocksources(tmp_path / available.split()[0], available, available.split()[0])
        tmpfiles = tmp_path / available.split()[0] / "tmpfiles.d"
        assert _restorable_clock(sysfs, tmpfiles) == ""
        assert not tmpfiles.exists()
        assert (sysfs / "current_clocksource").read_text().strip() == available.split()[0]
