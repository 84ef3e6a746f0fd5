"""One exception hierarchy: every error labctl defines is a LabctlError (the CLI shows it as its
message and exit code), save the few listed here with the reason."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import click
import pytest
from click.testing import CliRunner

import labctl
from labctl.cli.main import LabctlGroup
from labctl.errors import EXIT_FAILED, LabctlError
from labctl.lab.nodes.ssh import CommandFailed, CommandResult
from labctl.model.targets import TargetError
from labctl.observe.parse import ParseError

# Not errors shown to users: control flow, or a carrier its one catcher words for the user.
ALLOWED = {
    # Ctrl-C delivered to the engine's thread at a step boundary: must stay a KeyboardInterrupt.
    "labctl.scenario.engine.StopRequested",
    # A YAML problem with its line, caught where files are read and turned into FILE:LINE
    # problems (LabFileError, ScenarioError, the state checks).
    "labctl.model.positions.YamlSyntaxError",
}


def exception_classes() -> dict[str, type[BaseException]]:
    found = {}
    for info in pkgutil.walk_packages(labctl.__path__, "labctl."):
        if info.name.endswith(".__main__"):  # runs the CLI when imported
            continue
        module = importlib.import_module(info.name)
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if issubclass(cls, BaseException) and cls.__module__ == info.name:
                found[f"{info.name}.{cls.__qualname__}"] = cls
    return found


def test_every_labctl_exception_is_a_labctl_error_or_allowed():
    classes = exception_classes()
    assert "labctl.lab.nodes.ssh.SshError" in classes and "labctl.observe.parse.ParseError" in classes  # the walk works
    outside = {name for name, cls in classes.items() if not issubclass(cls, LabctlError)}
    assert outside == ALLOWED


def test_errors_keep_the_builtin_base_their_catchers_rely_on():
    # `except ValueError` / `except RuntimeError` sites catch them as before.
    assert issubclass(TargetError, ValueError) and issubclass(ParseError, ValueError)
    assert ParseError("no colon", 3, "x y").message == "line 3: no colon: 'x y'"


def run_raising(exc: BaseException, *args: str) -> click.testing.Result:
    @click.group(cls=LabctlGroup)
    @click.option("-v", "--verbose", is_flag=True)
    def cli(verbose: bool) -> None:
        pass

    @cli.command()
    def boom() -> None:
        raise exc

    return CliRunner().invoke(cli, [*args, "boom"])


@pytest.mark.parametrize(
    "exc",
    [
        TargetError("no node is called b9"),
        CommandFailed(CommandResult("b1", ["false"], 1, "", "it broke\n", 0.1, "false")),
        OSError(28, "No space left on device"),
    ],
    ids=lambda e: type(e).__name__,
)
def test_a_lower_layers_error_is_one_error_line_and_exit_1(exc):
    result = run_raising(exc)
    assert result.exit_code == EXIT_FAILED
    lines = result.output.splitlines()
    assert lines[0].startswith("error: ") and len(lines) == 1, result.output
    assert str(exc).splitlines()[0] in lines[0]


def test_anything_else_is_a_bug_with_the_hint():
    result = run_raising(ValueError("not ours"))
    assert result.exit_code == EXIT_FAILED
    assert result.output.splitlines() == ["error: ValueError: not ours", "  run with -v for the traceback"]
