"""A read submission -> a Lab: what labctl's model expresses goes into the lab file, every other
block is carried verbatim per node (interface names mapped), and the report says which."""

from __future__ import annotations

import ipaddress
from collections import Counter
from dataclasses import dataclass, field, replace

from labctl.model import lab as model
from labctl.model.labfile import AUTH_PASS_WRITTEN, VRRP_NAME
from labctl.submission import conf
from labctl.submission.instances import Instance, read_instance, scripts
from labctl.submission.interfaces import fold_tracking, interface_renames
from labctl.submission.ipvsrules import Service
from labctl.submission.load import Submission
from labctl.submission.vsmodel import ModelledServers, model_servers
from labctl.submission.where import SubmissionError, Where

# keepalived's global_defs keywords that labctl's rendered file sets itself, or that change nothing
# VRRP and IPVS do (mail, names): not reported as dropped.
QUIET_GLOBALS = {"router_id", "script_user", "enable_script_security", "notification_email", "notification_email_from"}
QUIET_GLOBALS |= {"smtp_server", "smtp_connect_timeout", "lvs_timeouts"}
# Top-level keywords left out of what is carried: they would move keepalived away from the lab.
NOT_CARRIED = {
    "net_namespace": "not reproduced: keepalived would run in a network namespace without the lab's interface "
    "(each balancer is a VM of its own)",
}


@dataclass(frozen=True)
class Note:
    where: Where | None
    text: str

    def __str__(self) -> str:
        return f"{self.where}: {self.text}" if self.where else self.text


@dataclass
class Imported:
    lab: model.Lab
    instances: dict[str, list[Instance]]  # by instance name, one per node that has it
    modelled: set[str]
    services: list[Service]
    virtual_servers: list[conf.Item] = field(default_factory=list)
    carried: list[Note] = field(default_factory=list)
    scripts: list[Note] = field(default_factory=list)
    dropped: list[Note] = field(default_factory=list)
    findings: list[Note] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    # What was read, per node (for pointing keepalived's complaints back at it), and the
    # interface renames applied to what is carried.
    configs: dict[str, tuple[conf.Item, ...]] = field(default_factory=dict)
    renames: dict[str, str] = field(default_factory=dict)
    # The top-level blocks carried as written (lab.yaml keepalived_extra), every node's.
    carried_items: list[conf.Item] = field(default_factory=list)
    # `keepalived --config-test` of each rendered keepalived.conf (lab/nodes/importcheck.py).
    config_test: list[Note] = field(default_factory=list)


def build(submission: Submission, name: str = "lab") -> Imported:
    balancers = list(submission.configs)
    if not balancers:
        raise SubmissionError(None, "keepalived.conf", "the submission has none: a lab needs at least one balancer")
    instances: dict[str, list[Instance]] = {}
    for node, items in submission.configs.items():
        for item in items:
            if item.key == "vrrp_instance":
                instance = read_instance(node, item)
                instances.setdefault(instance.name, []).append(instance)
    services = [s for rules in submission.rules for s in rules.services]
    interface = model.NetworkSettings().interface
    rename = interface_renames(submission.configs, interface)
    network = _network(submission, instances, services)
    advert, auth = _common_settings(instances)
    modelled = _modelled(instances, balancers, network, advert, auth)
    nodes = _nodes(submission, balancers, services, network, instances, modelled)
    taken = {n.address for n in nodes}
    vips = _vips(instances, modelled, taken)
    servers = model_servers(submission.configs, modelled, instances, {n.address for n in nodes if n.role == "real"})
    ipvs = _ipvs(services, servers, submission)
    auth_type, auth_pass = auth
    vrrp = model.VrrpSettings(
        advert_int=int(advert),
        auth_type="PASS" if auth_type == "PASS" else "none",
        # As written; keepalived cuts it to 8 (a finding says so). One the lab file cannot hold
        # (spaces, quotes) leaves every instance carried as written, and the lab its own.
        auth_pass=auth_pass if auth_pass and AUTH_PASS_WRITTEN.fullmatch(auth_pass) else None,
    )
    result = Imported(
        lab=model.Lab(name, model.ProviderSettings(), network, tuple(nodes), tuple(vips), vrrp, ipvs),
        instances=instances,
        modelled=modelled,
        services=services,
        virtual_servers=[i for items in submission.configs.values() for i in items if i.key == "virtual_server"],
        files=submission.files,
        configs=submission.configs,
        renames=rename,
    )
    extra = _carry(submission, instances, modelled, servers, rename, result)
    result.lab = replace(result.lab, keepalived_extra=extra)
    _report_dropped(submission, instances, modelled, rename, result)
    for file, written, lab_name in submission.renamed:
        shown = f" (written {written!r})" if written else ""
        result.dropped.append(
            Note(Where(file, 1), f"a keepalived.conf without a usable node name{shown}: node {lab_name}")
        )
    return result


