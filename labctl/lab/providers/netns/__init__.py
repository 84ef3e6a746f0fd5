"""The netns provider: a lab without VMs, each node a network namespace of this host running
the real keepalived and nginx, IPVS where the host kernel has it. Fast (seconds), for CI and
hosts without virtualization; needs root. Its naming (`naming.py`), prerequisites and the IPVS
verdict (`prerequisites.py`), the node configurations from labctl's rendered files (`plan.py`),
the daemons that outlive labctl (`daemons.py`), the lab's LabAccess (`access.py`) and its
life from `up` to `destroy` (`host.py`)."""

from labctl.lab.providers.netns.access import NamespaceLab, NetnsLab
from labctl.lab.providers.netns.host import NetnsHost
from labctl.lab.providers.netns.provider import Netns

__all__ = ["NamespaceLab", "Netns", "NetnsHost", "NetnsLab"]
