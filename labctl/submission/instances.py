"""keepalived.conf items -> VRRP instances and virtual servers as written, each value with FILE:LINE."""

from __future__ import annotations

from dataclasses import dataclass, field

from labctl.submission.conf import Item
from labctl.submission.where import Where

# keepalived's defaults when a keyword is left out.
DEFAULT_PRIORITY = 100
DEFAULT_ADVERT_INT = "1"
DEFAULT_STATE = "BACKUP"
# Keywords of an instance that labctl's model carries (the rest is carried verbatim).
MODELLED_KEYWORDS = {"state", "interface", "virtual_router_id", "priority", "advert_int", "authentication"}
MODELLED_KEYWORDS |= {"virtual_ipaddress"}
# Keywords that change nothing VRRP or IPVS do (mail alerts): dropped, and said so.
IGNORED_KEYWORDS = {"smtp_alert"}
# The notify script of labctl's own rendered files (a round trip reads it back).
LABCTL_NOTIFY = "/usr/local/sbin/labctl-vrrp-notify"
SCRIPT_KEYWORDS = {"notify", "notify_master", "notify_backup", "notify_fault", "notify_stop", "notify_deleted"}
SCRIPT_KEYWORDS |= {"notify_master_rx_lower_pri", "script", "misc_path"}


@dataclass(frozen=True)
class Value:
    text: str
    where: Where


@dataclass(frozen=True)
class VipEntry:
    address: str
    prefix: int | None
    words: tuple[str, ...]  # dev, label, scope...
    where: Where


@dataclass
class Instance:
    node: str
    name: str
    item: Item
    state: Value | None = None
    interface: Value | None = None
    vrid: Value | None = None
    priority: Value | None = None
    advert_int: Value | None = None
    auth_type: Value | None = None
    auth_pass: Value | None = None
    vips: list[VipEntry] = field(default_factory=list)
    # Keywords labctl's model does not carry, and the ones it drops as harmless.
    others: list[Item] = field(default_factory=list)
    ignored: list[Item] = field(default_factory=list)

    @property
    def where(self) -> Where:
        return self.item.where

    @property
    def priority_value(self) -> int:
        return int(self.priority.text) if self.priority and self.priority.text.isdigit() else DEFAULT_PRIORITY

    @property
    def state_value(self) -> str:
        return self.state.text.upper() if self.state else DEFAULT_STATE

    @property
    def advert_value(self) -> str:
        return self.advert_int.text if self.advert_int else DEFAULT_ADVERT_INT

    @property
    def auth(self) -> tuple[str, str | None]:
        return (
            self.auth_type.text.upper() if self.auth_type else "none",
            self.auth_pass.text if self.auth_pass else None,
        )


def _value(item: Item | None) -> Value | None:
    if item is None or not item.args:
        return None
    return Value(item.args[0], item.where)


def read_instance(node: str, item: Item) -> Instance:
    instance = Instance(node, item.value or "", item)
    for child in item.block or ():
        key = child.key
        if key == "state":
            instance.state = _value(child)
        elif key == "interface":
            instance.interface = _value(child)
        elif key == "virtual_router_id":
            instance.vrid = _value(child)
        elif key == "priority":
            instance.priority = _value(child)
        elif key == "advert_int":
            instance.advert_int = _value(child)
        elif key == "authentication":
            instance.auth_type = _value(child.find("auth_type"))
            instance.auth_pass = _value(child.find("auth_pass"))
            extra = [c for c in child.block or () if c.key not in ("auth_type", "auth_pass")]
            instance.others.extend(extra)
        elif key == "virtual_ipaddress":
            instance.vips.extend(_vip(entry) for entry in child.block or ())
        elif key in IGNORED_KEYWORDS:
            instance.ignored.append(child)
        elif key == "notify" and child.args == (LABCTL_NOTIFY,):
            continue
        else:
            instance.others.append(child)
    return instance


def _vip(entry: Item) -> VipEntry:
    address, _, prefix = entry.key.partition("/")
    return VipEntry(address, int(prefix) if prefix.isdigit() else None, entry.args, entry.where)


def scripts(items: tuple[Item, ...] | list[Item]) -> list[Item]:
    """Every line that names a program keepalived would run as root (notify*, vrrp_script's
    script, misc_check's misc_path), however deep."""
    found: list[Item] = []
    for item in items:
        if item.key in SCRIPT_KEYWORDS and item.args:
            found.append(item)
        if item.block:
            found.extend(scripts(item.block))
    return found
