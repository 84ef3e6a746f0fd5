"""What a netns node runs, from the files labctl renders for a VM (pure): keepalived.conf with
the notify script where a namespace node has it, nginx's main configuration around the real's
rendered site, the balancers' stand-in page when the host has no IPVS, and the HTTP check of
such a lab."""

from __future__ import annotations

from labctl.lab.nodes.verify import Check
from labctl.model.lab import Lab

VM_NOTIFY = "/usr/local/sbin/labctl-vrrp-notify"
VM_WWW = "/var/www/labctl"


def keepalived_conf(rendered: str, notify: str) -> str:
    """The rendered keepalived.conf with its notify script at NOTIFY (under the node's
    /run/labctl: a namespace node shares the host's /usr/local/sbin)."""
    return rendered.replace(VM_NOTIFY, notify)


def keepalived_argv(program: str, conf: str, pid_dir: str, ipvs: bool) -> list[str]:
    """keepalived in the foreground (labctl keeps it as a daemon), logging to its output; VRRP
    alone (`--vrrp`) when the host has no IPVS for its checker."""
    argv = [program, "--dont-fork", "--log-console", "--no-syslog"]
    if not ipvs:
        argv.append("--vrrp")
    pids = [f"{pid_dir}/keepalived.pid", f"{pid_dir}/keepalived-vrrp.pid", f"{pid_dir}/keepalived-checkers.pid"]
    return [*argv, "-f", conf, "-p", pids[0], "-r", pids[1], "-c", pids[2]]


def keepalived_pid_files(pid_dir: str) -> list[str]:
    return [f"{pid_dir}/keepalived.pid", f"{pid_dir}/keepalived-vrrp.pid", f"{pid_dir}/keepalived-checkers.pid"]


def nginx_main(server_block: str, node_dir: str) -> str:
    """nginx's whole configuration for a node: in the foreground, its files under NODE_DIR,
    serving SERVER_BLOCK (the real's rendered nginx-site.conf, its root moved to NODE_DIR/www)."""
    temp = f"{node_dir}/nginx-temp"
    site = server_block.replace(f"root {VM_WWW};", f"root {node_dir}/www;")
    indented = "".join(f"    {line}\n" if line.strip() else "\n" for line in site.splitlines())
    return (
        "# Written by labctl for a netns node: the host's nginx in the node's namespace.\n"
        "user root;\n"
        f"pid {node_dir}/nginx.pid;\n"
        f"error_log {node_dir}/nginx.error.log;\n"
        "daemon off;\n"
        "worker_processes 1;\n"
        "events { worker_connections 256; }\n"
        "http {\n"
        "    access_log off;\n"
        "    default_type text/html;\n"
        f"    client_body_temp_path {temp}/body;\n"
        f"    proxy_temp_path {temp}/proxy;\n"
        f"    fastcgi_temp_path {temp}/fastcgi;\n"
        f"    uwsgi_temp_path {temp}/uwsgi;\n"
        f"    scgi_temp_path {temp}/scgi;\n"
        f"{indented}"
        "}\n"
    )


def balancer_site(node: str, port: int) -> str:
    """Without IPVS, the balancer holding a VIP answers it itself, naming itself the way a real
    does (X-Real-Server): the probes then show which balancer holds the VIP."""
    return (
        f"# {node} stands in for the reals: this host has no IPVS to forward to them.\n"
        "server {\n"
        f"    listen {port} default_server;\n"
        f"    add_header X-Real-Server {node} always;\n"
        f'    location / {{ return 200 "{node}\\n"; }}\n'
        "}\n"
    )


def evaluate_http_without_ipvs(
    lab: Lab, rows: list[tuple[str, str, str]], holders: dict[str, list[str]]
) -> list[Check]:
    """Every VIP answers 200, each answer from the balancer that holds it (HOLDERS: VIP address
    -> its holders): without IPVS no real is reached, and the check says so."""
    checks = []
    for vip in lab.vips:
        mine = [r for r in rows if r[0] == vip.address]
        codes = sorted({code for _, code, _ in mine})
        seen = sorted({who for _, code, who in mine if code == "200"})
        held = holders.get(vip.address, [])
        ok = bool(mine) and codes == ["200"] and len(held) == 1 and seen == held
        detail = (
            f"{len(mine)} requests to {vip.address}: status {', '.join(codes) or 'none'}; answered by "
            f"{', '.join(seen) or 'nobody'} (its holder {', '.join(held) or 'none'}: no IPVS on this host, "
            "the reals are not reached)"
        )
        checks.append(Check(f"http {vip.name}", "host", ok, detail))
    return checks
