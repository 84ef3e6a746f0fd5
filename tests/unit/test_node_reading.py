"""Reading a node's state for `status` and the dashboard: without sudo (it costs a guest about
0.2 s of emulated CPU), and with it only when the node's VRRP folder is still root's alone.
The shell here is a stand-in that answers as a node would; the script itself runs for real in
tests/integration/test_snapshot_script.py."""

from __future__ import annotations

from labctl.lab.nodes.snapshot import SECTIONS, read_node_state
from labctl.lab.nodes.ssh import CommandResult

READING = "@@sample 100.0\n@@hostname\nb1\n@@vrrp\nVI_1 MASTER\n@@end\n"


class AnsweringShell:
    def __init__(self, unreadable_without_sudo: bool) -> None:
        self.unreadable = unreadable_without_sudo
        self.calls: list[bool] = []

    @property
    def node(self) -> str:
        return "b1"

    def run(self, argv, sudo=False, timeout=30.0, check=False, stdin=None) -> CommandResult:
        self.calls.append(sudo)
        if self.unreadable and not sudo:
            out, err = (
                "@@sample 100.0\n@@hostname\nb1\n@@vrrp\n@@end\n",
                "labctl-snapshot: /run/labctl/vrrp unreadable\n",
            )
        else:
            out, err = READING, ""
        return CommandResult("b1", argv, 0, out, err, 0.1)


def test_a_reading_needs_no_sudo_and_takes_the_table_from_proc():
    shell = AnsweringShell(unreadable_without_sudo=False)
    view = read_node_state(shell)
    assert shell.calls == [False] and view.vrrp == {"VI_1": "MASTER"}
    assert "ipvsproc" in SECTIONS and "ipvs" not in SECTIONS


def test_a_vrrp_folder_only_root_reads_is_read_again_with_sudo():
    shell = AnsweringShell(unreadable_without_sudo=True)
    view = read_node_state(shell)
    assert shell.calls == [False, True] and view.vrrp == {"VI_1": "MASTER"}
