"""Narration for a class watching a run (`labctl scenario run --narrate`): before each action,
what is about to happen and what VRRP theory predicts; after it, what the polls measured. The
words are made here; showing them and waiting for the audience is the caller's (a Narrator
the CLI hands the engine), so this layer never prints or reads a terminal."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from labctl.model.lab import Vip
from labctl.model.targets import TargetError
from labctl.scenario import actions
from labctl.scenario.model import Step

if TYPE_CHECKING:
    from labctl.scenario.runstate import RunContext

HOW = {
    "power-off": "loses power",
    "keepalived-stop": "stops keepalived gracefully (a priority-0 advert first)",
    "keepalived-kill": "has keepalived SIGKILLed (no goodbye, the VIP stays on its interface)",
    "link-down": "loses its lab link",
}


class Narrator(Protocol):
    def before(self, text: str) -> None:
        """Show TEXT before an action; may block until the audience is ready."""

    def after(self, text: str) -> None:
        """Show what was measured after a step."""


def _skew(priority: int) -> float:
    return (256 - priority) / 256


class Narration:
    """The words for one run; remembers its last prediction to set the measurement against."""

    def __init__(self, engine: RunContext) -> None:
        self.engine = engine
        self.lab = engine.lab
        self.expected: dict[str, tuple[str, float]] = {}  # VIP name -> (new holder, theory s)

    def _held_by(self, node: str) -> list[Vip]:
        live = self.engine.live
        seen = bool(live.fresh_samples())
        return [
            v
            for v in self.lab.vips
            if (node in live.holders(v.address) if seen else self.lab.elected_master(v) == node)
        ]

    def before(self, step: Step) -> str:
        action = actions.concrete(str(step.value), step.options.get("method"))
        try:
            nodes = (
                self.engine.nodes(step.options["target"], "balancer")
                if "target" in step.options
                else [n.name for n in self.lab.balancers]
            )
        except TargetError:
            return f"next: {step.describe()}"
        self.expected = {}
        return " ".join(self._predict(node, action) for node in nodes)

    def _predict(self, node: str, action: str) -> str:
        balancers = {b.name for b in self.lab.balancers}
        if node not in balancers:
            if action == "nginx-stop":
                managed = self.lab.ipvs.manager == "keepalived"
                return f"{node}'s nginx stops: " + (
                    "keepalived's health check should take it out of the IPVS table within about "
                    f"{self.lab.ipvs.health_check.delay_loop + self.lab.ipvs.health_check.connect_timeout} s."
                    if managed
                    else "hand-made ipvsadm rules keep sending it connections, which fail."
                )
            return f"{action} on {node}."
        if action in HOW:
            vips = self._held_by(node)
            if not vips:
                return f"{node} holds no VIP: when it {HOW[action]}, nothing should move."
            return " ".join(self._takeover(node, action, vip) for vip in vips)
        if action in ("power-on", "keepalived-start", "link-up"):
            owned = [v for v in self.lab.vips if self.lab.elected_master(v) == node]
            if not owned:
                return f"{node} comes back; it is the planned master of no VIP, so nothing should move."
            boot = " after it has booted" if action == "power-on" else ""
            names = ", ".join(f"{v.name} ({v.priorities[node]})" for v in owned)
            for vip in owned:
                self.expected[vip.name] = (node, 0.0)
            return f"{node} comes back: with the highest priority in {names} it should take them back (preempt){boot}."
        return f"{action} on {node}."

    def _takeover(self, node: str, action: str, vip: Vip) -> str:
        alive = {b.name for b in self.lab.balancers} - {node}
        winner = self.lab.elected_master(vip, alive)
        if winner is None:
            return f"no other balancer is configured for {vip.name}: when {node} {HOW[action]}, the VIP should go dark."
        p, advert = vip.priorities[winner], self.lab.vrrp.advert_int
        if action == "keepalived-stop":
            theory = _skew(p)
            how = f"after its skew time (256 - {p})/256 = {theory:.2f} s"
        else:
            theory = 3 * advert + _skew(p)
            how = f"after 3 x {advert} s + {_skew(p):.2f} s = {theory:.2f} s"
        self.expected[vip.name] = (winner, theory)
        text = (
            f"{node} is the master of {vip.name} with priority {vip.priorities[node]}; when it {HOW[action]}, "
            f"{winner} ({p}) should take the VIP {how}."
        )
        if action == "keepalived-kill":
            text += f" {node} keeps the address: expect a duplicate holder until keepalived returns."
        return text

    def after(self, step: Step, last: dict[str, Any] | None) -> str | None:
        """What LAST (the step's last event) measured, set against the prediction."""
        if last is None:
            return None
        if step.kind == "action" and last.get("kind") == "action":
            took = float(last.get("t_end", 0)) - float(last.get("t_start", 0))
            return f"{last.get('action')} on {last.get('node')} done in {took:.1f} s."
        if step.kind == "wait_until" and last.get("kind") == "wait_until" and self.expected:
            after_s = last.get("after_s")
            condition = last.get("condition")
            said = ", ".join(f"{k}={v}" for k, v in condition.items()) if isinstance(condition, dict) else condition
            if not last.get("held"):
                return f"the condition {said} did not hold within {after_s} s."
            vip = condition.get("holder") if isinstance(condition, dict) else None
            if vip in {v.name for v in self.lab.vips}:
                holders = self.engine.live.holders(self.lab.vip(vip).address)
                said = f"{vip} held by {' and '.join(holders) or 'nobody'}"
            text = f"measured: {said} after {after_s} s (seen in the polls; the report times it from packets)"
            if vip in self.expected and self.expected[vip][1]:
                text += f"; theory said {self.expected[vip][1]:.2f} s"
            self.expected = {}  # measured once: later waits are not this action's
            return text + "."
        return None
