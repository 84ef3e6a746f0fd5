"""The keepalived samples Debian installs (/usr/share/doc/keepalived/samples/) each import, or are
refused with FILE:LINE naming the construct and a reason. An import ends with keepalived's own
`--config-test` of every balancer's rendered keepalived.conf, so every lab import writes passes
it: here checked again, independently, on the lab read back from lab.yaml (what `labctl
validate` reads), rendered, in a namespace that has eth1. A sample keepalived itself rejects is
refused with keepalived's words at the sample's line."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from labctl.cli.main import main
from labctl.lab.nodes.importcheck import check_import
from labctl.lab.vms.render import render_lab, write_rendered
from labctl.model.initlab import write_lab_file
from labctl.model.labfile import read_lab
from labctl.submission.importer import import_submission
from labctl.submission.where import SubmissionError
from tests.integration.test_rendered_configs import CTX, config_test, ns_with_eth1  # noqa: F401

pytestmark = pytest.mark.integration
SAMPLES = Path("/usr/share/doc/keepalived/samples")
NAMES = sorted(p.name for p in SAMPLES.glob("keepalived.conf.*")) if SAMPLES.is_dir() else []
HOMEWORK = Path(__file__).parents[1] / "fixtures" / "homework-3.8-ipvs-keepalived.txt"


def imported_or_refused(sample: Path):
    try:
        result = import_submission([sample])
        check_import(result)
    except SubmissionError as exc:
        return None, exc
    return result, None


def test_the_corpus_is_there():
    assert len(NAMES) >= 20, f"{SAMPLES}: keepalived's samples are missing (.ci/run installs keepalived)"


@pytest.mark.parametrize("name", NAMES)
def test_each_sample_imports_and_passes_or_is_refused_by_file_line(tmp_path, ns_with_eth1, name):
    sample = SAMPLES / name
    result, refused = imported_or_refused(sample)
    if refused is not None:
        # FILE:LINE of the sample, the construct written there, and why.
        assert refused.where is not None and refused.where.file == str(sample), refused.problems
        line = sample.read_text().splitlines()[refused.where.line - 1]
        assert refused.construct.split()[0] in line, (refused.construct, line)
        assert refused.reason
        if "virtual_server" not in sample.read_text():
            # A VRRP-only sample is refused only by keepalived itself, never by the reader.
            assert all("keepalived --config-test on b1: " in p for p in refused.problems), refused.problems
        return
    assert result.config_test[0].text.endswith(": passed"), result.config_test
    write_lab_file(tmp_path / "lab", result.lab)
    lab = read_lab(tmp_path / "lab" / "lab.yaml")
    assert lab == result.lab
    write_rendered(render_lab(lab, CTX), tmp_path / "render")
    for balancer in lab.balancers:
        conf = tmp_path / "render" / "nodes" / balancer.name / "keepalived.conf"
        proc = config_test(ns_with_eth1, conf)
        assert proc.returncode == 0, (name, proc.stdout[-2000:], proc.stderr[-2000:], conf.read_text())


def test_corpus_counts_and_reasons(capsys):
    """The figures for the issue's note: how many import, how many are refused, and why."""
    imported, refused = [], {}
    for name in NAMES:
        result, error = imported_or_refused(SAMPLES / name)
        if error is None:
            imported.append(name)
        else:
            refused[name] = error.problems
    assert len(imported) + len(refused) == len(NAMES)
    with capsys.disabled():
        print(
            f"\n{len(NAMES)} samples: {len(imported)} import and pass keepalived --config-test, {len(refused)} refused"
        )
        for name, problems in refused.items():
            print(f"refused {name}:")
            for problem in problems:
                print(f"    {problem}")


def test_the_homework_passes_but_for_the_password_it_keeps(tmp_path):
    result = CliRunner().invoke(main, ["import", str(HOMEWORK), "-o", str(tmp_path / "lab")], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    report = (tmp_path / "lab" / "import-report.md").read_text()
    assert (
        "keepalived --config-test of the keepalived.conf of b1, b2, b3: nothing but what is explained below" in report
    )
    assert (
        f"'Truncating auth_pass to 8 characters' on b1, b2, b3, at {HOMEWORK}:24, 39, 54, 73, 88, 103, 122, 137, 152: "
        "the auth_pass finding" in report
    )


def test_a_submission_keepalived_rejects_is_refused_and_nothing_is_written(tmp_path):
    sub = tmp_path / "b1.conf"
    sub.write_text(
        "vrrp_instance VI_1 {\n  interface eth0\n  virtual_router_id 51\n  virtual_ipaddress {\n"
        "    10.0.0.10/24\n  }\n  virtual_routes {\n    10.9.0.0/24 via 10.0.0.254\n  }\n}\n"
    )
    result = CliRunner().invoke(main, ["import", str(sub), "-o", str(tmp_path / "out")])
    assert result.exit_code == 2, result.output
    assert (
        f"{sub}:8: 10.9.0.0/24 via 10.0.0.254: keepalived --config-test on b1: Warning - cannot track route "
        "10.9.0.0/24 with no interface specified, not tracking" in result.output
    )
    assert not (tmp_path / "out").exists()


def test_the_config_test_runs_none_of_the_submission_scripts(tmp_path):
    ran = tmp_path / "ran"
    touch = f"/usr/bin/touch {ran}"
    (tmp_path / "b1.conf").write_text(
        "global_defs {\n  enable_script_security\n}\n"
        f'vrrp_script chk {{\n  script "{touch}-script"\n  interval 1\n}}\n'
        "vrrp_instance VI_1 {\n  interface eth0\n  virtual_router_id 51\n  priority 100\n"
        f'  notify_master "{touch}-notify"\n  track_script {{\n    chk\n  }}\n'
        "  virtual_ipaddress {\n    10.0.0.10/24\n  }\n}\n"
        "virtual_server 10.0.0.10 80 {\n  lvs_sched rr\n  lvs_method DR\n  protocol TCP\n"
        f'  real_server 10.0.0.11 80 {{\n    MISC_CHECK {{\n      misc_path "{touch}-misc"\n    }}\n  }}\n}}\n'
    )
    result = import_submission([tmp_path / "b1.conf"])
    check_import(result)
    assert result.config_test[0].text.endswith(": passed"), [str(n) for n in result.config_test]
    assert len(result.scripts) == 3  # listed in the report as what would run inside the VM
    assert not list(tmp_path.glob("ran*"))


def test_one_vrid_twice_on_a_node_is_refused_at_its_line(tmp_path):
    # keepalived stops on such a node ("permanent error CONFIG"): a lab of it would not run.
    instance = "vrrp_instance VI_{n} {{\n interface eth0\n virtual_router_id 51\n virtual_ipaddress {{\n  10.0.5.{n}0/24\n }}\n}}\n"
    (tmp_path / "b1.conf").write_text(instance.format(n=1) + instance.format(n=2))
    with pytest.raises(SubmissionError) as refused:
        check_import(import_submission([tmp_path / "b1.conf"]))
    assert refused.value.problems == [
        f"{tmp_path}/b1.conf:3: virtual_router_id 51: keepalived --config-test on b1: "
        "VI_1 and VI_2 both use VRID 51 with IPv4 on interface eth1"
    ]
