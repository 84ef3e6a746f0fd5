"""The rendered files pass the real programs' own checks: keepalived --config-test, nginx -t,
vagrant validate. keepalived runs in a namespace that has the interface the config names."""

from __future__ import annotations

import shutil
import subprocess
import uuid
from dataclasses import replace
from pathlib import Path

import pytest

from labctl.lab.host import netns
from labctl.lab.vms.render import BoxRef, LibvirtRuntime, RenderContext, render_lab, write_rendered
from labctl.model.initlab import initial_lab
from labctl.model.lab import IpvsSettings, reference_lab
from tests.support.keepalived_conf import reference_files

pytestmark = pytest.mark.integration
HOMEWORK = (Path(__file__).parents[1] / "fixtures" / "homework-3.8-ipvs-keepalived.txt").read_text()
CTX = RenderContext(box=BoxRef("debian/bookworm64"), auth_pass="k9Lm2Pq7")


def need(program: str) -> str:
    path = shutil.which(program) or (f"/usr/sbin/{program}" if Path(f"/usr/sbin/{program}").exists() else None)
    if path is None:
        pytest.fail(f"{program} is not installed: .ci/run installs it")
    return path


@pytest.fixture
def ns_with_eth1():
    """A namespace holding interface eth1 (one end of a veth pair), removed afterwards."""
    name = f"lt-ka-{uuid.uuid4().hex[:6]}"
    netns.create(name)
    try:
        subprocess.run(["ip", "-n", name, "link", "add", "eth1", "type", "veth", "peer", "name", "eth1p"], check=True)
        subprocess.run(["ip", "-n", name, "link", "set", "eth1", "up"], check=True)
        yield name
    finally:
        netns.delete(name)


def config_test(ns: str, conf: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        netns.exec_argv(ns, [need("keepalived"), "--config-test", "-f", str(conf)]), capture_output=True, text=True
    )


@pytest.mark.parametrize("manager", ["ipvsadm", "keepalived"])
def test_keepalived_accepts_every_rendered_config(tmp_path, ns_with_eth1, manager):
    lab = replace(reference_lab(), ipvs=IpvsSettings(manager=manager))
    write_rendered(render_lab(lab, CTX), tmp_path)
    for balancer in ("b1", "b2", "b3"):
        conf = tmp_path / "nodes" / balancer / "keepalived.conf"
        assert ("virtual_server" in conf.read_text()) == (manager == "keepalived")
        proc = config_test(ns_with_eth1, conf)
        assert proc.returncode == 0, (balancer, proc.stdout, proc.stderr)


@pytest.mark.parametrize("manager", ["ipvsadm", "keepalived"])
def test_keepalived_accepts_a_vip_on_one_balancer_only(tmp_path, ns_with_eth1, manager):
    # VI_3 on b3 alone: b1 and b2 have no instance of it (with keepalived, still its service).
    base = reference_lab()
    vips = tuple(replace(v, priorities={"b3": 102}) if v.name == "VI_3" else v for v in base.vips)
    lab = replace(base, vips=vips, ipvs=IpvsSettings(manager=manager))
    write_rendered(render_lab(lab, CTX), tmp_path)
    for balancer in ("b1", "b2", "b3"):
        conf = tmp_path / "nodes" / balancer / "keepalived.conf"
        assert ("vrrp_instance VI_3" in conf.read_text()) == (balancer == "b3")
        assert ("virtual_server 10.10.1.30" in conf.read_text()) == (manager == "keepalived")
        proc = config_test(ns_with_eth1, conf)
        assert proc.returncode == 0, (balancer, proc.stdout, proc.stderr)


def test_reference_files_fail_the_same_check(tmp_path, ns_with_eth1):
    # The homework's own files exit 5: their 9-character password is cut to 8.
    conf = tmp_path / "b1.conf"
    conf.write_text(reference_files(HOMEWORK)["b1"])
    proc = config_test(ns_with_eth1, conf)
    assert proc.returncode == 5
    assert "Truncating auth_pass" in proc.stdout + proc.stderr


def test_nginx_accepts_the_rendered_site(tmp_path):
    write_rendered(render_lab(reference_lab(), CTX), tmp_path)
    for real in ("r1", "r2"):
        site = tmp_path / "nodes" / real / "nginx-site.conf"
        conf = tmp_path / f"nginx-{real}.conf"
        conf.write_text(
            f"pid {tmp_path}/nginx.pid;\nerror_log {tmp_path}/error.log;\nevents {{}}\n"
            f"http {{\n    access_log off;\n    include {site};\n}}\n"
        )
        proc = subprocess.run(
            [need("nginx"), "-t", "-c", str(conf), "-e", str(tmp_path / "error.log")], capture_output=True, text=True
        )
        assert proc.returncode == 0, proc.stderr
        assert "syntax is ok" in proc.stderr


