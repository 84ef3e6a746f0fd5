"""keepalived virtual_server blocks that labctl's model expresses (ipvs.manager keepalived): one
per VIP on every balancer, DR, TCP, one scheduler, port and weight, an HTTP_GET check."""

from __future__ import annotations

from dataclasses import dataclass

from labctl.model import lab as model
from labctl.submission.conf import Item
from labctl.submission.instances import Instance


@dataclass(frozen=True)
class ModelledServers:
    scheduler: str
    port: int
    weight: int
    health_check: model.HealthCheck
    timeouts: model.Timeouts | None
    items: list[Item]


def _settings(item: Item) -> dict[str, tuple[str, ...]]:
    return {child.key: child.args for child in item.block or () if child.block is None}


def _server(item: Item) -> tuple[object, ...] | None:
    """The modelled values of one virtual_server, or None when it has anything else."""
    settings = _settings(item)
    scheduler = settings.get("lvs_sched") or settings.get("lb_algo")
    method = settings.get("lvs_method") or settings.get("lb_kind")
    allowed = {"delay_loop", "lvs_sched", "lb_algo", "lvs_method", "lb_kind", "protocol", "real_server"}
    if any(child.key not in allowed for child in item.block or ()) or len(item.args) != 2 or not item.args[1].isdigit():
        return None
    if (
        not scheduler
        or scheduler[0] not in model.SCHEDULERS
        or method != ("DR",)
        or settings.get("protocol") != ("TCP",)
    ):
        return None
    delay = settings.get("delay_loop", ("",))[0]
    reals = []
    for real in item.find_all("real_server"):
        shape = _real(real)
        if shape is None or real.args[1:] != item.args[1:]:
            return None
        reals.append((real.value, shape))
    if not reals or len({shape for _, shape in reals}) != 1 or not delay.isdigit():
        return None
    return (scheduler[0], int(item.args[1]), int(delay), reals[0][1], tuple(sorted(str(a) for a, _ in reals)))


def _real(item: Item) -> tuple[int, str, int, int, int] | None:
    """(weight, path, status_code, connect_timeout, retry) of labctl's own real_server form."""
    settings = _settings(item)
    check = item.find("HTTP_GET")
    url = check.find("url") if check else None
    if check is None or url is None or set(settings) != {"weight"} or len(item.block or ()) != 2:
        return None
    url_settings, check_settings = _settings(url), _settings(check)
    if set(url_settings) != {"path", "status_code"} or set(check_settings) != {
        "connect_timeout",
        "retry",
        "delay_before_retry",
    }:
        return None
    numbers = (
        settings["weight"],
        url_settings["status_code"],
        check_settings["connect_timeout"],
        check_settings["retry"],
    )
    if not all(len(n) == 1 and n[0].isdigit() for n in numbers) or check_settings["delay_before_retry"] != ("1",):
        return None
    weight, status, timeout, retry = (int(n[0]) for n in numbers)
    return weight, url_settings["path"][0], status, timeout, retry


def _timeouts(items: tuple[Item, ...]) -> model.Timeouts | None:
    for item in items:
        setting = item.find("lvs_timeouts") if item.key == "global_defs" else None
        if setting is not None:
            words = dict(zip(setting.args[::2], setting.args[1::2]))
            if all(words.get(k, "").isdigit() for k in ("tcp", "tcpfin", "udp")):
                return model.Timeouts(int(words["tcp"]), int(words["tcpfin"]), int(words["udp"]))
    return None


def model_servers(
    configs: dict[str, tuple[Item, ...]], modelled: set[str], instances: dict[str, list[Instance]], reals: set[str]
) -> ModelledServers | None:
    """The virtual servers as model settings, when every one fits labctl's form on every node."""
    vips = {instances[name][0].vips[0].address for name in modelled}
    shapes = set()
    items: list[Item] = []
    for node_items in configs.values():
        servers = [i for i in node_items if i.key == "virtual_server"]
        if not servers or sorted(s.value or "" for s in servers) != sorted(vips):
            return None
        for server in servers:
            shape = _server(server)
            if shape is None:
                return None
            shapes.add(shape)
            items.append(server)
    if len(shapes) != 1:
        return None
    scheduler, port, delay, real, addresses = shapes.pop()
    assert isinstance(scheduler, str) and isinstance(port, int) and isinstance(delay, int)
    assert isinstance(real, tuple) and isinstance(addresses, tuple)
    if set(addresses) != reals:
        return None
    weight, path, status, timeout, retry = real
    check = model.HealthCheck(path, status, delay, timeout, retry)
    timeouts = {_timeouts(i) for i in configs.values()}
    return ModelledServers(scheduler, port, weight, check, timeouts.pop() if len(timeouts) == 1 else None, items)
