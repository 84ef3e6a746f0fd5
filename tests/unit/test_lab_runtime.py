"""The declared lab runtime: every implementation has every member of `LabAccess`, names what
it can do in `capabilities`, and refuses the rest with an error that names the operation."""

from __future__ import annotations

import inspect

import pytest

from labctl.errors import LabctlError
from labctl.lab.access import LiveLab
from labctl.lab.links.linkshaping import LinkError
from labctl.lab.providers.netns import NetnsLab
from labctl.lab.runtime import Capability, LabAccess, NotSupported, WithoutOptional, require
from labctl.scenario import linkactions
from tests.support.nsaccess import NamespaceLab
from tests.unit.test_safety import JournaledLab
from tests.unit.test_scenario_engine import FakeLab

IMPLEMENTATIONS = [LiveLab, NamespaceLab, NetnsLab, FakeLab, JournaledLab]


def protocol_members() -> dict[str, object]:
    names = {n for n in vars(LabAccess) if not n.startswith("_")} | set(LabAccess.__annotations__)
    return {n: inspect.getattr_static(LabAccess, n, None) for n in sorted(names)}


def test_the_protocol_declares_every_operation_callers_use():
    # The six that were found with getattr, beside the five every lab had.
    assert set(protocol_members()) == {
        "lab",
        "capabilities",
        "run",
        "stream",
        "put",
        "power_off",
        "power_on",
        "service",
        "capture_point",
        "link",
        "host_stream",
        "journal",
        "state_folder",
    }
    assert {c.value for c in Capability} <= set(protocol_members())


@pytest.mark.parametrize("cls", IMPLEMENTATIONS, ids=lambda c: c.__name__)
def test_each_implementation_has_every_member_of_the_protocol(cls):
    for name, declared in protocol_members().items():
        if name == "capabilities":
            caps = inspect.getattr_static(cls, name)
            assert isinstance(caps, frozenset) and all(isinstance(c, Capability) for c in caps), cls
        elif declared is None:  # a data member: set when the lab is made
            inits = [vars(k)["__init__"] for k in cls.__mro__ if "__init__" in vars(k) and k is not object]
            assert any(f"self.{name} = " in inspect.getsource(i) for i in inits), (cls, name)
        elif isinstance(declared, property):
            assert isinstance(inspect.getattr_static(cls, name), property), (cls, name)
        else:
            have = inspect.signature(inspect.getattr_static(cls, name))
            want = inspect.signature(declared)  # type: ignore[arg-type]
            # Same parameters in the same order (an implementation may add optional ones).
            assert list(have.parameters)[: len(want.parameters)] == list(want.parameters), (cls, name)
            extra = list(have.parameters.values())[len(want.parameters) :]
            assert all(p.default is not inspect.Parameter.empty for p in extra), (cls, name)


@pytest.mark.parametrize("cls", IMPLEMENTATIONS, ids=lambda c: c.__name__)
def test_a_lab_has_exactly_the_operations_it_declares(cls):
    """A declared capability is implemented (not the refusing default); an undeclared one
    raises NotSupported naming the operation."""
    lab = object.__new__(cls)  # the refusals touch no state
    for capability in Capability:
        own = inspect.getattr_static(cls, capability.value) is not inspect.getattr_static(
            WithoutOptional, capability.value
        )
        assert own == (capability in cls.capabilities), (cls, capability)
        if capability in cls.capabilities:
            continue
        member = inspect.getattr_static(cls, capability.value)
        with pytest.raises(NotSupported, match=repr(capability.value)):
            if isinstance(member, property):
                getattr(lab, capability.value)
            else:
                args = ["x"] * (len(inspect.signature(member).parameters) - 1)
                getattr(lab, capability.value)(*args)


def test_a_caller_without_a_fallback_gets_a_clear_error():
    fake = FakeLab()
    with pytest.raises(LabctlError, match=r"this lab \(FakeLab\) cannot do 'journal'"):
        require(fake, Capability.JOURNAL)
    require(fake, Capability.SERVICES)  # declared: no error
    # Link actions asked for the host side of a lab without one say so, instead of impairing
    # inside the node.
    with pytest.raises(LinkError, match="no host side"):
        linkactions.side_for(fake, "b1", at="host")
    assert isinstance(linkactions.side_for(fake, "b1"), linkactions.NodeSide)
