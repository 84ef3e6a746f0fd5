"""Every interface a submission names becomes the lab's one interface; what that makes redundant
(a tracked interface that is now the instance's own, or one tracked twice) is left out, and said."""

from __future__ import annotations

from dataclasses import replace

from labctl.submission.conf import Item
from labctl.submission.where import Where

# Keywords whose first argument names an interface.
_NAMING = ("interface", "lvs_sync_daemon", "lvs_sync_daemon_interface")


def interface_renames(configs: dict[str, tuple[Item, ...]], interface: str) -> dict[str, str]:
    """Every interface the configs name (interface, track_interface, dev, lvs_sync_daemon) ->
    INTERFACE: the lab has one segment."""
    written: set[str] = set()

    def walk(items: tuple[Item, ...], tracking: bool) -> None:
        for item in items:
            if tracking:
                written.add(item.key)
            if item.key in _NAMING and item.args:
                written.add(item.args[0])
            words = (item.key, *item.args)
            written.update(words[i + 1] for i, w in enumerate(words[:-1]) if w == "dev")
            if item.block:
                walk(item.block, item.key == "track_interface")

    for items in configs.values():
        walk(items, False)
    return {name: interface for name in written}


def fold_tracking(item: Item, rename: dict[str, str]) -> tuple[Item, list[tuple[Where, str]]]:
    """ITEM (a vrrp_instance or vrrp_sync_group) without the track_interface entries that, once
    renamed, are its own interface or repeat an earlier one: keepalived would log each as
    `duplicate track_interface` or `Ignoring track_interface ... since own interface` and track
    nothing more. Returns the item and, per entry left out, (where, why)."""
    if not item.block:
        return item, []
    own_item = item.find("interface")
    own = rename.get(own_item.args[0], own_item.args[0]) if own_item and own_item.args else None
    notes: list[tuple[Where, str]] = []
    block: list[Item] = []
    for child in item.block:
        if child.key != "track_interface" or not child.block:
            block.append(child)
            continue
        seen: set[str] = set()
        entries = []
        for entry in child.block:
            name = rename.get(entry.key, entry.key)
            weight = f" (its weight {' '.join(entry.args[1:])} is lost)" if entry.args[:1] == ("weight",) else ""
            if name == own:
                notes.append(
                    (
                        entry.where,
                        f"track_interface {entry.key}: the lab's one interface is {name}, {item.value}'s own, "
                        f"which keepalived watches anyway: not tracked again{weight}",
                    )
                )
            elif name in seen:
                notes.append(
                    (
                        entry.where,
                        f"track_interface {entry.key}: the lab's one interface {name} is tracked already: "
                        f"not tracked twice{weight}",
                    )
                )
            else:
                seen.add(name)
                entries.append(entry)
        if entries:
            block.append(replace(child, block=tuple(entries)))
    return replace(item, block=tuple(block)), notes
