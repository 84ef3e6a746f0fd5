"""Rendered files with hostile values, read by the real programs: Ruby loads the Vagrantfile,
`vagrant validate` too, dash parses and runs the provision scripts' lines, keepalived and nginx
check their configs. Nothing may run, and each value must read back exactly as given.

The hostile values are put into a Lab directly, past the lab file's checks (which refuse them
all, see tests/unit/test_hostile_inputs.py): this tests the second wall, the templates' filters.
"""

from __future__ import annotations

import json
import re
import subprocess
import uuid
from dataclasses import replace
from pathlib import Path

import pytest

from labctl.lab.vms.render import BoxRef, LibvirtRuntime, RenderContext, render_lab, write_rendered
from labctl.model.initlab import initial_lab, lab_file_text
from labctl.model.lab import HealthCheck, IpvsSettings, Node, VrrpSettings
from labctl.model.labfile import parse_lab
from tests.integration.test_rendered_configs import config_test, need, ns_with_eth1, vagrant_validate  # noqa: F401

pytestmark = pytest.mark.integration

# Records every assignment and call argument the Vagrantfile makes, runs its blocks, and prints
# them as JSON: enough of Vagrant for the file to run to its end.
STUB = r"""
require "json"
$seen = {}
class Recorder
  def initialize(path) = (@path = path)
  def method_missing(name, *args, **kw, &block)
    key = "#{@path}.#{name}"
    if name.to_s.end_with?("=")
      $seen[key.chomp("=")] = args[0]
    else
      ($seen[key] ||= []) << args.map(&:to_s) + kw.map { |k, v| "#{k}=#{v}" }
    end
    block&.call(Recorder.new(key))
    Recorder.new(key)
  end
  def respond_to_missing?(*) = true
end
module Vagrant
  def self.configure(_version) = yield(Recorder.new("config"))
end
load ARGV[0]
puts JSON.generate($seen)
"""


def pwned_paths() -> tuple[Path, Path, Path]:
    tag = uuid.uuid4().hex[:8]
    return tuple(Path(f"/tmp/labctl-pwned-{tag}-{i}") for i in range(3))  # type: ignore[return-value]


def hostile_ctx_and_lab(marks: tuple[Path, Path, Path]):
    a, b, c = marks
    cmd_line = f"quiet\"; File.write('{a}', 'x'); \"#{{File.write('{b}', 'x')}}\\\n#@x #$0"
    base = initial_lab(provider="libvirt", driver="qemu", box="local")
    lab = replace(
        base,
        provider=replace(base.provider, libvirt=replace(base.provider.libvirt, cmd_line=cmd_line)),
    )
    ctx = RenderContext(
        box=BoxRef(f'box"#{{File.write("{c}", "x")}}', kernel="/k`touch " + str(c) + "`", initrd="/i$(id)"),
        libvirt=LibvirtRuntime(uri="qemu:///system?socket=/s#{1}", emulator_path="/e\\x"),
        auth_pass="k9Lm2Pq7",
    )
    return lab, ctx, cmd_line