def vagrant_validate(folder: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [need("vagrant"), "validate"],
        cwd=folder,
        capture_output=True,
        text=True,
        env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "HOME": str(folder), "VAGRANT_HOME": str(folder / ".vagrant.d")},
    )


@pytest.mark.parametrize("provider", ["virtualbox", "libvirt"])
def test_vagrant_validates_the_rendered_vagrantfile(tmp_path, provider):
    if provider == "libvirt":
        lab = initial_lab(provider="libvirt", driver="qemu", box="local")
        # labctl's own box: the lab's login key (Vagrant checks the file exists), the lab link
        # left to provisioning.
        key_file = tmp_path / "state" / "login_key"
        key_file.parent.mkdir()
        key_file.write_text("the file must exist\n")
        box = BoxRef(
            "labctl/debian12",
            kernel="/boxes/vmlinuz",
            initrd="/boxes/initrd.img",
            local=True,
            login_key_path=str(key_file),
            login_key_cmdline="labctl.ssh_key=AAAAC3NzaC1lZDI1NTE5AAAAIBase64+/=",
        )
        ctx = RenderContext(
            box=box,
            libvirt=LibvirtRuntime(uri="qemu:///system?socket=/state/libvirt-sock", emulator_path="/state/qemu-tcg"),
            auth_pass="k9Lm2Pq7",
        )
    else:
        lab, ctx = reference_lab(), CTX
    write_rendered(render_lab(lab, ctx), tmp_path)
    text = (tmp_path / "Vagrantfile").read_text()
    assert ("libvirt__network_name" in text) == (provider == "libvirt")
    assert "vm.hostname =" not in text  # provisioning sets it: cheaper than a network restart
    # The guest agent's channel only for labctl's box (it runs the agent); no use_agent.
    assert ('lv.channel :type => "unix", :target_name => "org.qemu.guest_agent.0"' in text) == (provider == "libvirt")
    assert "lv.qemu_use_agent =" not in text
    if provider == "libvirt":
        assert text.count("auto_config: false") == 6 and "config.vm.guest = :debian" in text
        assert f'config.ssh.private_key_path = ["{key_file}"]' in text
        assert 'dbus.socket labctl.ssh_key=AAAAC3NzaC1lZDI1NTE5AAAAIBase64+/="' in text
    proc = vagrant_validate(tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_vagrant_validate_catches_a_broken_setting(tmp_path):
    # The check above has teeth: a provider setting Vagrant does not know is refused.
    write_rendered(render_lab(initial_lab(provider="libvirt", driver="kvm"), CTX), tmp_path)
    vf = tmp_path / "Vagrantfile"
    vf.write_text(vf.read_text().replace('lv.graphics_type = "none"', 'lv.graphics_typo = "none"'))
    assert vagrant_validate(tmp_path).returncode != 0


@pytest.mark.parametrize("manager", ["ipvsadm", "keepalived"])
def test_every_rendered_shell_script_parses(tmp_path, manager):
    # `sh -n` (dash, as on the nodes) reads each script without running it.
    lab = replace(reference_lab(), ipvs=IpvsSettings(manager=manager))
    write_rendered(render_lab(lab, CTX), tmp_path)
    scripts = [p for p in (tmp_path / "nodes").rglob("*") if p.name in ("provision.sh", "labctl-vrrp-notify")]
    assert len(scripts) == 9
    for script in scripts:
        proc = subprocess.run(["sh", "-n", str(script)], capture_output=True, text=True)
        assert proc.returncode == 0, (script, proc.stderr)
    root = Path(__file__).parents[2] / "provision"
    for script in (
        root / "common" / "sync-and-run.sh",
        root / "common" / "quick-check.sh",
        root / "common" / "labctl-snapshot.sh",
        root / "client" / "http-check.sh",
    ):
        assert subprocess.run(["sh", "-n", str(script)]).returncode == 0, script


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="no systemd-analyze")
def test_systemd_accepts_every_rendered_unit(tmp_path):
    """The units labctl writes onto the nodes (VIPs on lo on the reals, IPVS rules at boot on
    the balancers) pass systemd's own check."""
    write_rendered(render_lab(reference_lab(), CTX), tmp_path)
    units = sorted((tmp_path / "nodes").rglob("*.service"))
    assert {u.name for u in units} == {"labctl-vips.service", "labctl-ipvs-rules.service"}
    for unit in units:
        proc = subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, timeout=60)
        assert proc.returncode == 0 and unit.stem not in proc.stderr, (unit, proc.stderr)
