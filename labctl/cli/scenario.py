"""`labctl scenario list|show|run|restore`: argument parsing and printing only."""

from __future__ import annotations

import json
import sys
import time
from datetime import datetime
from pathlib import Path

import click
from rich.console import Console
from rich.live import Live
from rich.table import Table
from rich.text import Text

from labctl.cli.console import escape, make_console, plain
from labctl.cli.options import lab_option, read_lab_or_exit
from labctl.lab.runtime import Capability, LabAccess
from labctl.observe import runrecords
from labctl.scenario.loader import ScenarioError, builtin_names, find, parse_set_options, read_scenario

console = make_console(soft_wrap=False)
err_console = make_console(stderr=True)


def _problems(exc: ScenarioError) -> None:
    for problem in exc.problems:
        err_console.print(str(problem), markup=False)
    sys.exit(2)


@click.group("scenario")
def scenario() -> None:
    """Scripted experiments: break the lab on purpose and measure what happens."""


@scenario.command("list")
@lab_option
def list_scenarios(lab_path: Path) -> None:
    """The scenarios shipped with labctl (run one with `labctl scenario run NAME`)."""
    table = Table(show_header=True)
    table.add_column("name")
    table.add_column("description")
    lab = read_lab_or_exit(lab_path, or_reference=True)
    for name in builtin_names():
        try:
            text = plain(read_scenario(find(name), lab=lab).description)
        except ScenarioError as exc:
            text = Text.assemble(("invalid", "red"), f": {exc.problems[0]}")
        table.add_row(plain(name), text)
    console.print(table)


@scenario.command("show")
@click.argument("name")
@lab_option
def show(name: str, lab_path: Path) -> None:
    """A scenario's description, parameters and steps."""
    try:
        loaded = read_scenario(find(name), lab=read_lab_or_exit(lab_path, or_reference=True))
    except ScenarioError as exc:
        _problems(exc)
    console.print(f"[bold]{escape(loaded.name)}[/] ({escape(str(loaded.file))})\n{escape(loaded.description)}\n")
    params = Table(title="parameters (--set NAME=VALUE)", title_justify="left")
    for column in ("name", "type", "default", "help"):
        params.add_column(column)
    for param in loaded.parameters.values():
        kind = param.type + (f" {'|'.join(map(str, param.choices))}" if param.choices else "")
        params.add_row(*map(plain, (param.name, kind, param.default, param.help)))
    console.print(params)
    console.print("[bold]steps[/]")

    def walk(steps, indent: int = 1) -> None:
        for step in steps:
            console.print(f"{'  ' * indent}{step.where.rsplit(':', 1)[-1]:>4}  {step.describe()}", markup=False)
            walk(step.steps, indent + 1)

    walk(loaded.steps)


