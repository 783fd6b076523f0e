"""What a scenario does to a lab and what it reads from it (lab/scenario.py runs them): a poller that watches the
core's RIB and the agent's measurements, the steps' faults, and the expectations' checks."""

from __future__ import annotations

import json
import re
import signal
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from bgpsteer.config.loader import load as load_config
from bgpsteer.core.config import Config
from bgpsteer.core.prefix import parse_prefix
from lab.clab import Deployed
from lab.netlab import drop_probes, longest_route, sh
from lab.scenario_packets import Packets, bird_best

NONE = "none"  # an expected egress: no usable path on the core
GLITCH = 1.0  # seconds: a shorter gap without a best path between two egresses is FRR recomputing, one move


class ScenarioError(ValueError):
    pass


@dataclass(frozen=True)
class Step:
    kind: str  # an action or "expect"
    args: dict[str, Any]
    line: int


# -- what the lab shows -----------------------------------------------------------------------------------------


@dataclass
class Timeline:
    """What the poller saw: the core's egress per prefix and the agent's measurements over time, and events."""

    start: float = field(default_factory=time.monotonic)
    routes: list[tuple[float, dict[str, str]]] = field(default_factory=list)
    measured: list[tuple[float, dict[str, dict[str, Any]]]] = field(default_factory=list)
    events: list[tuple[float, str]] = field(default_factory=list)

    def now(self) -> float:
        return time.monotonic() - self.start

    def changes(self, since: float) -> int:
        """Prefix moves on the core (a best path changing egress, appearing or going) after ``since``.  A prefix
        seen without a best path for less than GLITCH seconds between two egresses counts as one move, not two:
        FRR's JSON shows no best path while it re-runs best-path selection after a next-hop change."""
        count = 0
        prefixes = {p for _, snap in self.routes for p in snap}
        for prefix in prefixes:
            seq: list[tuple[float, str | None]] = []
            for t, snap in self.routes:
                e = snap.get(prefix)
                if not seq or seq[-1][1] != e:
                    seq.append((t, e))
            kept = [
                x
                for i, x in enumerate(seq)
                if not (
                    x[1] == NONE
                    and 0 < i < len(seq) - 1
                    and seq[i + 1][0] - x[0] < GLITCH
                    and seq[i - 1][1] not in (None, NONE)
                    and seq[i + 1][1] not in (None, NONE)
                )
            ]
            merged = [x for i, x in enumerate(kept) if i == 0 or kept[i - 1][1] != x[1]]
            count += sum(1 for t, _ in merged[1:] if t > since)
        return count


