"""Reading and validating scenario files. Every problem is `FILE:LINE: key.path: reason`, and a
file with any problem is refused before anything runs.

Parameters are substituted first (`${name}` anywhere in a string; a string that is exactly
`${name}` takes the parameter's typed value), then each step is checked against its kind's
schema, and, when a lab is given, every node, role and VRRP instance it names must exist.
"""

from __future__ import annotations

import difflib
import math
import re
from functools import partial
from pathlib import Path
from typing import Any

from labctl.model.lab import Lab
from labctl.model.positions import YamlSyntaxError, load
from labctl.model.problems import Problem, ProblemsError
from labctl.model.targets import ALL, ROLE_WORDS
from labctl.resources import scenarios_dir
from labctl.scenario.checks import Checker, Unresolved
from labctl.scenario.model import PARAM_TYPES, Parameter, Scenario, Step
from labctl.scenario.steps import all_kinds

_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


class ScenarioError(ProblemsError):
    """The scenario (or a --set value) cannot be used; `problems` lists the first issues (see
    LISTED_MAX), `more` counts the rest."""


# --- finding scenario files -----------------------------------------------------------------


def builtin_names() -> list[str]:
    folder = scenarios_dir()
    return sorted(p.stem for p in folder.glob("*.yaml")) if folder.is_dir() else []


def find(name_or_path: str) -> Path:
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml") or "/" in name_or_path:
        if not path.is_file():
            raise ScenarioError([Problem(name_or_path, None, "", "no such scenario file")])
        return path
    candidate = scenarios_dir() / f"{name_or_path}.yaml"
    if not candidate.is_file():
        known = ", ".join(builtin_names()) or "none"
        raise ScenarioError(
            [
                Problem(
                    name_or_path,
                    None,
                    "",
                    f"no scenario named {name_or_path!r} (built in: {known}); give a path to run your own file",
                )
            ]
        )
    return candidate


def read_scenario(path: Path | str, overrides: dict[str, str] | None = None, lab: Lab | None = None) -> Scenario:
    path = Path(path)
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise ScenarioError([Problem(str(path), None, "", f"cannot read: {exc}")]) from exc
    return parse_scenario(text, str(path), overrides, lab, name=path.stem)


def parse_set_options(pairs: list[str] | tuple[str, ...]) -> dict[str, str]:
    """`--set key=value` options into a dict (the values are typed later, per parameter)."""
    result: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ScenarioError([Problem("--set", None, "", f"expected KEY=VALUE, got {_shown(pair)}")])
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,63}", key.strip()):
            raise ScenarioError([Problem("--set", None, "", f"{_shown(key)} is not a parameter name")])
        if any(c < " " and c != "\t" for c in value):
            raise ScenarioError([Problem("--set", None, key.strip(), "the value holds a newline or control character")])
        result[key.strip()] = value.strip()
    return result


# --- the checker ----------------------------------------------------------------------------


def parse_scenario(
    text: str,
    file: str = "scenario.yaml",
    overrides: dict[str, str] | None = None,
    lab: Lab | None = None,
    name: str | None = None,
) -> Scenario:
    try:
        located = load(text)
    except YamlSyntaxError as exc:
        raise ScenarioError([Problem(file, exc.line, "", exc.message)]) from exc
    check = Checker(located, file)
    data = located.data
    if not isinstance(data, dict) or not {"description", "steps"} & set(data):
        # Not a scenario at all (a lab file, a list): one line, not a problem per key.
        raise ScenarioError([Problem(file, 1, "", "a scenario is a mapping with description, parameters and steps")])
    _known_keys(check, data, (), ("name", "description", "explanation", "parameters", "steps"))
    description = data.get("description")
    if not isinstance(description, str) or not description.strip():
        check.problem(("description",), "a scenario needs a description (one or more sentences)")
        description = ""
    explanation = data.get("explanation", "")
    if not isinstance(explanation, str):
        check.problem(("explanation",), "the explanation is text (one or more sentences)")
        explanation = ""
    parameters = _parameters(check, data.get("parameters"))
    values = _values(check, parameters, overrides or {}, lab)
    raw_steps = data.get("steps")
    steps: list[Step] = []
    if not isinstance(raw_steps, list) or not raw_steps:
        check.problem(("steps",), "a scenario needs a list of steps")
    else:
        substituted = _substitute(check, raw_steps, ("steps",), values)
        steps = _steps(check, substituted, ("steps",), lab, set())
    if check.problems:
        raise ScenarioError(check.problems)
    scenario_name = str(data.get("name") or name or Path(file).stem)
    return Scenario(
        scenario_name, file, description.strip(), parameters, values, steps, text, " ".join(explanation.split())
    )


