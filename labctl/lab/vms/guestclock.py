"""A guest's clock against the host's, the pure decision: how far off it is, whether to step it,
and the reading a step leaves. Shared by both ways of stepping it, the QEMU guest agent
(labctl.lab.vms.guestagent) and SSH (labctl.lab.nodes.clockstep); it lives here, in vms/, so
that both rooms may import it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

# Half a VRRP advert interval: below it, a step would be noise from the round trip itself
# (tens of milliseconds to a few hundred under emulation).
STEP_THRESHOLD_S = 0.5
MAX_STEPS = 3

Via = Literal["agent", "ssh"]


@dataclass(frozen=True)
class ClockReading:
    node: str
    before_s: float  # guest minus host before the step (negative: the guest is behind)
    after_s: float | None  # the same after it; None when no step was needed
    error: str | None = None
    via: Via = "ssh"  # how the guest was reached: its guest agent, or SSH

    def to_dict(self) -> dict[str, float | str | None]:
        return {
            "before_s": round(self.before_s, 3),
            "after_s": _round(self.after_s),
            "error": self.error,
            "via": self.via,
        }

    def step_words(self) -> str:
        """The step as a person reads it: "b1 -300.2 s by agent"."""
        return f"{self.node} {self.before_s:+.1f} s {'by agent' if self.via == 'agent' else 'over SSH'}"


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def offset(host_sent: float, guest: float, host_back: float) -> float:
    """The guest's clock minus the host's, taking the guest's reading at the round trip's middle."""
    return guest - (host_sent + host_back) / 2


def needs_step(offset_s: float, threshold_s: float = STEP_THRESHOLD_S) -> bool:
    return abs(offset_s) > threshold_s