def test_ruby_runs_the_vagrantfile_and_nothing_else(tmp_path):
    ruby = need("ruby")
    marks = pwned_paths()
    lab, ctx, cmd_line = hostile_ctx_and_lab(marks)
    write_rendered(render_lab(lab, ctx), tmp_path / "out")
    (tmp_path / "stub.rb").write_text(STUB)
    proc = subprocess.run(
        [ruby, str(tmp_path / "stub.rb"), str(tmp_path / "out" / "Vagrantfile")], capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
    seen = json.loads(proc.stdout.strip().splitlines()[-1])
    assert not any(m.exists() for m in marks)
    provider = "config.vm.provider"
    assert seen[f"{provider}.cmd_line"] == cmd_line  # read back exactly, inert
    assert seen[f"{provider}.kernel"] == ctx.box.kernel
    assert seen[f"{provider}.uri"] == ctx.libvirt.uri
    assert seen[f"{provider}.emulator_path"] == ctx.libvirt.emulator_path
    assert seen["config.vm.box"] == ctx.box.name


def test_vagrant_validate_runs_no_payload(tmp_path):
    marks = pwned_paths()
    lab, ctx, _ = hostile_ctx_and_lab(marks)
    write_rendered(render_lab(lab, ctx), tmp_path)
    vagrant_validate(tmp_path)  # its verdict on the odd values does not matter: nothing may run
    assert not any(m.exists() for m in marks)


def test_scripts_parse_and_a_hostile_name_stays_one_word(tmp_path):
    mark = pwned_paths()[0]
    name = f"c1$(touch {mark})`touch {mark}`';\"x\\"
    lab = initial_lab()
    lab = replace(lab, nodes=(*lab.nodes[:-1], Node(name, "client", "10.10.1.100")))
    write_rendered(render_lab(lab, RenderContext(box=BoxRef("debian/bookworm64"), auth_pass="k9Lm2Pq7")), tmp_path)
    scripts = [p for p in (tmp_path / "nodes").rglob("*") if p.name in ("provision.sh", "labctl-vrrp-notify")]
    assert len(scripts) == 9
    for script in scripts:
        proc = subprocess.run(["sh", "-n", str(script)], capture_output=True, text=True)
        assert proc.returncode == 0, (script, proc.stderr)
    text = (tmp_path / "nodes" / name / "provision.sh").read_text()
    lines = [line for line in text.splitlines() if line.startswith(("set_hostname ", "echo done: "))]
    assert len(lines) == 2
    out = tmp_path / "args"
    program = f'set_hostname() {{ printf "%s" "$1" > {out}; }}\n{lines[0]}\n{lines[1]}\n'
    proc = subprocess.run(["sh", "-c", program], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert out.read_text() == name
    assert proc.stdout == f"done: {name}\n"
    assert not mark.exists()


EDGE = {
    "name": "a-1",
    "auth_pass": "a%@+=,:/",
    "path": "/a-b_c.d/x",
    "vip": "VI-x_1",
}


def edge_lab():
    """The oddest values the lab file accepts, through the lab file's own reader."""
    text = lab_file_text(initial_lab(name=EDGE["name"]))
    text = text.replace("  auth_type: PASS", f"  auth_type: PASS\n  auth_pass: '{EDGE['auth_pass']}'")
    text = text.replace("  - name: VI_1", f"  - name: {EDGE['vip']}")
    lab = parse_lab(text)
    return replace(
        lab,
        ipvs=IpvsSettings(manager="keepalived", health_check=HealthCheck(path=EDGE["path"])),
        vrrp=VrrpSettings(auth_pass=EDGE["auth_pass"]),
    )


def test_keepalived_accepts_the_oddest_accepted_values(tmp_path, ns_with_eth1):  # noqa: F811
    lab = edge_lab()
    write_rendered(render_lab(lab, RenderContext(box=BoxRef("x"), auth_pass=EDGE["auth_pass"])), tmp_path)
    conf = tmp_path / "nodes" / "b1" / "keepalived.conf"
    text = conf.read_text()
    assert f"auth_pass {EDGE['auth_pass']}" in text and f"path {EDGE['path']}" in text
    assert re.search(rf"vrrp_instance {EDGE['vip']} ", text)
    proc = config_test(ns_with_eth1, conf)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_nginx_accepts_the_rendered_site_of_the_oddest_lab(tmp_path):
    lab = edge_lab()
    write_rendered(render_lab(lab, RenderContext(box=BoxRef("x"), auth_pass="k9Lm2Pq7")), tmp_path)
    site = tmp_path / "nodes" / "r1" / "nginx-site.conf"
    conf = tmp_path / "nginx.conf"
    conf.write_text(
        f"pid {tmp_path}/nginx.pid;\nerror_log {tmp_path}/error.log;\nevents {{}}\n"
        f"http {{\n    access_log off;\n    include {site};\n}}\n"
    )
    proc = subprocess.run(
        [need("nginx"), "-t", "-c", str(conf), "-e", str(tmp_path / "error.log")], capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