@scenario.command("run")
@click.argument("name_or_path")
@click.option("--set", "sets", multiple=True, metavar="KEY=VALUE", help="Override a parameter.")
@click.option(
    "--json", "as_json", is_flag=True, help="Print summary.json (repeat.json with --repeat) instead of tables."
)
@click.option(
    "--repeat",
    "repeat",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    metavar="N",
    help="Run the scenario N times in a row and summarise the figures.",
)
@click.option(
    "--narrate",
    is_flag=True,
    help="Before each action say what will happen and what VRRP theory predicts, and wait for Enter; "
    "after it say what was measured. Needs a terminal (exit 2 when stdin is not one).",
)
@click.option(
    "--reset",
    metavar="SNAPSHOT",
    help="Restore this whole-lab snapshot (e.g. `ready`, which `labctl up` saves) before the run, "
    "and before each run of --repeat: every run starts from the same state.",
)
@lab_option
def run(
    name_or_path: str,
    sets: tuple[str, ...],
    as_json: bool,
    repeat: int,
    narrate: bool,
    reset: str | None,
    lab_path: Path,
) -> None:
    """Run a scenario (a built-in NAME or a PATH) against the running lab. Results go to
    results/<scenario>-<timestamp>/ next to the lab file, with capture.pcap (the lab segment
    recorded from the host side when the lab is sandboxed). With --repeat N, each run goes to
    run-<i>/ in that folder, and repeat.json, repeat.md and distributions.png sum them up.

    Exit 0 when every expectation held (PASSED), 1 when one failed (FAILED), 3 when only timing
    figures failed on a host too loaded to judge them (INCONCLUSIVE, reasons printed). With
    --repeat: 1 if any run failed, else 3 if any was inconclusive, else 0.

    With --narrate (for a class) the terminal's live table gives way to the narration, which
    also goes to events.jsonl, where `labctl dashboard` shows it."""
    if narrate and repeat > 1:
        raise click.UsageError("--narrate runs one scenario at a time: drop --repeat")
    if narrate and not sys.stdin.isatty():
        # Waiting for an Enter that can never come would hang a script; not waiting would
        # silently drop what --narrate promises.
        err_console.print("[bold red]error:[/] --narrate waits for Enter before each action: run it from a terminal")
        sys.exit(2)
    overrides = parse_set_options(sets)
    lab = read_lab_or_exit(lab_path)
    try:
        loaded = read_scenario(find(name_or_path), overrides, lab)
    except ScenarioError as exc:
        _problems(exc)
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    out = lab_path.resolve().parent / "results" / f"{loaded.name}-{stamp}"
    from labctl.lab.access import open_lab  # the VM layer: imported only when needed
    from labctl.lab.host.lock import lab_lock
    from labctl.lab.host.state import LabState

    with lab_lock(LabState.for_lab(lab_path, lab.name), f"scenario run {loaded.name}"):
        _restore_leftovers(lab_path)
        progress = err_console if as_json else console
        if repeat > 1:
            # Each run reads the file again: same --set values, a fresh Scenario.
            load = lambda: read_scenario(find(name_or_path), overrides, lab)  # noqa: E731

            def run_one(scenario, folder: Path) -> dict:
                if reset:
                    _reset_to(lab, lab_path, reset, progress)
                # Opened per run: a restore takes the guests' TCP state back, no session survives.
                with open_lab(lab_path) as access:
                    return run_with_view(access, scenario, folder, quiet=as_json)

            series = _run_repeated(run_one, loaded, load, repeat, out, as_json)
            sys.exit(_print_repeat(series, out, as_json))
        if reset:
            _reset_to(lab, lab_path, reset, progress)
        narrator = TerminalNarrator(progress) if narrate else None
        with open_lab(lab_path) as access:
            summary = run_with_view(access, loaded, out, quiet=as_json, narrator=narrator)
    print_summary(summary, out, as_json)
    sys.exit(exit_code(summary))


def _restore_leftovers(lab_path: Path) -> None:
    """A run killed outright left its journal: put the lab back before anything else."""
    from labctl.lab.host.state import LabState
    from labctl.scenario.actions import Restorer

    lab = read_lab_or_exit(lab_path)
    state = LabState.for_lab(lab_path, lab.name)
    if Restorer.load(state.journal, state.folder) is None:
        return
    err_console.print("an earlier scenario run ended without putting the lab back: restoring it first")
    if not replay_journal(lab_path):
        sys.exit(1)


def replay_journal(lab_path: Path, console: Console = console) -> bool:
    """Replay the lab's scenario journal; print what was done; True when nothing failed."""
    from labctl.lab.access import open_lab
    from labctl.scenario.actions import Restorer

    with open_lab(lab_path, require_up=False) as access:
        restorer = Restorer.load(access.journal, access.state_folder)
        if restorer is None:
            console.print("nothing to restore: no scenario journal")
            return True
        done, failed = restorer.replay(access)
    for line in done:
        console.print(f"restored {line}", markup=False)
    for line in failed:
        err_console.print(f"[red]could not restore[/] {escape(line)}")
    if failed:
        err_console.print(
            f"the journal keeps what is left: run `labctl scenario restore` again ({access.journal})", markup=False
        )
    return not failed


@scenario.command("restore")
@lab_option
def restore(lab_path: Path) -> None:
    """Put back what a scenario run changed and could not undo (it was killed outright):
    power nodes on, start services, bring links up, restore IPVS timeouts, as its journal
    (.labctl/<lab>/scenario-journal.json) says. Exit 0 when the lab is back."""
    from labctl.lab.host.lock import lab_lock
    from labctl.lab.host.state import LabState

    lab = read_lab_or_exit(lab_path)
    with lab_lock(LabState.for_lab(lab_path, lab.name), "scenario restore"):
        ok = replay_journal(lab_path)
    sys.exit(0 if ok else 1)


def _reset_to(lab, lab_path: Path, name: str, out: Console) -> None:
    """--reset: the lab back to snapshot NAME and checked, or the run does not start."""
    from labctl.cli.snapshot import restore_and_check
    from labctl.errors import LabctlError

    restored, checked, seconds = restore_and_check(lab, lab_path, name, out)
    if not restored.ok or checked is None or not checked.ok:
        failed = "; ".join(f"{c.node}: {c.detail}" for c in (checked.checks if checked else []) if not c.ok)
        raise LabctlError(
            f"the lab did not come back to snapshot {name}" + (f" ({failed[:200]})" if failed else ""),
            fix="`labctl up` checks and mends it; then run the scenario again",
        )
    out.print(f"reset to snapshot {name}: {seconds:.1f} s to checks passed", markup=False)


