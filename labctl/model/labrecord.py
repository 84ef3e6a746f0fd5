"""The Lab as a run records it in run.json (a plain dict, the VRRP password left out), and back,
so a run folder alone rebuilds the lab its report needs."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from labctl.model import lab as model


def lab_to_dict(lab: model.Lab) -> dict[str, Any]:
    data = asdict(lab)
    data["vrrp"]["auth_pass"] = None  # never written to results
    return data


def lab_from_dict(data: dict[str, Any]) -> model.Lab:
    ipvs = dict(data["ipvs"])
    ipvs["timeouts"] = model.Timeouts(**ipvs["timeouts"])
    ipvs["health_check"] = model.HealthCheck(**ipvs["health_check"])
    return model.Lab(
        name=data["name"],
        provider=model.ProviderSettings(),
        network=model.NetworkSettings(**data["network"]),
        nodes=tuple(model.Node(**n) for n in data["nodes"]),
        vips=tuple(model.Vip(**v) for v in data["vips"]),
        vrrp=model.VrrpSettings(**data["vrrp"]),
        ipvs=model.IpvsSettings(**ipvs),
        isolation=data.get("isolation", "none"),
    )
