"""The tests' LabAccess over network namespaces: the netns provider's `NamespaceLab`
(labctl/lab/providers/netns/access.py) over namespaces a test built itself (`lab_segment`).

Its daemons are recorded and started as the provider's are (detached, in sessions of their
own); a test's lab lives no longer than its fixture, so `close` stops them too.
"""

from __future__ import annotations

from labctl.lab.providers.netns.access import NamespaceLab as ProviderNamespaceLab


class NamespaceLab(ProviderNamespaceLab):
    def close(self) -> None:
        """Stop every process this object started: streams first, then the daemons."""
        super().close()
        self.stop_daemons()


__all__ = ["NamespaceLab"]
