"""`labctl dashboard` against the real VM lab, in chromium: every VIP on its planned master,
every node up, IPVS counters per real on each director; one screenshot. Cheap (well under a
minute): it only watches; failover is the failover test's job (which can reuse
tests/support/dashboard_browser.watch_dashboard to watch VI_1 move)."""

from __future__ import annotations

import pytest

from labctl.model import labfile
from tests.support.dashboard_browser import artifacts_dir, free_port, watch_dashboard

pytestmark = pytest.mark.e2e


def test_dashboard_shows_the_running_lab(lab_dir, tmp_path):
    folder, _name, _before, up = lab_dir
    assert up.returncode == 0, up.stderr[-2000:]
    lab = labfile.read_lab(folder / "lab.yaml")
    artifacts = artifacts_dir(tmp_path / "artifacts", "e2e-dashboard")
    # `labctl dashboard --port P` as a subprocess in the lab folder, stopped by its PID.
    with watch_dashboard(folder, free_port(), artifacts=artifacts) as dash:
        dash.page.wait_for_function("document.getElementById('labstate').textContent === 'lab is up'", timeout=30_000)
        for vip in lab.vips:
            seconds = dash.wait_holder(vip.name, lab.elected_master(vip), timeout=30)
            print(f"{vip.name} on {lab.elected_master(vip)} in the page after {seconds:.1f} s")
        # Reals and the client are read every third poll: give them one round more.
        for node in lab.nodes:
            dash.page.wait_for_selector(f'[data-node="{node.name}"].up', timeout=20_000)
        for balancer in lab.balancers:
            card = dash.page.inner_text(f'[data-node="{balancer.name}"]')
            assert "MASTER" in card and "holds" in card, card
            # IPVS per real (ActiveConn/InActConn) on every director, whoever holds the VIP.
            ipvs = dash.page.inner_text(f'[data-node="{balancer.name}"] .ipvs')
            for real in lab.reals:
                assert f"{real.name} " in ipvs, ipvs
        assert dash.holders() == {v.name: lab.elected_master(v) for v in lab.vips}
        dash.screenshot("e2e-every-vip-at-its-master")
