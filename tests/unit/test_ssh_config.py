"""The pure parts of labctl.lab.nodes.ssh: ssh-config parsing, command quoting, host key pins, parallel runs."""

from __future__ import annotations

import shlex
import threading
from pathlib import Path

import paramiko
import pytest

from labctl.lab.nodes.ssh import (
    HostKeyMismatch,
    SshConfigError,
    SshError,
    SshSession,
    SshTarget,
    _pin_or_check,
    command_line,
    failures,
    forget_host,
    host_pattern,
    parse_ssh_config,
    pinned_keys,
    run_parallel,
)

# What `vagrant ssh-config` prints for a vagrant-libvirt lab (Vagrant 2.4 lists two keys).
VAGRANT_SSH_CONFIG = """\
Host balancer1
  HostName 192.168.121.10
  User vagrant
  Port 22
  UserKnownHostsFile /dev/null
  StrictHostKeyChecking no
  PasswordAuthentication no
  IdentityFile "/home/ana/my labs/.vagrant/machines/balancer1/libvirt/private_key"
  IdentitiesOnly yes
  LogLevel FATAL
  PubkeyAcceptedKeyTypes +ssh-rsa
  HostKeyAlgorithms +ssh-rsa

Host real1
  HostName 192.168.121.21
  User vagrant
  Port 2200
  UserKnownHostsFile /dev/null
  StrictHostKeyChecking no
  PasswordAuthentication no
  IdentityFile /home/ana/.vagrant.d/insecure_private_keys/vagrant.key.ed25519
  IdentityFile /home/ana/.vagrant.d/insecure_private_keys/vagrant.key.rsa
  IdentitiesOnly yes
  LogLevel FATAL
"""


def test_parses_every_host_block():
    targets = parse_ssh_config(VAGRANT_SSH_CONFIG)
    assert list(targets) == ["balancer1", "real1"]
    assert targets["balancer1"] == SshTarget(
        "balancer1",
        "192.168.121.10",
        22,
        "vagrant",
        ["/home/ana/my labs/.vagrant/machines/balancer1/libvirt/private_key"],
    )
    assert targets["real1"].port == 2200
    assert targets["real1"].identity_files == [
        "/home/ana/.vagrant.d/insecure_private_keys/vagrant.key.ed25519",
        "/home/ana/.vagrant.d/insecure_private_keys/vagrant.key.rsa",
    ]


def test_wildcard_blocks_are_defaults_not_nodes():
    text = "Host *\n  User vagrant\n\n" + "Host web1\n  HostName 10.0.0.5\n"
    assert parse_ssh_config(text) == {"web1": SshTarget("web1", "10.0.0.5", 22, "vagrant", [])}


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("", "no output"),
        ("   \n", "no output"),
        ("==> web1: machine not created\n", "Unparsable"),
        ("just words\n", "no 'Host NAME' block"),
        ("Host web1\n  User vagrant\n", "no HostName"),
        ("Host web1\n  HostName 10.0.0.5\n", "no User"),
        ("Host web1\n  HostName 10.0.0.5\n  User v\n  Port ssh\n", "not a number"),
    ],
)
def test_unusable_output_is_a_clear_error(text, fragment):
    with pytest.raises(SshConfigError, match=fragment):
        parse_ssh_config(text)


def test_list_argv_is_quoted_word_by_word():
    argv = ["printf", "%s\n", "it's", "$HOME", "a b"]
    assert shlex.split(command_line(argv)) == argv
    assert command_line("echo $HOME | wc -c") == "echo $HOME | wc -c"


def test_sudo_wraps_the_whole_command_in_one_privileged_shell():
    argv = ["sh", "-c", 'echo "$1" > /etc/x', "sh", "it's"]
    wrapped = shlex.split(command_line(argv, sudo=True))
    assert wrapped[:4] == ["sudo", "-n", "sh", "-c"]
    assert shlex.split(wrapped[4]) == argv
    assert shlex.split(command_line("a | b", sudo=True)) == ["sudo", "-n", "sh", "-c", "a | b"]


