"""The labctl command line: the `labctl` group, its global options, the one place where errors
become a message and an exit code, and every verb attached. Each verb (or verb group) lives in
a module of its own beside this one, named after it (`labctl up` in cli/up.py); they parse
arguments, call the library and print. No logic lives here."""

from __future__ import annotations

import sys

import click

from labctl.cli.box import box
from labctl.cli.capture import capture
from labctl.cli.check import check
from labctl.cli.console import escape, make_console
from labctl.cli.dashboard import dashboard
from labctl.cli.destroy import destroy
from labctl.cli.down import down
from labctl.cli.exec import exec_cmd
from labctl.cli.grade import grade_cmd
from labctl.cli.graph import graph
from labctl.cli.importcmd import import_cmd
from labctl.cli.init import init
from labctl.cli.plan import plan
from labctl.cli.render import render_cmd
from labctl.cli.report import report
from labctl.cli.scenario import scenario
from labctl.cli.snapshot import snapshot
from labctl.cli.ssh import ssh
from labctl.cli.status import status
from labctl.cli.suspend import suspend
from labctl.cli.up import up
from labctl.cli.validate import validate
from labctl.errors import EXIT_FAILED, LabctlError, clip

err_console = make_console(stderr=True)


VERBOSE_HINT = "run with -v for the traceback"


class LabctlGroup(click.Group):
    """The one point where errors become a message and an exit code, never a bare traceback.

    LabctlError (every error labctl raises on purpose: LabFileError, SshError, SandboxError...):
    its message and exit code. OSError (a file or program the system refused): `error:` and
    exit 1. Anything else is a bug: `error:` with a hint to run with -v, which prints the
    traceback."""

    def invoke(self, ctx: click.Context):
        verbose = bool(ctx.params.get("verbose"))
        try:
            return super().invoke(ctx)
        except (click.exceptions.ClickException, click.exceptions.Exit, click.exceptions.Abort):
            raise
        except LabctlError as exc:
            if verbose:
                err_console.print_exception()
            problems = exc.problems
            if problems:
                for problem in problems:
                    err_console.print(clip(str(problem), 300), markup=False)
            else:
                err_console.print(f"[bold red]error:[/] {escape(clip(exc.message, 300))}")
                if exc.fix:
                    err_console.print(f"  fix: {clip(exc.fix, 300)}", markup=False)
            sys.exit(exc.exit_code)
        except KeyboardInterrupt:
            err_console.print("interrupted: run the same command again to finish, or `labctl destroy`")
            sys.exit(130)
        except RecursionError as exc:
            _unexpected(exc, verbose, "input nested too deeply")
        except OSError as exc:
            if verbose:
                err_console.print_exception()
            err_console.print(f"[bold red]error:[/] {escape(clip(_describe(exc), 300))}")
            sys.exit(EXIT_FAILED)
        except Exception as exc:  # noqa: BLE001 - the last line of defence: no bare stack
            _unexpected(exc, verbose)


def _describe(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _unexpected(exc: BaseException, verbose: bool, what: str | None = None) -> None:
    if verbose:
        err_console.print_exception()
    message = what or f"{type(exc).__name__}: {_describe(exc)}"
    err_console.print(f"[bold red]error:[/] {escape(clip(message, 300))}")
    if not verbose:
        err_console.print(f"  {VERBOSE_HINT}", markup=False)
    sys.exit(EXIT_FAILED)


@click.group(cls=LabctlGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-v", "--verbose", is_flag=True, help="Show what labctl does as it goes, and the traceback of an error.")
@click.version_option(package_name="labctl")
def main(verbose: bool) -> None:
    """Build, break and explain a highly available web front end.

    Three balancers run keepalived (VRRP) and IPVS in direct-routing mode in front of two nginx
    real servers, with a client for probes, all on one private network: the lab of homework
    3.8 "Computer networks", in one command.

    \b
    A 30-second tour:
      labctl init                   write ./lab.yaml (the reference lab)
      labctl plan --traffic 1.5Gbit --link 1Gbit   how many VIPs survive a lost balancer?
      labctl render                 see every file that will run
      labctl up                     VMs up, provisioned, verified
      labctl scenario run failover  kill a balancer, measure the outage
      labctl destroy                nothing left behind

    \b
    Exit codes: 0 ok; 1 the lab or the run failed (or its state folder is damaged); 2 bad
    input (lab file, scenario, run folder, option); `scenario run` also 3 (inconclusive). Errors are one line
    (`error: ...`, or `FILE:LINE: key.path: reason` per problem); -v adds the traceback.
    What labctl did to a lab is logged in .labctl/<lab>/logs/labctl.log.
    """
    from labctl.lab.host import signals
    from labctl.lab.host.lablog import log_to_stderr

    signals.install()  # SIGTERM and SIGHUP end a command as Ctrl-C does, cleanup included
    if verbose:
        log_to_stderr()


for command in (
    init,
    validate,
    plan,
    render_cmd,
    up,
    status,
    exec_cmd,
    ssh,
    down,
    suspend,
    destroy,
    box,
    scenario,
    report,
    capture,
    snapshot,
    graph,
    dashboard,
    import_cmd,
    check,
    grade_cmd,
):
    main.add_command(command)


if __name__ == "__main__":
    main()
