"""VirshShell against a real virsh: libvirt's test driver (test:///default, a hypervisor simulated
inside virsh itself: no daemon, no VM, no network)."""

from __future__ import annotations

import json
import shutil

import pytest

from labctl.lab.vms.virshshell import VirshShell

pytestmark = pytest.mark.skipif(shutil.which("virsh") is None, reason="virsh is not installed")


@pytest.fixture
def virsh():
    shell = VirshShell("test:///default")
    yield shell
    shell.close()


def test_one_open_virsh_answers_command_after_command(virsh):
    assert virsh.call(["list", "--all", "--name"], 10) == ("test", None)
    assert virsh.call(["domstate", "test"], 10) == ("running", None)
    # virsh's error is the reply's, and the shell goes on.
    out, error = virsh.call(["domstate", "no-such-domain"], 10)
    assert out == "" and error is not None and "no-such-domain" in error
    assert virsh.call(["domstate", "test"], 10) == ("running", None)


def test_arguments_arrive_as_given_quotes_and_a_long_json_line_included(virsh):
    # What a guest-exec request looks like on virsh's line: JSON with both kinds of quote.
    request = json.dumps({"arg": ["-c", """printf '%s\\n' "it's" 'a "b"'""" + " x" * 5000]})
    assert virsh.call(["desc", "test", "--live", "--new-desc", request], 10)[1] is None
    out, error = virsh.call(["desc", "test", "--live"], 10)
    assert error is None and json.loads(out) == json.loads(request)


def test_a_closed_shell_starts_again_on_the_next_call(virsh):
    virsh.close()
    assert virsh.call(["domstate", "test"], 10) == ("running", None)