class Lab:
    """A deployed topology seen through its config: egress <-> gateway node, the core's routes by egress."""

    def __init__(self, d: Deployed) -> None:
        self.d = d
        self.rs = d.route_server
        self.config: Config = load_config(d.configs[self.rs])
        self.by_next_hop = {e.next_hop: e.id for e in self.config.egresses}
        addresses = {}  # what each node's namespace holds (link addresses, and those exec lines added)
        for node in d.topo.nodes:
            for line in sh("ip", "-o", "-4", "addr", "show", ns=d.lab.ns(node)).splitlines():
                addresses[line.split()[3].split("/")[0]] = node
        # an egress's gateway: the node holding its probes' target (one cloud reached through several egresses has
        # a session per egress on each gateway), else the node holding its cloud peer's address
        self.gateway = {p.egress: addresses[p.address] for p in self.config.cloud_peers if p.address in addresses}
        self.source = {p.egress: p.local_address for p in self.config.cloud_peers}
        for e in self.config.egresses:
            targets = e.probe.targets if e.probe else ()
            held = [addresses[t] for t in targets if t in addresses]
            if held:
                self.gateway[e.id] = held[0]
                peer = next((p for p in self.config.cloud_peers if p.egress == e.id and p.address in targets), None)
                if peer is not None:
                    self.source[e.id] = peer.local_address
        self.by_session = {p.local_address: p.egress for p in self.config.cloud_peers if p.local_address}
        routers = {e.id: addresses[e.gateway] for e in self.config.egresses if e.gateway in addresses}
        self.packets = Packets(d, routers)
        self.timeline = Timeline()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=f, daemon=True) for f in (self._poll, self._measure)]

    def routes(self) -> dict[str, str]:
        """Steered prefix -> egress of the core's valid best path (NONE without one)."""
        out = {}
        nh_routes = {f"{e.next_hop}/32" for e in self.config.egresses}
        if self.d.core_name in self.d.bird:  # a BIRD core (the data-plane topology)
            text = self.d.bird[self.d.core_name].cmd("show", "route", "all")
            return {
                p: NONE if nh is None else self.by_next_hop.get(nh, nh)
                for p, nh in bird_best(text).items()
                if p not in nh_routes
            }
        for prefix, paths in self.d.core.routes().items():
            if prefix in nh_routes:
                continue
            best = [p["nexthops"][0]["ip"] for p in paths if p.get("bestpath") and p.get("valid")]
            out[prefix] = self.by_next_hop.get(best[0], best[0]) if best else NONE
        return out

    def answers(self, node: str, address: str) -> list[str]:
        """The egresses a cloud gateway sends a packet for ``address`` through (the return path): the valid best
        path(s) of its longest matching route, by our address on each session; empty without a route."""
        if node in self.d.bird:
            best = {p: nh for p, nh in bird_best(self.d.bird[node].cmd("show", "route", "all")).items() if nh}
            match = longest_route(best, address)
            return [self.by_session.get(best[match], best[match])] if match else []
        routes = self.d.frr[node].routes()
        live = {p: paths for p, paths in routes.items() if any(x.get("bestpath") and x.get("valid") for x in paths)}
        match = longest_route(live, address)
        if match is None:
            return []
        used = [x for x in live[match] if x.get("valid") and (x.get("bestpath") or x.get("multipath"))]
        return sorted({self.by_session.get(str(x.get("peerId")), str(x.get("peerId"))) for x in used})

    def agent(self, *args: str) -> Any:
        p = self.d.cli(*args, "--json")
        return json.loads(p.stdout) if p.returncode == 0 else None

    def _poll(self) -> None:
        while not self._stop.is_set():
            t = self.timeline.now()  # when the read began: a snapshot is at least this new
            try:
                self.timeline.routes.append((t, self.routes()))
            except Exception:
                pass
            time.sleep(0.1)

    def _measure(self) -> None:
        """The agent's measurements once a second, in their own thread (a CLI call takes longer than a RIB poll)."""
        while not self._stop.wait(1.0):
            eg = self.agent("show", "egress")
            if eg:
                self.timeline.measured.append(
                    (
                        self.timeline.now(),
                        {e["egress"]: {**e["measured"], "in_service": e["in_service"]} for e in eg["egresses"]},
                    )
                )

    def link_to(self, node: str) -> str:
        """The route server's interface on its link to ``node``."""
        for link in self.d.topo.links:
            ends = {link.a.node: link.a.iface, link.b.node: link.b.iface}
            if set(ends) == {self.rs, node}:
                return ends[self.rs]
        raise ScenarioError(f"no link between {self.rs} and {node}")

    def sync(self, timeout: float = 30) -> float:
        """The start of the first poll that began after now: changes are counted from that baseline."""
        after, deadline = self.timeline.now(), time.monotonic() + timeout
        while time.monotonic() < deadline:
            later = [t for t, _ in self.timeline.routes if t > after]
            if later:
                return later[0]
            time.sleep(0.05)
        raise ScenarioError("the RIB poller stopped")

    def __enter__(self) -> Lab:
        for t in self._threads:
            t.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(130)

    # -- actions ----------------------------------------------------------------------------------------------

    def do(self, step: Step) -> None:  # noqa: C901 - one branch per action, each short
        a, ns = step.args, self.d.lab.ns
        self.timeline.events.append((self.timeline.now(), describe(step)))
        if step.kind in ("fail", "restore"):  # the route server's link to the egress's gateway down / up
            sh(
                "ip",
                "link",
                "set",
                self.link_to(self.gateway[str(a["egress"])]),
                "down" if step.kind == "fail" else "up",
                ns=ns(self.rs),
            )
        if step.kind in ("blackhole", "restore", "degrade"):
            egress = str(a["egress"])
            gw, src = ns(self.gateway[egress]), self.source[egress]
            sh("nft", "delete table inet scenario_probes", ns=gw, check=False)
            if step.kind != "restore":
                drop = "drop" if step.kind == "blackhole" else f"numgen random mod 100 < {int(a['loss_pct'])} drop"
                drop_probes(gw, "scenario_probes", source=src, verdict=drop)
        elif step.kind in ("withdraw", "announce"):
            bird = self.d.bird[str(a["peer"])]
            text, route = bird.conf.read_text(), f"route {a['prefix']} blackhole;"
            text = (
                text.replace(f" {route}", "")
                if step.kind == "withdraw"
                else text.replace("ipv4; ", f"ipv4; {route} ", 1)
            )
            bird.reconfigure(text)
        elif step.kind in ("stop_peer", "start_peer"):
            bird = self.d.bird[str(a["peer"])]
            for proto in re.findall(r"(?m)^protocol bgp (\S+)", bird.conf.read_text()):
                bird.cmd("disable" if step.kind == "stop_peer" else "enable", proto)
        elif step.kind == "restart_helper":
            status = self.agent("status")
            pid = int(status["runtime"]["pid"])
            sh("kill", f"-{int(signal.SIGKILL)}", str(pid))  # ExaBGP respawns its helper
        elif step.kind in ("drain", "undrain"):
            p = self.d.cli(step.kind, str(a["egress"]))
            if p.returncode != 0:
                raise ScenarioError(f"{step.kind} {a['egress']}: {p.stderr.strip()}")
        elif step.kind == "reload":
            path = self.d.configs[self.rs]
            text = path.read_text()
            for old, new in a["replace"]:
                if str(old) not in text:  # a replacement that matches nothing would reload the same config
                    raise ScenarioError(f"reload: {old!r} is not in {path.name}")
                text = text.replace(str(old), str(new))
            path.write_text(text)
            self.d.cli("reload")
            self.config = load_config(path)
        elif step.kind == "sleep":
            time.sleep(min(float(a["seconds"]), 300))
        elif step.kind == "traffic":
            self.packets.start(str(a["from"]), str(a["to"]), float(a["seconds"]), float(a["rate"]))

    # -- expectations -----------------------------------------------------------------------------------------

    def check(self, a: dict[str, Any], snapshots: dict[str, dict[str, str]]) -> list[str]:
        """What is wrong now (empty: the expectation holds)."""
        now = self.routes()
        wrong = [
            f"{p}: via {now.get(p, NONE)}, expected {want}"
            for p, want in (a.get("routes") or {}).items()
            if now.get(str(p), NONE) != str(want)
        ]
        wrong += [f"{p}: via {e}, expected to avoid it" for p, e in now.items() if e in set(a.get("avoid") or [])]
        wrong += [f"{p}: on the core, expected absent" for p in a.get("absent") or [] if now.get(str(p), NONE) != NONE]
        wrong += [f"{p}: no path on the core" for p in a.get("present") or [] if now.get(str(p), NONE) == NONE]
        if a.get("same_as"):
            before = snapshots.get(str(a["same_as"]), {})
            wrong += [
                f"{p}: via {now.get(p, NONE)}, was {e} at {a['same_as']}"
                for p, e in before.items()
                if now.get(p, NONE) != e
            ]
        if a.get("compliance"):
            wrong += self.compliance(now)
        if a.get("forwarded") or a.get("never_forwarded"):
            wrong += self.packets.check(dict(a.get("forwarded") or {}), dict(a.get("never_forwarded") or {}))
        for node, wants in (a.get("answers") or {}).items():
            for address, want in wants.items():
                expected = sorted(want) if isinstance(want, list) else ([] if want == NONE else [str(want)])
                via = self.answers(str(node), str(address))
                if via != expected:
                    shown = ", ".join(via) or NONE
                    wrong.append(f"{node} answers {address} via {shown}, expected {', '.join(expected) or NONE}")
        if a.get("in_service"):
            status = self.agent("status") or {"egresses": []}
            have = {e["egress"]: e["in_service"] for e in status["egresses"]}
            wrong += [
                f"egress {e}: in service {have.get(e)}, expected {w}"
                for e, w in a["in_service"].items()
                if have.get(e) != w
            ]
        return wrong

    def compliance(self, now: dict[str, str]) -> list[str]:
        """Every compliance-bound prefix routed through an egress outside the rule's jurisdictions."""
        jurisdiction = {e.id: e.jurisdiction for e in self.config.egresses}
        out = []
        for prefix, egress in now.items():
            if egress == NONE:
                continue
            for rule in self.config.compliance:
                if parse_prefix(prefix) in rule.prefixes and jurisdiction.get(egress) not in rule.jurisdictions:
                    out.append(f"{prefix}: via {egress} ({jurisdiction.get(egress)}), outside compliance {rule.name}")
        return out


def describe(step: Step) -> str:
    args = ", ".join(f"{k}={v}" for k, v in step.args.items())
    return f"{step.kind} {args}".strip()