def _vip_network(instances: dict[str, list[Instance]]) -> list[ipaddress.IPv4Interface]:
    found = []
    for group in instances.values():
        for instance in group:
            for vip in instance.vips:
                try:
                    prefix = vip.prefix if vip.prefix and 16 <= vip.prefix <= 29 else 24
                    found.append(ipaddress.IPv4Interface(f"{vip.address}/{prefix}"))
                except ValueError:
                    continue
    return found


def _network(
    submission: Submission, instances: dict[str, list[Instance]], services: list[Service]
) -> model.NetworkSettings:
    """The lab network: the Vagrantfile's balancers' network, else the one most VIPs are in."""
    networks: Counter[ipaddress.IPv4Network] = Counter()
    for node in submission.vagrant:
        if node.name in submission.configs:
            mask = node.netmask or "255.255.255.0"
            networks[ipaddress.IPv4Interface(f"{node.address}/{mask}").network] += 100
    for vip in _vip_network(instances):
        networks[vip.network] += 1
    for service in services:
        for real in service.reals:
            try:
                networks[ipaddress.IPv4Interface(f"{real.address}/24").network] += 1
            except ValueError:
                continue
    if not networks:
        return model.NetworkSettings()
    best = max(networks.values())
    chosen = next(n for n, count in networks.items() if count == best)
    if not 16 <= chosen.prefixlen <= 24:  # room for the lab's own nodes
        chosen = ipaddress.IPv4Interface(f"{chosen.network_address}/24").network
    return model.NetworkSettings(cidr=str(chosen))


def _common_settings(instances: dict[str, list[Instance]]) -> tuple[str, tuple[str, str | None]]:
    """The advert_int and authentication most instances use: the lab's own."""
    adverts = Counter(i.advert_value for group in instances.values() for i in group if i.advert_value.isdigit())
    auths = Counter(i.auth for group in instances.values() for i in group)
    advert = adverts.most_common(1)[0][0] if adverts else "1"
    auth = auths.most_common(1)[0][0] if auths else ("PASS", None)
    return advert, auth


def _usable_vip(address: str, network: ipaddress.IPv4Network) -> bool:
    try:
        addr = ipaddress.IPv4Address(address)
    except ValueError:
        return False
    return addr in network and addr not in (network.network_address, network.broadcast_address, network[1])