def _known_keys(check: Checker, data: dict, path: tuple, allowed: tuple[str, ...]) -> None:
    for key in data:
        if key not in allowed:
            check.problem((*path, key), partial(_unknown, "unknown key", key, allowed, "known: "))


def _unknown(what: str, key: Any, allowed: tuple[str, ...], known: str) -> str:
    """WHAT with a 'did you mean' among ALLOWED, else KNOWN and the list: worded only when listed."""
    hint = difflib.get_close_matches(str(key), allowed, n=1)
    return what + (f"; did you mean {hint[0]!r}?" if hint else f"; {known}{', '.join(allowed) or 'no options'}")


# --- parameters ------------------------------------------------------------------------------


def _parameters(check: Checker, raw: Any) -> dict[str, Parameter]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        check.problem(("parameters",), "must map parameter names to {type, default, help}")
        return {}
    params: dict[str, Parameter] = {}
    for name, spec in raw.items():
        path = ("parameters", name)
        if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
            check.problem(path, "a parameter name is letters, digits and '_'")
            continue
        if not isinstance(spec, dict):
            spec = {"type": _type_of(spec), "default": spec}
        _known_keys(check, spec, path, ("type", "default", "choices", "help"))
        kind = spec.get("type", _type_of(spec.get("default")))
        if kind not in PARAM_TYPES:
            check.problem((*path, "type"), f"{kind!r} is not one of {', '.join(PARAM_TYPES)}")
            continue
        choices = spec.get("choices") or ()
        if kind == "choice" and (not isinstance(choices, list) or not choices):
            check.problem((*path, "choices"), "a choice parameter needs a list of choices")
            continue
        param = Parameter(name, kind, spec.get("default"), tuple(choices), str(spec.get("help", "")))
        if param.default is not None:
            try:
                _convert(param, param.default)
            except ValueError as exc:
                check.problem((*path, "default"), str(exc))
                continue
        params[name] = param
    return params


def _type_of(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    return "str"


def _shown(value: Any, limit: int = 40) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 4] + "...'"


def _convert(param: Parameter, value: Any) -> Any:
    """VALUE (from YAML or a --set string) as PARAM's type; ValueError says why not."""
    text = str(value).strip()
    if param.type == "bool":
        if isinstance(value, bool):
            return value
        if text.lower() in ("true", "yes", "1", "on"):
            return True
        if text.lower() in ("false", "no", "0", "off"):
            return False
        raise ValueError(f"{param.name} must be true or false, got {_shown(value)}")
    if param.type == "int":
        if isinstance(value, bool) or not re.fullmatch(r"-?\d+", text):
            raise ValueError(f"{param.name} must be a whole number, got {_shown(value)}")
        return int(text)
    if param.type == "float":
        try:
            if isinstance(value, bool):
                raise ValueError
            number = float(text)
        except ValueError:
            raise ValueError(f"{param.name} must be a number, got {_shown(value)}") from None
        if not math.isfinite(number):
            raise ValueError(f"{param.name} must be a finite number, got {_shown(value)}")
        return number
    if param.type == "choice":
        for choice in param.choices:
            if str(choice) == text:
                return choice
        raise ValueError(f"{param.name} must be one of {', '.join(map(str, param.choices))}, got {_shown(value)}")
    return text


