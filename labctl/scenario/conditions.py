"""`wait_until` conditions, judged on the freshest capture samples and probe state."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from labctl.model.lab import Lab
from labctl.model.targets import parse_target, resolve

if TYPE_CHECKING:
    from labctl.scenario.runstate import LiveState
    from labctl.scenario.streams import RecordedStream


class Condition:
    def __init__(
        self, spec: dict[str, Any], lab: Lab, refs: dict[str, str], live: LiveState, probes: dict[str, RecordedStream]
    ) -> None:
        self.spec = spec
        self.lab = lab
        self.refs = refs
        self.live = live
        self.probes = probes

    def _node(self, value: Any) -> str:
        return resolve(parse_target(value), self.lab, self.refs, lambda _vip: None)[0]

    def holds(self) -> bool:
        spec = self.spec
        if "holder" in spec:
            vip = self.lab.vip(spec["holder"])
            holders = self.live.holders(vip.address)
            if "is" in spec and self._node(spec["is"]) not in holders:
                return False
            if "not" in spec and not [h for h in holders if h != self._node(spec["not"])]:
                return False
            if spec.get("master") is True and holders != [self.lab.elected_master(vip)]:
                return False
            if "any" in spec and bool(holders) != bool(spec["any"]):
                return False
            if "count" in spec and len(holders) != int(spec["count"]):
                return False
            return True
        if "all_vips" in spec:
            # Every VIP on its elected master (all balancers up) and nowhere else.
            placed = all(self.live.holders(v.address) == [self.lab.elected_master(v)] for v in self.lab.vips)
            return placed == bool(spec.get("at_master", True))
        if "real" in spec:
            address = self.lab.node(spec["real"]).address
            tables = [s.ipvs for s in self.live.fresh_samples().values() if s.ipvs is not None]
            if not tables:
                return False
            present = [any(r.address == address for svc in t.services for r in svc.reals) for t in tables]
            return all(present) if spec["in_table"] else not any(present)
        if "probe" in spec:
            stream = self.probes.get(spec["probe"])
            return stream is not None and stream.finished == bool(spec.get("done", True))
        if "inactconn" in spec:
            vip = self.lab.vip(spec["inactconn"])
            total = 0
            for sample in self.live.fresh_samples().values():
                service = sample.ipvs.service(vip.address, self.lab.ipvs.port) if sample.ipvs else None
                if service is not None:
                    total += sum(r.inact_conn for r in service.reals)
            return total <= int(spec["max"])
        return False
