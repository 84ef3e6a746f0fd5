"""`labctl import`'s last step: keepalived itself reads each balancer's rendered keepalived.conf.

`keepalived --config-test` parses the file, checks what it names and exits: it starts no VRRP
or checker process and runs no script (a notify, vrrp_script or MISC_CHECK line that would touch
a file leaves none; it only looks whether a vrrp_script's program exists). It runs in a network
namespace of its own (`unshare --user --net`: no root needed where user namespaces are allowed)
that holds the lab's interface and nothing else, so no packet can leave it. A complaint the
import does not already explain refuses the import, in keepalived's words with the submission's
FILE:LINE (submission/complaints.py). Without keepalived on the host the check is skipped, and
the report says so.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from labctl.lab.vms.render import keepalived_conf
from labctl.submission.complaints import Explained, explained_notes, judge, refusal
from labctl.submission.mapping import Imported, Note

# Stands in for a password labctl would generate at `up` (the check needs one, of the same form).
CHECK_PASSWORD = "labctl00"
# The namespace's own set-up failed (not keepalived): the check is skipped, not failed.
_SETUP_FAILED = 97
_IN_NAMESPACE = (
    'ip link add "$1" type veth peer name labctl-peer0 && ip link set "$1" up || exit 97; '
    'exec "$2" --config-test -f "$3"'
)
TIMEOUT_S = 60


@dataclass(frozen=True)
class ConfigTest:
    returncode: int
    output: str
    skipped: str | None = None


def find_keepalived() -> str | None:
    found = shutil.which("keepalived")
    return found or ("/usr/sbin/keepalived" if Path("/usr/sbin/keepalived").exists() else None)


def config_test(text: str, interface: str, keepalived: str | None) -> ConfigTest:
    """`keepalived --config-test` of TEXT, in a private network namespace holding INTERFACE."""
    if keepalived is None or not Path(keepalived).exists():
        return ConfigTest(0, "", "keepalived is not installed on this host (apt-get install keepalived)")
    unshare = shutil.which("unshare")
    if unshare is None:
        return ConfigTest(0, "", "unshare (util-linux) is missing, and keepalived runs only in a namespace of its own")
    with tempfile.TemporaryDirectory(prefix="labctl-import-") as folder:
        conf = Path(folder) / "keepalived.conf"
        conf.write_text(text)
        argv = [unshare, "--user", "--map-root-user", "--net", "--", "sh", "-c", _IN_NAMESPACE, "sh"]
        try:
            proc = subprocess.run(
                [*argv, interface, keepalived, str(conf)], capture_output=True, text=True, timeout=TIMEOUT_S
            )
        except subprocess.TimeoutExpired:
            return ConfigTest(0, "", f"keepalived --config-test did not finish in {TIMEOUT_S} s")
    output = proc.stderr + proc.stdout
    if proc.returncode in (_SETUP_FAILED, 127) or output.startswith("unshare:"):
        words = output.strip().splitlines()[:1] or [f"exit {proc.returncode}"]
        return ConfigTest(0, "", f"no private network namespace for it: {words[0]}")
    return ConfigTest(proc.returncode, output)


def check_import(result: Imported, keepalived: str | None = None) -> None:
    """Have keepalived read every balancer's keepalived.conf of RESULT's lab: raise a
    SubmissionError listing each complaint not already explained, else note the outcome in
    RESULT.config_test. KEEPALIVED: the program (default: the one installed)."""
    keepalived = keepalived or find_keepalived()
    lab = result.lab
    refused: list[Note] = []
    explained: list[Explained] = []
    for node in lab.balancers:
        text = keepalived_conf(lab, node, lab.vrrp.auth_pass or CHECK_PASSWORD)
        test = config_test(text, lab.network.interface, keepalived)
        if test.skipped:
            result.config_test = [Note(None, f"keepalived --config-test: skipped, {test.skipped}")]
            return
        node_refused, node_explained = judge(result, node.name, text, test.output, test.returncode)
        refused += node_refused
        explained += node_explained
    if refused:
        raise refusal(refused)
    names = ", ".join(b.name for b in lab.balancers)
    verdict = "nothing but what is explained below" if explained else "passed"
    result.config_test = [Note(None, f"keepalived --config-test of the keepalived.conf of {names}: {verdict}")]
    result.config_test += explained_notes(explained)