def test_host_pattern_follows_openssh():
    assert host_pattern("10.0.0.5", 22) == "10.0.0.5"
    assert host_pattern("10.0.0.5", 2222) == "[10.0.0.5]:2222"


@pytest.fixture(scope="module")
def two_keys() -> tuple[paramiko.PKey, paramiko.PKey]:
    return paramiko.RSAKey.generate(1024), paramiko.RSAKey.generate(1024)


def test_first_key_is_pinned_and_a_different_one_refused(tmp_path: Path, two_keys):
    known_hosts = tmp_path / "lab" / "known_hosts"
    first, second = two_keys
    web1 = SshTarget("web1", "10.0.0.5", 22, "vagrant", [])
    _pin_or_check(known_hosts, web1, first)
    _pin_or_check(known_hosts, web1, first)  # same key again: fine, nothing added
    assert known_hosts.read_text().count("\n") == 1
    with pytest.raises(HostKeyMismatch, match=r"web1 \(10.0.0.5\).*labctl destroy"):
        _pin_or_check(known_hosts, web1, second)
    assert forget_host(known_hosts, "web1") == 1
    _pin_or_check(known_hosts, web1, second)
    assert pinned_keys(known_hosts, "web1", "10.0.0.5", 22) == [second]


def test_a_node_at_a_new_address_replaces_its_old_pin(tmp_path: Path, two_keys):
    known_hosts = tmp_path / "known_hosts"
    first, second = two_keys
    _pin_or_check(known_hosts, SshTarget("web1", "10.0.0.5", 22, "v", []), first)
    _pin_or_check(known_hosts, SshTarget("web2", "10.0.0.6", 2222, "v", []), first)
    _pin_or_check(known_hosts, SshTarget("web1", "10.0.0.9", 22, "v", []), second)
    names = [line.split()[0] for line in known_hosts.read_text().splitlines()]
    assert names == ["web2,[10.0.0.6]:2222", "web1,10.0.0.9"]


def test_forget_host_leaves_other_nodes_and_tolerates_a_missing_file(tmp_path: Path, two_keys):
    known_hosts = tmp_path / "known_hosts"
    assert forget_host(known_hosts, "web1") == 0
    _pin_or_check(known_hosts, SshTarget("web10", "10.0.0.10", 22, "v", []), two_keys[0])
    assert forget_host(known_hosts, "web1") == 0  # a name, not a prefix
    assert pinned_keys(known_hosts, "web10", "10.0.0.10", 22) == [two_keys[0]]


def test_run_parallel_runs_everything_and_keeps_each_failure():
    seen: list[str] = []
    lock = threading.Lock()

    def work(name: str, value: int) -> int:
        with lock:
            seen.append(name)
        if value < 0:
            raise ValueError(f"{name} broke")
        return value * 2

    results = run_parallel({"a": 1, "b": -1, "c": 3}, work)
    assert list(results) == ["a", "b", "c"]
    assert results["a"] == 2 and results["c"] == 6
    assert isinstance(results["b"], ValueError)
    assert list(failures(results)) == ["b"]
    assert sorted(seen) == ["a", "b", "c"]
    assert run_parallel({}, work) == {}


def test_lines_it_cannot_read_are_kept_untouched(tmp_path: Path, two_keys):
    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text("# hand-written note\nweb9 ssh-rsa !!!not-base64\n")
    _pin_or_check(known_hosts, SshTarget("web1", "10.0.0.5", 22, "v", []), two_keys[0])
    assert forget_host(known_hosts, "web1") == 1
    assert known_hosts.read_text() == "# hand-written note\nweb9 ssh-rsa !!!not-base64\n"


def test_connect_without_any_identity_file_fails_before_touching_the_network(tmp_path: Path):
    target = SshTarget("web1", "10.0.0.5", 22, "vagrant", [str(tmp_path / "missing_key")])
    with pytest.raises(SshError, match="web1: no usable identity file"):
        SshSession.connect(target, "no-such-namespace", tmp_path / "known_hosts", wait=0)