def _values(check: Checker, params: dict[str, Parameter], overrides: dict[str, str], lab: Lab | None) -> dict[str, Any]:
    values: dict[str, Any] = {}
    broken: set[str] = set()
    for key in overrides:
        if key not in params:
            hint = difflib.get_close_matches(key, list(params), n=1)
            more = f"; did you mean {hint[0]!r}?" if hint else f"; parameters: {', '.join(params) or 'none'}"
            check.problems.append(Problem("--set", None, key, f"unknown parameter{more}"))
    for name, param in params.items():
        raw = overrides.get(name, param.default)
        if raw is None:
            check.problem(
                ("parameters", name), f"missing parameter: it has no default, give it with --set {name}=VALUE"
            )
            broken.add(name)
            continue
        try:
            values[name] = _convert(param, raw)
        except ValueError as exc:
            broken.add(name)
            if name in overrides:
                check.problems.append(Problem("--set", None, name, str(exc)))
            else:
                check.problem(("parameters", name), str(exc))
    if lab is not None:
        # Facts of the lab that expectations may test (`when: ${ipvs_manager} == keepalived`).
        values.setdefault("ipvs_manager", lab.ipvs.manager)
        values.setdefault("advert_int", lab.vrrp.advert_int)
        values.setdefault("lab", lab.name)
    check.broken = broken  # already reported: uses of them are not reported again
    return values


def _substitute(check: Checker, value: Any, path: tuple, values: dict[str, Any]) -> Any:
    if isinstance(value, dict):
        return {k: _substitute(check, v, (*path, k), values) for k, v in value.items()}
    if isinstance(value, list):
        return [_substitute(check, v, (*path, i), values) for i, v in enumerate(value)]
    if not isinstance(value, str):
        return value
    whole = _REF.fullmatch(value)
    for ref in _REF.findall(value):
        if ref in check.broken:
            return Unresolved(value)
        if ref not in values:
            known = ", ".join(sorted(values)) or "none"
            check.problem(path, f"missing parameter ${{{ref}}} (defined: {known})")
            return value
    if whole:
        return values[whole.group(1)]
    return _REF.sub(lambda m: str(values[m.group(1)]), value)


# --- steps -----------------------------------------------------------------------------------


def _steps(check: Checker, raw: list[Any], path: tuple, lab: Lab | None, refs: set[str]) -> list[Step]:
    steps: list[Step] = []
    for index, item in enumerate(raw):
        step_path = (*path, index)
        step = _step(check, item, step_path, lab, refs)
        if step is not None:
            steps.append(step)
    return steps


def _step(check: Checker, item: Any, path: tuple, lab: Lab | None, refs: set[str]) -> Step | None:
    kinds_known = all_kinds()
    if not isinstance(item, dict) or not item:
        check.problem(path, f"a step is a mapping such as `wait: 3`; kinds: {', '.join(kinds_known)}")
        return None
    kinds = [key for key in item if key in kinds_known]
    if len(kinds) != 1:
        first = next(iter(item))
        if not kinds:
            check.problem((*path, first), partial(_unknown, "unknown step", first, tuple(kinds_known), "kinds: "))
        else:
            check.problem(path, f"one step per list item, found {', '.join(kinds)}")
        return None
    kind = kinds_known[kinds[0]]
    value = item[kind.name]
    options = {k: v for k, v in item.items() if k != kind.name}
    if not isinstance(value, Unresolved):
        kind.value(check, value, (*path, kind.name))
    for key, option in options.items():
        if isinstance(option, Unresolved):
            continue
        if key not in kind.options:
            what = f"unknown option of {kind.name}"
            check.problem((*path, key), partial(_unknown, what, key, tuple(kind.options), f"{kind.name} takes "))
        else:
            kind.options[key](check, option, (*path, key))
    for key in kind.required:
        if key not in options:
            check.problem((*path, kind.name), f"{kind.name} needs `{key}:`")
    alias = options.get("as")
    if isinstance(alias, str) and (alias in ROLE_WORDS or alias == ALL):
        # A target reads `balancers` or `all` as the role or every node, never as this name.
        check.problem((*path, "as"), f"`as: {alias}` is a target word (a role or all): choose another name")
    step = Step(kind.name, value, options, check.where(path), ".".join(map(str, path)))
    if kind.check is not None:
        kind.check(check, step, path, lab, refs)
    if kind.name == "foreach" and isinstance(options.get("steps"), list):
        alias = options.get("as")
        inner = refs | {alias} if isinstance(alias, str) else refs
        step.steps = _steps(check, options["steps"], (*path, "steps"), lab, set(inner))
        step.options = {k: v for k, v in options.items() if k != "steps"}
    elif kind.name == "foreach":
        check.problem((*path, "steps"), "foreach needs a list of steps")
    return step
