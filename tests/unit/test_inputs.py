"""The core's inputs: one type, applied by one function, recorded and read back exactly (core/inputs.py)."""

from __future__ import annotations

import typing

import orjson
import pytest

from bgpsteer.core import inputs
from bgpsteer.core.attrs import Attrs
from bgpsteer.core.engine import Engine
from bgpsteer.core.events import PeerState, RoutesAnnounced
from bgpsteer.core.measure import Sample
from bgpsteer.core.tunnel import TunnelFacts
from bgpsteer.runtime import recorder
from tests.unit.helpers import config

RECORDED = [
    inputs.RecoveredState("10.1.0.2", "up", "established"),
    inputs.Relearning("10.1.0.2"),
    inputs.DecisionPass(500),
    inputs.DecisionPass(None),
    inputs.Tick(),
    inputs.ProbeRound("fra", (Sample("192.0.2.1", True, 12.5), Sample("192.0.2.2", False, None, "timeout")), True),
    inputs.LoadReport({"fra": 900.0}, {"10.10.1.0/24": 12.0}),
    inputs.TunnelReading(TunnelFacts("fra", True, True, False, 1796311849.0, 3.5, "")),
    inputs.TunnelReading(TunnelFacts("ams", False, detail="permission denied")),
    inputs.DrainChange("ams", True),
    inputs.Restore({"decision_id": 7}, 1.5),
    inputs.Start(),
]


def test_every_input_type_is_recorded_or_said_to_come_another_way() -> None:
    kinds = set(typing.get_args(inputs.Input))
    assert {type(i) for i in RECORDED} | {inputs.BgpEvent, inputs.ConfigSwap} == kinds


@pytest.mark.parametrize("inp", RECORDED, ids=lambda i: type(i).__name__)
def test_a_recorded_input_reads_back_as_the_same_input(inp: inputs.Input) -> None:
    encoded = recorder.encode(inp)
    assert encoded is not None
    kind, payload = encoded
    assert recorder.DECODE[kind](orjson.loads(orjson.dumps(payload))) == inp


def test_a_bgp_event_is_recorded_as_its_line_and_a_config_with_its_text() -> None:
    assert recorder.encode(inputs.BgpEvent(PeerState("10.1.0.2", "up"))) is None
    assert recorder.CONFIG not in recorder.DECODE
    assert recorder.LINE not in recorder.DECODE


def test_apply_is_the_engines_own_calls() -> None:
    """A recovered session state is not a change (a session up all along sends no table), unlike a decoded one."""
    eng = Engine(config("policy:\n  import: {default: accept}\n  export: {default: accept}\n"))
    eng.start(0)
    inputs.apply(eng, inputs.RecoveredState("10.1.0.2", "up", "established"), 1.0)
    assert eng.peers["10.1.0.2"].state == "up"
    attrs = Attrs(next_hop="10.1.0.2", as_path=(64512,))
    inputs.apply(eng, inputs.BgpEvent(RoutesAnnounced("10.1.0.2", 4, attrs, ["10.10.1.0/24"])), 1.0)
    assert eng.pending()
    inputs.apply(eng, inputs.DecisionPass(None), 1.0)
    assert not eng.pending()
    assert [pid for pid, _ in eng.rib["10.10.1.0/24"].out] == [eng.egresses["fra"].path_id]