def _modelled(
    instances: dict[str, list[Instance]],
    balancers: list[str],
    network: model.NetworkSettings,
    advert: str,
    auth: tuple[str, str | None],
) -> set[str]:
    """The instances labctl's model reproduces exactly: on one or more balancers, one VIP in the lab
    network, the lab's advert_int and authentication, nothing else that changes behaviour."""
    net = ipaddress.IPv4Network(network.cidr)
    modelled: set[str] = set()
    vrids: set[str] = set()
    for name, group in instances.items():
        first = group[0]
        same = {(i.vrid.text if i.vrid else None, tuple((v.address, v.prefix, v.words) for v in i.vips)) for i in group}
        priorities = [i.priority_value for i in group]
        fits = (
            VRRP_NAME.fullmatch(name)
            # On some balancers only is still a VIP: the others are no candidates for it.
            and len({i.node for i in group}) == len(group)
            and all(i.node in balancers for i in group)
            and len(same) == 1
            and first.vrid is not None
            and first.vrid.text.isdigit()
            and 1 <= int(first.vrid.text) <= 255
            and first.vrid.text not in vrids
            and len(first.vips) == 1
            and first.vips[0].prefix in (None, 32, net.prefixlen)
            and not first.vips[0].words
            and _usable_vip(first.vips[0].address, net)
            and all(i.advert_value == advert and i.auth == auth and not i.others for i in group)
            and all(1 <= p <= 254 for p in priorities)
            and priorities.count(max(priorities)) == 1
            and (auth[1] is None or AUTH_PASS_WRITTEN.fullmatch(auth[1]))
        )
        if fits:
            modelled.add(name)
            assert first.vrid is not None
            vrids.add(first.vrid.text)
    return modelled


def _nodes(
    submission: Submission,
    balancers: list[str],
    services: list[Service],
    network: model.NetworkSettings,
    instances: dict[str, list[Instance]],
    modelled: set[str],
) -> list[model.Node]:
    net = ipaddress.IPv4Network(network.cidr)
    vips = {g[0].vips[0].address for n, g in instances.items() if n in modelled}
    reference = {n.name: n.address for n in model.reference_nodes()}
    vagrant = {n.name: n for n in submission.vagrant}
    vagrant_by_address = {n.address: n.name for n in submission.vagrant}
    taken = set(vips)
    nodes: list[model.Node] = []

    def usable(address: str) -> bool:
        return _usable_vip(address, net) and address not in taken

    def free(start: int) -> str:
        hosts = list(net.hosts())
        for host in hosts[start:] + hosts[:start]:
            if usable(str(host)):
                return str(host)
        raise SubmissionError(None, network.cidr, "has no free address left for the lab's nodes")

    def add(name: str, role: str, address: str | None, start: int) -> None:
        if address is None or not usable(address):
            guess = reference.get(name)
            address = guess if guess and usable(guess) else free(start)
        taken.add(address)
        nodes.append(model.Node(name, role, address))

    for name in balancers:
        add(name, "balancer", vagrant[name].address if name in vagrant else None, 1)
    real_addresses = []
    for service in services:
        for real in service.reals:
            if real.address not in real_addresses and real.address not in vips:
                real_addresses.append(real.address)
    for server in _keepalived_reals(submission, modelled, instances):
        if server not in real_addresses:
            real_addresses.append(server)
    names = iter(f"r{i}" for i in range(1, 1000))
    for address in real_addresses:
        if not _usable_vip(address, net):
            continue  # a real outside the lab network is reported with its service
        name = vagrant_by_address.get(address) or next(names)
        add(name if name not in balancers else next(names), "real", address, 10)
    if not any(n.role == "real" for n in nodes):
        for node in model.reference_nodes():
            if node.role == "real":
                add(node.name, "real", None, 10)
    clients = [n for n in submission.vagrant if n.name not in balancers and n.address not in real_addresses]
    for client in clients:
        add(client.name, "client", client.address, 99)
    if not clients:
        add("c1", "client", None, 99)
    return nodes


def _keepalived_reals(submission: Submission, modelled: set[str], instances: dict[str, list[Instance]]) -> list[str]:
    vips = {g[0].vips[0].address for n, g in instances.items() if n in modelled}
    found: list[str] = []
    for items in submission.configs.values():
        for item in items:
            if item.key == "virtual_server" and item.value in vips:
                found.extend(r.value for r in item.find_all("real_server") if r.value and r.value not in found)
    return found


def _vips(instances: dict[str, list[Instance]], modelled: set[str], taken: set[str]) -> list[model.Vip]:
    vips = []
    for name, group in instances.items():
        if name not in modelled:
            continue
        first = group[0]
        assert first.vrid is not None
        priorities = {i.node: i.priority_value for i in group}
        vips.append(model.Vip(name, first.vips[0].address, int(first.vrid.text), priorities))
    return vips


