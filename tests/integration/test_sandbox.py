"""The isolated sandbox with a real libvirtd inside a real network namespace."""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from labctl.lab.host import netns
from labctl.lab.host.sandbox import NAMESPACE_RECORDS, Sandbox, SandboxError, process_alive

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root (network namespaces, libvirtd)"),
    pytest.mark.skipif(
        shutil.which("libvirtd") is None and not Path("/usr/sbin/libvirtd").exists(), reason="libvirtd not installed"
    ),
]

LAB_NETWORK = """\
<network>
  <name>labctl-lab</name>
  <bridge name='labbr0'/>
  <ip address='10.10.1.1' netmask='255.255.255.0'/>
</network>
"""

# A diskless guest that sits in its firmware: enough to prove qemu runs under the sandbox's
# libvirtd, through the emulator wrapper, and that stop() ends it.
IDLE_DOMAIN = """\
<domain type='qemu'>
  <name>labctl-idle</name>
  <memory unit='MiB'>32</memory>
  <vcpu>1</vcpu>
  <os><type arch='x86_64' machine='pc'>hvm</type></os>
  <devices>
    <emulator>{emulator}</emulator>
    <interface type='network'><source network='labctl-lab'/></interface>
    <serial type='pty'/>
  </devices>
</domain>
"""

SandboxFactory = Callable[..., Sandbox]


@pytest.fixture
def make_sandbox(tmp_path: Path) -> Iterator[SandboxFactory]:
    """Sandboxes with unique namespace names, destroyed at the end even when a test fails."""
    made: list[Sandbox] = []

    def make(label: str = "a", **kwargs: object) -> Sandbox:
        name = f"labctl-t{uuid.uuid4().hex[:8]}"
        sandbox = Sandbox(name, tmp_path / f"state-{label}", **kwargs)  # type: ignore[arg-type]
        made.append(sandbox)
        return sandbox

    yield make
    for sandbox in made:
        sandbox.destroy()


def _comm(pid: int) -> str:
    return Path(f"/proc/{pid}/comm").read_text().strip()


def _root_namespace_addresses() -> str:
    return subprocess.run(["ip", "-br", "addr"], capture_output=True, text=True).stdout


def test_start_runs_libvirtd_inside_the_namespace(make_sandbox: SandboxFactory) -> None:
    host_run_libvirt_existed = Path("/run/libvirt").exists()
    sandbox = make_sandbox()
    sandbox.start()

    assert sandbox.running()
    assert netns.exists(sandbox.name)
    assert "Running hypervisor: QEMU" in sandbox.virsh("version").stdout
    assert sandbox.socket_path.is_socket()
    assert str(sandbox.socket_path) in sandbox.uri
    daemons = sandbox.pids()
    # libvirtd, virtlogd, and the management network's dnsmasq (with its lease helper).
    assert sorted(set(map(_comm, daemons))) == ["dnsmasq", "libvirtd", "virtlogd"]
    # Every sandbox process is in the lab's network namespace, none in the root one.
    assert set(daemons) <= set(netns.pids_in(sandbox.name))
    # The storage pool vagrant-libvirt uses exists and its images land in the state folder.
    assert "running" in sandbox.virsh("pool-info", "default").stdout
    assert sandbox.images_dir.is_dir()
    assert (sandbox.log_dir / "libvirtd.log").is_file()
    # labctl's management network is up before any `vagrant up`, dnsmasq told not to ping.
    assert "Active:         yes" in sandbox.virsh("net-info", "labctl-mgmt").stdout
    assert "no-ping" in (sandbox.libvirt_dir / "lib" / "dnsmasq" / "labctl-mgmt.conf").read_text()
    # The host's own libvirt folders were not used.
    assert Path("/run/libvirt").exists() == host_run_libvirt_existed


def test_start_twice_keeps_the_same_daemons(make_sandbox: SandboxFactory) -> None:
    sandbox = make_sandbox()
    sandbox.start()
    first = sandbox.pids()
    sandbox.start()
    assert sandbox.pids() == first


def test_stop_then_start_again(make_sandbox: SandboxFactory) -> None:
    sandbox = make_sandbox()
    sandbox.start()
    old = sandbox.pids()
    sandbox.stop()
    assert not sandbox.running()
    assert not any(process_alive(pid) for pid in old)
    assert sandbox.pids() == []
    sandbox.start()
    assert sandbox.running()
    assert "default" in sandbox.virsh("pool-list", "--all").stdout


