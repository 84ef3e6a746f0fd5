"""Finding a submission's pieces: homework-style texts (prompts, fences), folders, file names,
and the Vagrantfile read as text."""

from __future__ import annotations

from pathlib import Path

from labctl.submission.conf import parse
from labctl.submission.ipvsrules import read_rules
from labctl.submission.sources import read_source, split_text
from labctl.submission.vagrantfile import vagrant_nodes

HOMEWORK = Path(__file__).parents[1] / "fixtures" / "homework-3.8-ipvs-keepalived.txt"


def test_the_homework_splits_into_three_configs_and_a_listing():
    pieces = read_source(HOMEWORK)
    assert [(p.kind, p.node) for p in pieces] == [
        ("keepalived", "b1"),
        ("keepalived", "b2"),
        ("keepalived", "b3"),
        ("ipvs", None),
    ]
    lines = HOMEWORK.read_text().splitlines()
    # Line numbers are the homework's own: b2's first instance is where the text has it.
    (instance, *_) = parse(pieces[1].text, pieces[1].file)
    assert lines[instance.where.line - 1] == "vrrp_instance VI_1 {"
    assert lines[instance.where.line - 2] == ""
    assert lines[instance.where.line - 4].startswith("root@b2:~# cat")
    rules = read_rules(pieces[3].text, pieces[3].file)
    assert [s.address for s in rules.services] == ["10.10.1.10", "10.10.1.20", "10.10.1.30"]
    assert lines[rules.services[2].where.line - 1] == "TCP  10.10.1.30:80 rr"


def test_markdown_fences_without_prompts_are_numbered_in_order():
    text = (
        "# My lab\n\nFirst balancer:\n```\nvrrp_instance A {\n  priority 100\n}\n```\n"
        "- a bullet, not a rule\n```nginx\nvrrp_instance A {\n  priority 90\n}\n```\n"
        "```\n$ sudo ipvsadm -Sn\n-A -t 10.0.0.9:80 -s wlc\n```\n"
    )
    pieces = split_text(text, "answer.md")
    assert [(p.kind, p.node) for p in pieces] == [("keepalived", None), ("keepalived", None), ("ipvs", None)]
    assert str(parse(pieces[1].text, "answer.md")[0].find("priority").where) == "answer.md:12"
    assert read_rules(pieces[2].text, "answer.md").services[0].where.line == 17


def test_a_folder_names_nodes_by_file_or_folder(tmp_path):
    (tmp_path / "lb-a.conf").write_text("vrrp_instance A {\n}\n")
    (tmp_path / "keepalived.lb-b.conf").write_text("vrrp_instance A {\n}\n")
    (tmp_path / "lb-c").mkdir()
    (tmp_path / "lb-c" / "keepalived.conf").write_text("vrrp_instance A {\n}\n")
    (tmp_path / "keepalived.conf").write_text("vrrp_instance A {\n}\n")
    (tmp_path / "rules.sh").write_text("ipvsadm -A -t 10.0.0.9:80\n")
    (tmp_path / "Vagrantfile").write_text(
        'config.vm.define "lb-a" do |b|\n  b.vm.network "private_network", ip: "10.0.0.2"\nend\n'
    )
    (tmp_path / "conf.d").mkdir()
    (tmp_path / "conf.d" / "more.conf").write_text("vrrp_instance B {\n}\n")  # read only through include
    (tmp_path / "elsewhere.conf").symlink_to("/etc/hostname")
    found = sorted((p.kind, p.node or "-", Path(p.file).name) for p in read_source(tmp_path))
    assert found == [
        ("ipvs", "-", "rules.sh"),
        ("keepalived", "-", "keepalived.conf"),
        ("keepalived", "lb-a", "lb-a.conf"),
        ("keepalived", "lb-b", "keepalived.lb-b.conf"),
        ("keepalived", "lb-c", "keepalived.conf"),
        ("vagrantfile", "-", "Vagrantfile"),
    ]


def test_a_vagrantfile_is_read_as_text():
    text = """Vagrant.configure("2") do |config|
  config.vm.define :b1 do |b1|
    b1.vm.network "private_network", ip: "10.10.1.2", netmask: "255.255.255.0"  # lab
  end
  config.vm.define 'r1' do |r|
    # r.vm.network "private_network", ip: "10.9.9.9"
    r.vm.network "private_network", ip: '10.10.1.11'
  end
  (1..3).each { |i| system("rm -rf /") }
end
"""
    nodes = vagrant_nodes(text, "Vagrantfile")
    assert [(n.name, n.address, n.netmask, str(n.where)) for n in nodes] == [
        ("b1", "10.10.1.2", "255.255.255.0", "Vagrantfile:3"),
        ("r1", "10.10.1.11", None, "Vagrantfile:7"),
    ]
