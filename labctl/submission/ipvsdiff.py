"""The submission's IPVS rules (ipvsadm forms) against the services the lab sets up: one service
per lab VIP, TCP on ipvs.port, one scheduler, every real by direct routing with one weight. Every
setting that does not land in the lab is said, by FILE:LINE, so nothing is lost silently.

The lab file has no field per service: a setting of one service (persistence, a weight that
differs, a NAT real) cannot be carried by the model, and a rule of ipvsadm has no keepalived.conf
block to carry verbatim. A service whose virtual_server block is carried is left alone: keepalived
sets it up in the VM as written."""

from __future__ import annotations

from labctl.submission.conf import Item
from labctl.submission.ipvsrules import Real, Service
from labctl.submission.mapping import Imported, Note


def _service_key(service: Service) -> str:
    return service.label if service.proto == "FWM" else f"{service.address}:{service.port}"


def _item_key(item: Item) -> str | None:
    if item.args[:1] == ("fwmark",) and len(item.args) > 1:
        return f"FWM {item.args[1]}"
    return f"{item.args[0]}:{item.args[1]}" if len(item.args) > 1 else None


def unreproduced(result: Imported) -> list[Note]:
    carried = {_item_key(i) for i in result.carried_items if i.key == "virtual_server"}
    notes: list[Note] = []
    for service in result.services:
        if _service_key(service) not in carried:
            notes += _service(service, result)
    if result.services:
        notes += _added(result)
    return notes


def _added(result: Imported) -> list[Note]:
    """The lab's services that the submission's rules do not have (the lab serves every VIP)."""
    ipvs = result.lab.ipvs
    tcp = {s.address for s in result.services if s.proto == "TCP"}
    notes = []
    for vip in result.lab.vips:
        if vip.address not in tcp:
            written = result.instances[vip.name][0].vips[0]
            notes.append(
                Note(
                    written.where,
                    f"{vip.address}: the lab adds the service TCP {vip.address}:{ipvs.port} ({ipvs.scheduler}, "
                    "every real), which the submission's IPVS rules do not have",
                )
            )
    return notes


def _service(service: Service, result: Imported) -> list[Note]:
    lab = result.lab
    ipvs = lab.ipvs
    label = service.label
    vips = [v.address for v in lab.vips]
    if service.proto == "FWM":
        return [Note(service.where, f"{label}: not in the lab: it serves VIPs by address, not by firewall mark")]
    if service.address not in vips:
        held = ", ".join(vips) or "none"
        return [Note(service.where, f"{label}: not in the lab: {service.address} is not one of its VIPs ({held})")]
    if service.proto != "TCP":
        return [Note(service.where, f"{label}: not in the lab: its services are TCP ({service.address}:{ipvs.port})")]
    notes = []
    if service.port != ipvs.port:
        notes.append(Note(service.where, f"{label}: port {service.port}: the lab serves port {ipvs.port}"))
    if service.scheduler != ipvs.scheduler:
        notes.append(
            Note(
                service.where,
                f"{label}: scheduler {service.scheduler}: the lab schedules every service {ipvs.scheduler}",
            )
        )
    if service.persistent is not None:
        notes.append(
            Note(
                service.where, f"{label}: persistent {service.persistent}: not reproduced (the lab has no persistence)"
            )
        )
    notes += [Note(service.where, f"{label}: {flag}: not reproduced") for flag in service.flags]
    reals = {r.address: r.name for r in lab.reals}
    for real in service.reals:
        notes += _real(label, real, reals, result)
    listed = {r.address for r in service.reals}
    for address, name in reals.items():
        if address not in listed:
            notes.append(Note(service.where, f"{label}: the lab adds real {name} {address}, which this service lacks"))
    return notes


def _real(label: str, real: Real, reals: dict[str, str], result: Imported) -> list[Note]:
    ipvs = result.lab.ipvs
    shown = f"{label}: real {real.address}:{real.port}"
    if real.address not in reals:
        return [Note(real.where, f"{shown}: not in the lab: it lies outside the lab network {result.lab.network.cidr}")]
    notes = []
    if real.port != ipvs.port:
        notes.append(Note(real.where, f"{shown}: the lab sends to port {ipvs.port}"))
    if real.forward != "Route":
        notes.append(Note(real.where, f"{shown}: {real.forward}: the lab forwards by direct routing (Route)"))
    if real.weight != ipvs.weight:
        notes.append(Note(real.where, f"{shown}: weight {real.weight}: the lab gives every real weight {ipvs.weight}"))
    notes += [Note(real.where, f"{shown}: {flag}: not reproduced") for flag in real.flags]
    return notes
