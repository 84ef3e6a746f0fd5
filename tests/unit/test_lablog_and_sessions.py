"""A log file per lab, and SSH sessions handed out as results (a session or why not)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from labctl.lab.host.lablog import LOGGER, log_to_lab
from labctl.lab.nodes.ssh import SessionResult, SshError


@pytest.fixture
def lab_logger():
    logger = logging.getLogger(LOGGER)
    before = list(logger.handlers)
    yield logger
    for handler in logger.handlers[len(before) :]:
        logger.removeHandler(handler)
        handler.close()


def test_records_of_every_labctl_module_reach_the_labs_log_once(tmp_path: Path, lab_logger):
    logs = tmp_path / ".labctl" / "lab" / "logs"
    path = log_to_lab(logs, tmp_path)
    assert path == logs / "labctl.log" and log_to_lab(logs, tmp_path) == path
    logging.getLogger("labctl.lab.bringup").info("up lab: nodes b1")
    logging.getLogger("labctl.scenario.engine").info("failover action: %s", {"node": "b1"})
    for handler in lab_logger.handlers:
        handler.flush()
    lines = path.read_text().splitlines()
    assert len(lines) == 2  # one handler, however often it is asked for
    assert lines[0].endswith("INFO labctl.lab.bringup: up lab: nodes b1")
    assert "failover action: {'node': 'b1'}" in lines[1]
    assert path.stat().st_mode & 0o077 == 0


def test_a_link_planted_at_the_log_is_not_followed(tmp_path: Path, lab_logger):
    logs = tmp_path / "logs"
    logs.mkdir()
    victim = tmp_path / "victim"
    victim.write_text("untouched\n")
    (logs / "labctl.log").symlink_to(victim)
    log_to_lab(logs, tmp_path)
    logging.getLogger("labctl.x").warning("written somewhere safe, or nowhere")
    assert victim.read_text() == "untouched\n"


def test_a_session_result_is_a_session_or_the_reason_there_is_none():
    missing = SessionResult("b1", error=SshError("b1: connection refused\nmore detail"))
    assert not missing.ok and missing.why() == "b1: connection refused"
    with pytest.raises(SshError, match="connection refused"):
        missing.get()
    empty = SessionResult("b2")
    with pytest.raises(SshError, match="b2: no session"):
        empty.get()
