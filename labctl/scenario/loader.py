"""Reading and validating scenario files. Every problem is `FILE:LINE: key.path: reason`, and a
file with any problem is refused before anything runs.

Parameters are substituted first (`${name}` anywhere in a string; a string that is exactly
`${name}` takes the parameter's typed value), then each step is checked against its kind's
schema, and, when a lab is given, every node, role and VRRP instance it names must exist.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from labctl.model.lab import Lab
from labctl.model.labfile import Problem
from labctl.model.positions import Located, YamlSyntaxError, load
from labctl.resources import scenarios_dir
from labctl.scenario.metrics import check_metric
from labctl.scenario.model import PARAM_TYPES, Parameter, Scenario, Step
from labctl.scenario.targets import TargetError, check_target, parse_target

_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
ACTIONS = (
    "power-off",
    "power-on",
    "keepalived-stop",
    "keepalived-kill",
    "keepalived-start",
    "link-down",
    "link-up",
    "nginx-stop",
    "nginx-start",
    "ipvs-timeouts",
    "down",
    "up",
)
METHODS = ("poweroff", "keepalived-stop", "keepalived-kill", "link-down")
CONDITION_KEYS = {
    "holder": ("is", "not", "master", "any", "count"),
    "real": ("in_table",),
    "probe": ("done",),
    "inactconn": ("max",),
    "all_vips": ("at_master",),
}


class _Unresolved(str):
    """A `${name}` whose parameter is already reported as bad: not checked again."""


class ScenarioError(Exception):
    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("\n".join(str(p) for p in problems))
        self.problems = problems


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
            raise ScenarioError([Problem("--set", None, pair, "expected KEY=VALUE")])
        result[key.strip()] = value.strip()
    return result


# --- the checker ----------------------------------------------------------------------------


class _Checker:
    def __init__(self, located: Located, file: str) -> None:
        self.located = located
        self.file = file
        self.problems: list[Problem] = []
        self.broken: set[str] = set()

    def problem(self, path: tuple, message: str) -> None:
        dotted = ".".join(str(p) for p in path)
        self.problems.append(Problem(self.file, self.located.line_of(path), dotted, message))

    def where(self, path: tuple) -> str:
        line = self.located.line_of(path)
        return f"{self.file}:{line}" if line else self.file


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
    check = _Checker(located, file)
    data = located.data
    if not isinstance(data, dict):
        raise ScenarioError([Problem(file, 1, "", "a scenario is a mapping with description, parameters and steps")])
    _known_keys(check, data, (), ("name", "description", "parameters", "steps"))
    description = data.get("description")
    if not isinstance(description, str) or not description.strip():
        check.problem(("description",), "a scenario needs a description (one or more sentences)")
        description = ""
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
    return Scenario(scenario_name, file, description.strip(), parameters, values, steps, text)


def _known_keys(check: _Checker, data: dict, path: tuple, allowed: tuple[str, ...]) -> None:
    for key in data:
        if key not in allowed:
            hint = difflib.get_close_matches(str(key), allowed, n=1)
            more = f"; did you mean {hint[0]!r}?" if hint else f"; known: {', '.join(allowed)}"
            check.problem((*path, key), f"unknown key{more}")


# --- parameters ------------------------------------------------------------------------------


def _parameters(check: _Checker, raw: Any) -> dict[str, Parameter]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        check.problem(("parameters",), "must map parameter names to {type, default, help}")
        return {}
    params: dict[str, Parameter] = {}
    for name, spec in raw.items():
        path = ("parameters", name)
        if not isinstance(name, str) or not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", name):
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
        raise ValueError(f"{param.name} must be true or false, got {value!r}")
    if param.type == "int":
        if isinstance(value, bool) or not re.match(r"^-?\d+$", text):
            raise ValueError(f"{param.name} must be a whole number, got {value!r}")
        return int(text)
    if param.type == "float":
        try:
            if isinstance(value, bool):
                raise ValueError
            return float(text)
        except ValueError:
            raise ValueError(f"{param.name} must be a number, got {value!r}") from None
    if param.type == "choice":
        for choice in param.choices:
            if str(choice) == text:
                return choice
        raise ValueError(f"{param.name} must be one of {', '.join(map(str, param.choices))}, got {value!r}")
    return text


def _values(
    check: _Checker, params: dict[str, Parameter], overrides: dict[str, str], lab: Lab | None
) -> dict[str, Any]:
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


def _substitute(check: _Checker, value: Any, path: tuple, values: dict[str, Any]) -> Any:
    if isinstance(value, dict):
        return {k: _substitute(check, v, (*path, k), values) for k, v in value.items()}
    if isinstance(value, list):
        return [_substitute(check, v, (*path, i), values) for i, v in enumerate(value)]
    if not isinstance(value, str):
        return value
    whole = _REF.fullmatch(value)
    for ref in _REF.findall(value):
        if ref in check.broken:
            return _Unresolved(value)
        if ref not in values:
            known = ", ".join(sorted(values)) or "none"
            check.problem(path, f"missing parameter ${{{ref}}} (defined: {known})")
            return value
    if whole:
        return values[whole.group(1)]
    return _REF.sub(lambda m: str(values[m.group(1)]), value)


# --- steps -----------------------------------------------------------------------------------

_Validator = Callable[[_Checker, Any, tuple], bool]


def _number(low: float = 0.0, integer: bool = False) -> _Validator:
    def ok(check: _Checker, value: Any, path: tuple) -> bool:
        good = not isinstance(value, bool) and isinstance(value, int if integer else (int, float))
        if not good or value < low:
            kind = "a whole number" if integer else "a number"
            check.problem(path, f"must be {kind} >= {low:g}, got {value!r}")
            return False
        return True

    return ok


def _boolean(check: _Checker, value: Any, path: tuple) -> bool:
    if not isinstance(value, bool):
        check.problem(path, f"must be true or false, got {value!r}")
        return False
    return True


def _text(check: _Checker, value: Any, path: tuple) -> bool:
    if not isinstance(value, str) or not value:
        check.problem(path, f"must be a non-empty string, got {value!r}")
        return False
    return True


def _anything(check: _Checker, value: Any, path: tuple) -> bool:
    return True


def _vip_list(check: _Checker, value: Any, path: tuple) -> bool:
    if value == "all" or (isinstance(value, list) and value and all(isinstance(v, str) for v in value)):
        return True
    check.problem(path, f"must be 'all' or a list of VRRP instances such as [VI_1], got {value!r}")
    return False


# kind -> (main value validator, {option: validator}, required options)
SCHEMAS: dict[str, tuple[_Validator, dict[str, _Validator], tuple[str, ...]]] = {
    "probe": (
        _text,
        {
            "on": _anything,
            "vips": _vip_list,
            "rate": _number(0.1),
            "timeout": _number(0.01),
            "count": _number(0, True),
            "duration": _number(0),
            "sequential": _boolean,
            "foreground": _boolean,
        },
        (),
    ),
    "stop_probe": (_text, {}, ()),
    "capture": (
        _anything,
        {"interval": _number(0.05), "ipvs": _boolean, "stats": _boolean, "conns": _boolean, "timeout": _boolean},
        (),
    ),
    "stop_capture": (_anything, {}, ()),
    "wait": (_number(0), {}, ()),
    "wait_until": (_anything, {"timeout": _number(0.1), "fail": _boolean}, ("timeout",)),
    "action": (
        _text,
        {
            "target": _anything,
            "as": _text,
            "method": _text,
            "tcp": _number(1, True),
            "tcpfin": _number(1, True),
            "udp": _number(1, True),
        },
        (),
    ),
    "expect": (
        _text,
        {
            "metric": _text,
            "max": _number(-1e18),
            "min": _number(-1e18),
            "equals": _anything,
            "when": _text,
            "why": _text,
        },
        ("metric",),
    ),
    "foreach": (_anything, {"as": _text, "steps": _anything}, ("as", "steps")),
    "note": (_text, {}, ()),
    "mark": (_text, {}, ()),
}


def _steps(check: _Checker, raw: list[Any], path: tuple, lab: Lab | None, refs: set[str]) -> list[Step]:
    steps: list[Step] = []
    for index, item in enumerate(raw):
        step_path = (*path, index)
        step = _step(check, item, step_path, lab, refs)
        if step is not None:
            steps.append(step)
    return steps


def _step(check: _Checker, item: Any, path: tuple, lab: Lab | None, refs: set[str]) -> Step | None:
    if not isinstance(item, dict) or not item:
        check.problem(path, f"a step is a mapping such as `wait: 3`; kinds: {', '.join(SCHEMAS)}")
        return None
    kinds = [key for key in item if key in SCHEMAS]
    if len(kinds) != 1:
        first = next(iter(item))
        if not kinds:
            hint = difflib.get_close_matches(str(first), list(SCHEMAS), n=1)
            more = f"; did you mean {hint[0]!r}?" if hint else f"; kinds: {', '.join(SCHEMAS)}"
            check.problem((*path, first), f"unknown step{more}")
        else:
            check.problem(path, f"one step per list item, found {', '.join(kinds)}")
        return None
    kind = kinds[0]
    value_ok, options_schema, required = SCHEMAS[kind]
    value = item[kind]
    options = {k: v for k, v in item.items() if k != kind}
    if not isinstance(value, _Unresolved):
        value_ok(check, value, (*path, kind))
    for key, option in options.items():
        if isinstance(option, _Unresolved):
            continue
        if key not in options_schema:
            allowed = tuple(options_schema)
            hint = difflib.get_close_matches(str(key), allowed, n=1)
            more = f"; did you mean {hint[0]!r}?" if hint else f"; {kind} takes {', '.join(allowed) or 'no options'}"
            check.problem((*path, key), f"unknown option of {kind}{more}")
        else:
            options_schema[key](check, option, (*path, key))
    for key in required:
        if key not in options:
            check.problem((*path, kind), f"{kind} needs `{key}:`")
    step = Step(kind, value, options, check.where(path), ".".join(map(str, path)))
    _check_kind(check, step, path, lab, refs)
    if kind == "foreach" and isinstance(options.get("steps"), list):
        inner = refs | {options.get("as")} if isinstance(options.get("as"), str) else refs
        step.steps = _steps(check, options["steps"], (*path, "steps"), lab, set(inner))
        step.options = {k: v for k, v in options.items() if k != "steps"}
    elif kind == "foreach":
        check.problem((*path, "steps"), "foreach needs a list of steps")
    if isinstance(options.get("as"), str) and kind == "action":
        refs.add(options["as"])
    return step


def _target(check: _Checker, value: Any, path: tuple, lab: Lab | None, refs: set[str]) -> None:
    try:
        target = parse_target(value)
    except TargetError as exc:
        check.problem(path, f"bad target: {exc}")
        return
    reason = check_target(target, lab, refs)
    if reason:
        check.problem(path, f"bad target: {reason}")


def _check_kind(check: _Checker, step: Step, path: tuple, lab: Lab | None, refs: set[str]) -> None:
    kind, value, options = step.kind, step.value, step.options
    if kind == "action":
        if value not in ACTIONS:
            hint = difflib.get_close_matches(str(value), ACTIONS, n=1)
            more = f"; did you mean {hint[0]!r}?" if hint else f"; actions: {', '.join(ACTIONS)}"
            check.problem((*path, "action"), f"unknown action {value!r}{more}")
        if "target" in options:
            _target(check, options["target"], (*path, "target"), lab, refs)
        elif value != "ipvs-timeouts":
            check.problem((*path, "action"), f"action {value} needs `target:`")
        if value in ("down", "up"):
            if options.get("method") not in METHODS:
                check.problem(
                    (*path, "method") if "method" in options else (*path, "action"),
                    f"{value} needs `method:` one of {', '.join(METHODS)}",
                )
        elif "method" in options:
            check.problem((*path, "method"), "only the down and up actions take a method")
        if value == "ipvs-timeouts" and not {"tcp", "tcpfin", "udp"} & set(options):
            check.problem((*path, "action"), "ipvs-timeouts needs tcp, tcpfin and/or udp")
    elif kind in ("capture", "foreach"):
        if value not in (None, "all"):
            _target(check, value, (*path, kind), lab, refs)
    elif kind == "stop_capture" and value not in (None, "all"):
        _target(check, value, (*path, kind), lab, refs)
    elif kind == "wait_until":
        _condition(check, value, (*path, kind), lab, refs)
    elif kind == "expect":
        has_bound = any(k in options for k in ("max", "min", "equals"))
        if not has_bound:
            check.problem((*path, "expect"), "an expectation needs max, min or equals")
        metric = options.get("metric")
        if isinstance(metric, str):
            reason = check_metric(metric, {v.name for v in lab.vips} if lab is not None else None)
            if reason:
                check.problem((*path, "metric"), reason)
        when = options.get("when")
        if isinstance(when, str) and not re.fullmatch(r"\s*\S+\s*(==|!=)\s*\S+\s*", when):
            check.problem((*path, "when"), "use `A == B` or `A != B`")
    if kind == "probe":
        if "on" in options:
            _target(check, options["on"], (*path, "on"), lab, refs)
        vips = options.get("vips", "all")
        if lab is not None and isinstance(vips, list):
            known = {v.name for v in lab.vips}
            for i, vip in enumerate(vips):
                if vip not in known:
                    check.problem((*path, "vips", i), f"no VRRP instance {vip!r} ({', '.join(sorted(known))})")


def _condition(check: _Checker, value: Any, path: tuple, lab: Lab | None, refs: set[str]) -> None:
    if not isinstance(value, dict):
        check.problem(path, "a condition is a mapping such as {holder: VI_1, not: victim}")
        return
    subjects = [k for k in value if k in CONDITION_KEYS]
    if len(subjects) != 1:
        check.problem(path, f"a condition names one of {', '.join(CONDITION_KEYS)}")
        return
    subject = subjects[0]
    allowed = CONDITION_KEYS[subject]
    for key in value:
        if key != subject and key not in allowed:
            check.problem((*path, key), f"unknown key for a {subject} condition; use {', '.join(allowed)}")
    if not any(k in value for k in allowed):
        check.problem(path, f"a {subject} condition needs one of {', '.join(allowed)}")
    if lab is None:
        return
    name = value[subject]
    if subject == "all_vips" and name is not True:
        check.problem((*path, subject), "write `all_vips: true`")
    if subject in ("holder", "inactconn") and name not in {v.name for v in lab.vips}:
        check.problem((*path, subject), f"no VRRP instance {name!r}")
    if subject == "real" and name not in {n.name for n in lab.reals}:
        check.problem((*path, subject), f"no real server {name!r}")
    for key in ("is", "not"):
        if key in value:
            _target(check, value[key], (*path, key), lab, refs)