def test_destroy_leaves_nothing_behind(make_sandbox: SandboxFactory) -> None:
    sandbox = make_sandbox()
    sandbox.start()
    pids = sandbox.pids()
    sandbox.destroy()
    assert not netns.exists(sandbox.name)
    assert not any(process_alive(pid) for pid in pids)
    assert not sandbox.state_dir.exists()
    sandbox.destroy()  # a second destroy is a no-op


def test_two_sandboxes_with_the_same_network_side_by_side(make_sandbox: SandboxFactory) -> None:
    first, second = make_sandbox("a"), make_sandbox("b")
    for sandbox in (first, second):
        sandbox.start()
        xml = sandbox.state_dir / "lab-network.xml"
        xml.write_text(LAB_NETWORK)
        sandbox.virsh("net-create", str(xml))

    for sandbox in (first, second):
        assert "labctl-lab" in sandbox.virsh("net-list").stdout
        bridge = subprocess.run(
            ["ip", "-n", sandbox.name, "-br", "addr", "show", "labbr0"], capture_output=True, text=True, check=True
        ).stdout
        assert "10.10.1.1/24" in bridge
    assert "10.10.1.1/" not in _root_namespace_addresses()
    assert not set(first.pids()) & set(second.pids())

    first.destroy()
    assert second.running()
    assert "labctl-lab" in second.virsh("net-list").stdout


def test_stop_ends_the_vms_of_the_sandbox(make_sandbox: SandboxFactory) -> None:
    sandbox = make_sandbox()
    sandbox.start()
    xml = sandbox.state_dir / "lab-network.xml"
    xml.write_text(LAB_NETWORK)
    sandbox.virsh("net-create", str(xml))
    domain = sandbox.state_dir / "idle.xml"
    domain.write_text(IDLE_DOMAIN.format(emulator=sandbox.emulator_path()))
    sandbox.virsh("create", str(domain))

    qemu = [pid for pid in sandbox.pids() if Path(f"/proc/{pid}/comm").read_text().startswith("qemu-system")]
    assert len(qemu) == 1
    cmdline = Path(f"/proc/{qemu[0]}/cmdline").read_text().split("\0")
    assert f"tcg,tb-size={sandbox.tb_size_mb}" in cmdline  # the wrapper did its job
    assert (sandbox.log_dir / "qemu" / "labctl-idle.log").is_file()

    sandbox.stop()
    assert not process_alive(qemu[0])
    assert sandbox.pids() == []


def test_a_start_that_gets_no_answer_leaves_no_daemon(make_sandbox: SandboxFactory) -> None:
    sandbox = make_sandbox(start_timeout=0)
    with pytest.raises(SandboxError, match="did not answer"):
        sandbox.start()
    assert not sandbox.running()
    assert sandbox.pids() == []


def test_an_unwritable_state_folder_is_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    sandbox = Sandbox(f"labctl-t{uuid.uuid4().hex[:8]}", blocker / "state")
    with pytest.raises(SandboxError, match="writable state folder"):
        sandbox.start()
    assert not netns.exists(sandbox.name)
    assert not (NAMESPACE_RECORDS / sandbox.name).exists()  # no claim left on the name


def test_without_root_the_error_names_the_fix(tmp_path: Path) -> None:
    # Really drop root: the system Python as user nobody, with the checkout on its path.
    state = tmp_path / "state"
    tmp_path.chmod(0o777)
    code = (
        "from pathlib import Path\n"
        "from labctl.lab.host.sandbox import Sandbox, SandboxError, process_alive\n"
        "try:\n"
        f"    Sandbox('labctl-tnoroot', Path({str(state)!r})).start()\n"
        "except SandboxError as exc:\n"
        "    print(exc)\n"
    )
    proc = subprocess.run(
        [
            "setpriv",
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "env",
            "HOME=/tmp",
            f"PYTHONPATH={Path(__file__).resolve().parents[2]}",
            "/usr/bin/python3",
            "-c",
            code,
        ],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
    assert "needs root" in proc.stdout and "sudo" in proc.stdout
    assert not netns.exists("labctl-tnoroot")
    assert not state.exists()


def test_vagrant_env_points_at_the_sandbox(tmp_path: Path) -> None:
    sandbox = Sandbox("labctl-tenv", tmp_path / "state")
    env = sandbox.vagrant_env({"PATH": "/usr/bin"})
    assert env["PATH"] == "/usr/bin"
    assert env["VAGRANT_HOME"] == str(sandbox.state_dir / "vagrant.d")
    assert env["LIBVIRT_DEFAULT_URI"] == sandbox.uri
    assert sandbox.run_argv(["vagrant", "up"]) == ["ip", "netns", "exec", "labctl-tenv", "vagrant", "up"]
