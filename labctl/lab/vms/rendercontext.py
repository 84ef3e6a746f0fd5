"""What rendering needs beyond the lab file: the box (name, kernel, initrd) and where libvirt
runs (the host's, or the lab's own sandbox). Kept apart so rendering itself stays pure."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from labctl.lab.host import mgmtnet
from labctl.lab.host.state import LabState, vrrp_password
from labctl.lab.host.statecheck import check_state
from labctl.lab.vms.loginkey import login_key
from labctl.lab.vms.render import BoxRef, LibvirtRuntime, RenderContext
from labctl.model.lab import LOCAL_BOX, Lab


def box_ref(lab: Lab) -> BoxRef:
    if lab.provider.box != LOCAL_BOX:
        return BoxRef(lab.provider.box)
    from labctl.lab.vms import box

    info = box.find_box()
    if info is not None:
        return BoxRef(info.name, kernel=str(info.kernel), initrd=str(info.initrd), insecure_key=True, local=True)
    # Not built yet (`labctl render` before `labctl box build`): where the build will put it.
    name = box.box_name("bookworm", box.input_hash("bookworm"))
    folder = box.default_cache_root() / "boxes" / name
    return BoxRef(
        name, kernel=str(folder / box.KERNEL_FILE), initrd=str(folder / box.INITRD_FILE), insecure_key=True, local=True
    )


def sandbox_for(lab_name: str, state: LabState, tb_size: int):
    from labctl.lab.host.sandbox import Sandbox, namespace_for

    return Sandbox(namespace_for(lab_name), state.root / "sandbox", tb_size_mb=tb_size)


def libvirt_runtime(lab: Lab, state: LabState) -> LibvirtRuntime:
    if lab.provider.name != "libvirt":
        return LibvirtRuntime()
    emulate = lab.provider.libvirt.driver == "qemu"
    if lab.isolation != "netns":
        return LibvirtRuntime()
    sandbox = sandbox_for(lab.name, state, lab.provider.libvirt.tb_size)
    # The management network (Vagrant's SSH path) stays isolated: DHCP inside the namespace,
    # no NAT rules; the pool is the one the sandbox creates under the lab's state.
    return LibvirtRuntime(
        uri=sandbox.uri,
        emulator_path=str(sandbox.emulator_path()) if emulate else "",
        management_network_name=mgmtnet.NAME,
        management_network_address=mgmtnet.ADDRESS,
        management_network_mode="none",
        storage_pool_name="default",
    )


def box_with_login_key(box: BoxRef, state: LabState) -> BoxRef:
    """labctl's box takes the lab's own login key at boot (see labctl.lab.vms.loginkey)."""
    if not box.local:
        return box
    key = login_key(state)
    return replace(box, insecure_key=False, login_key_path=str(key.private_path), login_key_cmdline=key.cmdline())


def render_context(lab: Lab, lab_path: Path) -> RenderContext:
    state = LabState.for_lab(lab_path, lab.name)
    check_state(state)  # a broken secrets.yaml is refused, not rendered
    return RenderContext(
        box=box_with_login_key(box_ref(lab), state),
        libvirt=libvirt_runtime(lab, state),
        auth_pass=vrrp_password(lab, state),
    )