def _run_repeated(run_one, loaded, load, count: int, out: Path, as_json: bool):
    from labctl.cli import repeat as repeating

    # With --json stdout is for repeat.json alone: progress goes to stderr.
    progress = err_console if as_json else console
    series = repeating.Series(loaded.name, dict(loaded.values), count)
    return repeating.run_series(
        series,
        out,
        load,
        run_one=run_one,
        on_done=lambda outcome, n: progress.print(repeating.progress_line(outcome, n), markup=False),
    )


def _print_repeat(series, out: Path, as_json: bool) -> int:
    from labctl.cli import repeat as repeating
    from labctl.report import compare

    record = repeating.write_repeat(series, out)
    if as_json:
        click.echo(json.dumps(record, indent=2, default=str))
    else:
        title = f"{series.scenario}: {len(series.runs)} run(s)"
        console.print(compare.distribution_table(record["aggregate"], title))
        console.print(f"verdicts: {compare.verdict_text(record['aggregate']['verdicts'])}", markup=False)
        console.print(f"results: {out / repeating.REPEAT_MD}", markup=False)
    if series.stopped:
        err_console.print(f"[yellow]the series stopped early:[/] {escape(series.stopped)}")
    return repeating.series_exit_code(series)


# pass, fail, inconclusive (the host could not support a verdict on timing)
EXIT_CODES = {"pass": 0, "fail": 1, "inconclusive": 3}


def exit_code(summary: dict) -> int:
    return EXIT_CODES.get((summary.get("verdict") or {}).get("verdict", "fail"), 1)


class TerminalNarrator:
    """--narrate: the engine's words on the terminal, and Enter to go on."""

    def __init__(self, out: Console) -> None:
        self.out = out

    def before(self, text: str) -> None:
        self.out.print(f"\n[bold]next:[/] {escape(text)}")
        self.out.input("  [dim]press Enter to go on[/] ")

    def after(self, text: str) -> None:
        self.out.print(f"[bold]measured:[/] {escape(text)}")


def run_with_view(access: LabAccess, loaded, out: Path, quiet: bool = False, narrator=None) -> dict:
    """Run the engine with the live view (unless QUIET or narrating: the narration waits for
    Enter in the foreground), then build the report."""
    from labctl.cli.live import live_table
    from labctl.report.build import build
    from labctl.scenario.engine import Engine

    engine = Engine(access, loaded, out, narrator=narrator)
    if Capability.JOURNAL in access.capabilities:
        from labctl.scenario.actions import Restorer

        engine.restorer = Restorer(journal=access.journal, journal_base=access.state_folder)
    if quiet or narrator is not None:
        engine.run()
    else:
        import threading

        worker = threading.Thread(target=engine.run, name="scenario")
        with Live(live_table(engine), console=err_console, refresh_per_second=4) as view:
            worker.start()
            try:
                while worker.is_alive():
                    view.update(live_table(engine))
                    time.sleep(0.25)
            except KeyboardInterrupt:
                # The engine thread cannot be interrupted from here: ask it to stop at the next
                # step boundary and wait for its cleanup.
                engine.request_stop()
                err_console.print("interrupted: putting the lab back...")
                worker.join()
    if not runrecords.cleanup_failed(out):
        engine.restorer.clear()  # everything is back: no journal left for `scenario restore`
    return build(out)


def print_summary(summary: dict, out: Path, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(summary, indent=2, default=str))
        return
    from labctl.report.build import expectations_table, summary_table, traffic_table

    console.print(summary_table(summary))
    if (traffic := traffic_table(summary)) is not None:
        console.print(traffic)
    console.print(expectations_table(summary))
    if summary.get("error"):
        console.print(f"[red]the run stopped early:[/] {escape(str(summary['error']))}")
    verdict = (summary.get("verdict") or {}).get("verdict", "fail")
    shown = {"pass": "[green]PASSED[/]", "fail": "[red]FAILED[/]", "inconclusive": "[yellow]INCONCLUSIVE[/]"}[verdict]
    for reason in (summary.get("verdict") or {}).get("reasons", []):
        console.print(f"  - {reason}", markup=False)
    console.print(f"{shown}  results: {escape(str(out))}")