def _ipvs(services: list[Service], servers: ModelledServers | None, submission: Submission) -> model.IpvsSettings:
    timeouts = next((r.timeouts for r in submission.rules if r.timeouts), None)
    base = model.IpvsSettings()
    if timeouts is not None:
        base = replace(base, timeouts=model.Timeouts(timeouts.tcp, timeouts.tcpfin, timeouts.udp))
    if servers is not None:
        return replace(
            base,
            manager="keepalived",
            scheduler=servers.scheduler,
            port=servers.port,
            weight=servers.weight,
            health_check=servers.health_check,
            timeouts=servers.timeouts or base.timeouts,
        )
    if not services:
        return base
    first = services[0]
    weights = {r.weight for s in services for r in s.reals}
    return replace(base, scheduler=first.scheduler, port=first.port, weight=weights.pop() if len(weights) == 1 else 1)


def _carry(
    submission: Submission,
    instances: dict[str, list[Instance]],
    modelled: set[str],
    servers: ModelledServers | None,
    rename: dict[str, str],
    result: Imported,
) -> dict[str, str]:
    """Per node, the blocks labctl's model cannot express, verbatim (interface names mapped)."""
    extra: dict[str, str] = {}
    for node, items in submission.configs.items():
        kept: list[conf.Item] = []
        for item in items:
            label = " ".join((item.key, *item.args))
            if item.key == "global_defs":
                continue
            if item.key in NOT_CARRIED:
                result.dropped.append(Note(item.where, f"{node}: {label}: {NOT_CARRIED[item.key]}"))
                continue
            if item.key == "vrrp_instance" and item.value in modelled:
                continue
            if item.key == "virtual_server" and servers is not None and item in servers.items:
                continue
            if item.key in ("vrrp_instance", "vrrp_sync_group"):
                item, left_out = fold_tracking(item, rename)
                result.dropped.extend(Note(where, f"{node}: {text}") for where, text in left_out)
            kept.append(item)
            result.carried_items.append(item)
            result.carried.append(Note(item.where, f"{node}: {label} (kept as written)"))
        for line in scripts(items):
            result.scripts.append(
                Note(line.where, f"{node}: {line.key} {' '.join(line.args)} (runs as root inside the VM only)")
            )
        if kept:
            extra[node] = conf.emit(kept, rename)
    return extra


def _report_dropped(
    submission: Submission,
    instances: dict[str, list[Instance]],
    modelled: set[str],
    rename: dict[str, str],
    result: Imported,
) -> None:
    lab = result.lab
    for items in submission.configs.values():
        for item in items:
            if item.key != "global_defs":
                continue
            for setting in item.block or ():
                if setting.key not in QUIET_GLOBALS:
                    result.dropped.append(Note(setting.where, f"global_defs {setting.key}: not reproduced"))
    for name, group in instances.items():
        for instance in group:
            for item in instance.ignored:
                result.dropped.append(Note(item.where, f"{item.key}: dropped (it only sends mail)"))
            if instance.interface and instance.interface.text != lab.network.interface:
                result.dropped.append(
                    Note(
                        instance.interface.where,
                        f"interface {instance.interface.text}: the lab's interface is {lab.network.interface}",
                    )
                )
            if name not in modelled:
                continue
            vip = lab.vip(name)
            written = instance.vips[0]
            if written.prefix != lab.prefixlen:
                result.dropped.append(
                    Note(
                        written.where,
                        f"{written.address}{'/' + str(written.prefix) if written.prefix else ''}: "
                        f"the lab adds it as {written.address}/{lab.prefixlen} (the lab network's prefix)",
                    )
                )
            wanted = lab.initial_state(vip, instance.node)
            if instance.state_value != wanted:
                where = instance.state.where if instance.state else instance.where
                result.dropped.append(
                    Note(where, f"state {instance.state_value} on {instance.node}: the lab renders state {wanted}")
                )
