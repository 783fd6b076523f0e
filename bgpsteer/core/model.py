"""The network as the configuration describes it: egresses, peers, settings.

Plain immutable data; the config loader builds it, the core reads it.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from bgpsteer.core.family import AFI_FAMILY as AFI_FAMILY
from bgpsteer.core.family import FAMILY_AFI as FAMILY_AFI
from bgpsteer.core.family import IPV4 as IPV4
from bgpsteer.core.family import IPV6 as IPV6
from bgpsteer.core.family import Family as Family

if TYPE_CHECKING:
    from bgpsteer.core.prefix import PrefixSet

MaxPrefixAction = Literal["warn", "stop", "teardown"]


@dataclass(frozen=True, slots=True)
class Scope:
    """The core sessions an egress's next-hop route goes to: those without an application class (``app_class``
    None: the core's default table) or the sessions of one application class (its VRF)."""

    app_class: str | None = None

    def __str__(self) -> str:
        return self.app_class or "default"


DEFAULT_SCOPE = Scope()


ProbeKind = Literal["icmp", "tcp", "udp", "http", "external"]


@dataclass(frozen=True)
class Probe:
    """How an egress is measured: probes sent through its path to a few targets."""

    kind: ProbeKind
    targets: tuple[str, ...]
    port: int | None = None  # tcp, udp, http
    interval: float = 1.0  # seconds between rounds
    timeout: float = 0.5
    source: str | None = None  # bind to this source address (the egress's path)
    device: str | None = None  # SO_BINDTODEVICE: an interface or VRF
    netns: str | None = None  # a network namespace (name under /run/netns, or a path) the probes are sent from
    min_up: int = 1  # a round is good when at least this many targets answered
    window: int = 20  # samples per target for loss
    http_path: str = "/"


TunnelKind = Literal["interface", "wireguard", "ipsec"]


@dataclass(frozen=True)
class Tunnel:
    """The encrypted tunnel an egress runs through: its state is a health input (core/tunnel.py)."""

    kind: TunnelKind
    device: str  # its network device (a WireGuard interface, a VTI or XFRM device, a GRE ...); ipsec: ""
    peer: str | None = None  # wireguard: the peer's public key (None: the device's only peer)
    netns: str | None = None  # the network namespace the device is in (None: the agent's own)
    interval: float = 0.5  # wireguard: seconds between readings of the handshake
    reject_after: float = 180.0  # wireguard: a handshake older than this is a dead tunnel (its REJECT_AFTER_TIME)
    key_max_age: float | None = None  # alert when no handshake (key rotation) for this long (None: no alert)
    ike: str | None = None  # ipsec: the IKE connection's name in strongSwan
    child: str | None = None  # ipsec: its CHILD_SA's name (None: any of its CHILD_SAs)
    vici: str = "/var/run/charon.vici"  # ipsec: strongSwan's VICI socket


CounterKind = Literal["netlink", "snmp"]


@dataclass(frozen=True)
class Utilization:
    """Where an egress's utilization is read without anyone pushing it: an interface's octet counters, turned
    into Mbit/s against ``capacity_mbps`` (core/counters.py) for relief and the views."""

    kind: CounterKind  # netlink: a device on this host (or in a namespace); snmp: IF-MIB on a remote router
    device: str | None = None  # netlink: the interface; snmp: its ifName (or ifDescr), unless if_index is given
    netns: str | None = None  # netlink: the namespace the device is in (None: the agent's own)
    host: str | None = None  # snmp: the agent's address
    if_index: int | None = None  # snmp: the interface's ifIndex (instead of its name)
    port: int = 161  # snmp
    community: str = "public"  # snmp v2c
    direction: Literal["out", "in"] = "out"  # which counter: octets sent (towards the cloud) or received
    interval: float = 5.0  # seconds between readings
    stale_after: float | None = None  # a rate older than this is unknown, never zero (None: 3 x interval)
    timeout: float = 1.0  # snmp: seconds per request
    retries: int = 1  # snmp: requests again after a timeout

    @property
    def max_age(self) -> float:
        return self.stale_after if self.stale_after is not None else 3 * self.interval


@dataclass(frozen=True)
class Dampening:
    """Flap dampening (RFC 2439 style): each failure adds penalty, which halves every half_life."""

    penalty: float = 1000.0
    half_life: float = 60.0
    suppress: float = 3000.0
    reuse: float = 750.0


@dataclass(frozen=True)
class Health:
    rise: int = 3  # good rounds in a row before an egress counts as recovered
    fall: int = 3  # bad rounds in a row before it counts as failed
    hold_down: float = 10.0  # seconds recovered before traffic fails back
    dampening: Dampening | None = field(default_factory=Dampening)


@dataclass(frozen=True)
class Egress:
    id: str
    region: str
    jurisdiction: str
    cost_per_gb: float
    next_hop: str
    path_id: int
    next_hop6: str | None = None
    probe: Probe | None = None
    health: Health = field(default_factory=Health)
    # where the core really forwards traffic for this egress: the next-hop of the NH_E host
    # route ("self": bgpsteer's own session address, when the route server also forwards)
    gateway: str = "self"
    gateway6: str = "self"
    capacity_mbps: float | None = None  # what it can carry: multipath weights (steering.multipath)
    tunnel: Tunnel | None = None  # its encrypted tunnel, whose state takes it out of service at once
    utilization: Utilization | None = None  # read from its interface counters (None: pushed, or not known)

    def next_hop_for(self, afi: int) -> str | None:
        return self.next_hop if afi == IPV4 else self.next_hop6


@dataclass(frozen=True)
class MaxPrefix:
    limit: int
    action: MaxPrefixAction = "stop"


@dataclass(frozen=True)
class CloudPeer:
    name: str
    address: str
    asn: int
    egress: str
    provider: str
    region: str
    families: tuple[Family, ...] = ("ipv4",)
    local_address: str | None = None
    password: str | None = None
    max_prefix: MaxPrefix | None = None
    description: str = ""
    cloud: str = ""  # the cloud this session reaches (several egresses to one gateway); "": provider-asn
    max_routes: int | None = None  # most routes announced to it (None: its provider's limit)
    hold_time: int | None = None  # None: agent.hold_time
    ttl_security: int | None = None  # GTSM (RFC 5082): the most hops away the peer may be (None: off)

    @property
    def group(self) -> str:
        """The cloud (one gateway reached through several egresses) whose return path is steered as one."""
        return self.cloud or f"{self.provider}-{self.asn}"


@dataclass(frozen=True)
class SiteLearn:
    """Site prefixes learned from the core routers (core/sitelearn.py): the routes they announce that lie in a
    prefix set (and carry one of a community set's communities, if one is named)."""

    prefixes: PrefixSet  # the filter: only routes inside it are site prefixes
    routers: tuple[str, ...] = ()  # the core routers (names) learned from; empty: every core router
    communities: frozenset[tuple[int, int]] = frozenset()  # empty: no community required
    community_set: str = ""  # its name, for the reasons
    max: int = 100  # at most this many learned prefixes are announced (the shortest first)
    hold: float = 120.0  # seconds what a core router taught is kept after its session went down


@dataclass(frozen=True)
class Site:
    """The site's prefixes announced to the clouds, so replies come back through the egress requests left by."""

    prefixes: tuple[str, ...]  # in priority order: under a route limit, the earlier ones are kept (learned last)
    preferred_med: int = 100  # on the preferred session (providers whose knob is MED)
    backup_med: int = 200  # on every other session
    prepend: int = 3  # our AS prepended this many times more on every other session (providers whose knob is it)
    split: bool = True  # fast failover: halves of each prefix on the preferred session while an egress is out
    communities: tuple[tuple[int, int], ...] = ()  # on every route to the clouds
    clouds: tuple[str, ...] = ()  # the clouds (CloudPeer.group) announced to; empty: every cloud
    learn: SiteLearn | None = None  # more site prefixes, learned from the core routers


@dataclass(frozen=True)
class BmpStation:
    """Where bgpsteer's BMP station listens for one core router (which connects to it: FRR's ``bmp connect``)."""

    listen: str  # the address (the agent's, reachable from the core)
    port: int = 11019
    resync_interval: float = 60.0  # at most one resync (a fresh table to confirm BMP differences) per this long
    allow: tuple[str, ...] = ()  # addresses the core's BMP session may come from (empty: the core's own address)


@dataclass(frozen=True)
class CoreMonitor:
    """How bgpsteer reads what a core router holds (core/drift.py compares it with intent): by its CLI (what it
    holds and uses), by BMP (what it holds after its import policy, as it changes), or both."""

    # the format the command prints: FRR's 'show bgp ipv4 unicast json', BIRD's 'show route all' (None: no CLI)
    cli: Literal["frr", "bird"] | None
    command: tuple[str, ...] = ("vtysh", "-c", "show bgp ipv4 unicast json")  # the default for "bird": CLI_COMMANDS
    netns: str | None = None  # run the command in this network namespace (None: the agent's own)
    interval: float = 10.0  # seconds between readings
    window: float = 10.0  # a difference is drift once it has lasted this long (convergence)
    bmp: BmpStation | None = None  # BMP route monitoring (post-policy) from the core (None: no BMP)

    @property
    def sources(self) -> tuple[str, ...]:
        """The readings this core gives: "cli", "bmp" or both."""
        return tuple(s for s, on in (("cli", self.cli is not None), ("bmp", self.bmp is not None)) if on)


CLI_COMMANDS: dict[str, tuple[str, ...]] = {  # core_routers[].monitor.command when not given, by cli
    "frr": CoreMonitor.command,
    "bird": ("birdc", "-r", "show", "route", "all", "table", "master4"),
}


@dataclass(frozen=True)
class CoreRouter:
    name: str
    address: str
    asn: int
    families: tuple[Family, ...] = ("ipv4",)
    local_address: str | None = None
    password: str | None = None
    app_class: str | None = None  # this session feeds the core's VRF for one application class
    ttl_security: int | None = None  # GTSM (RFC 5082): the most hops away the core router may be (None: off)
    monitor: CoreMonitor | None = None  # read what it holds, to find drift from intent (None: not read)

    @property
    def scope(self) -> Scope:
        return Scope(self.app_class)


Objective = Literal["performance", "cost"]


@dataclass(frozen=True)
class AppClass:
    """An application class: SLA thresholds and an objective, served by per-class core sessions.

    How its traffic is recognised (DSCP, protocol, ports, destination prefixes) is
    applied on the core router, which puts matching traffic into the class's VRF;
    bgpsteer records it to document and render that classification."""

    name: str
    max_latency_ms: float | None = None
    max_loss_pct: float | None = None
    max_jitter_ms: float | None = None
    objective: Objective = "cost"
    slack_pct: float = (
        20.0  # performance: an egress within this much (and slack_ms) of the best latency still qualifies
    )
    slack_ms: float = 5.0
    rise: int = 5  # SLA rounds in a row that must fit / miss before the class moves (noise immunity)
    fall: int = 5
    hold_down: float = 30.0
    fail_static: bool = True  # no egress meets the SLA: keep the last good set rather than none
    dscp: tuple[int, ...] = ()
    protocols: tuple[str, ...] = ()
    ports: tuple[str, ...] = ()
    prefixes: str | None = None  # name of a destination prefix set
    destinations: tuple[str, ...] = ()  # that set's prefixes (each range's covering prefix): what the core matches


@dataclass(frozen=True)
class Safety:
    """RFC 7454 import hygiene, applied before the import policy."""

    reject_special_purpose: bool = True
    reject_private: bool = False
    allow_default: bool = False
    max_length_v4: int = 24
    max_length_v6: int = 48
    reject_martian_next_hop: bool = True
    default_max_prefix: MaxPrefix | None = None


@dataclass(frozen=True)
class Compliance:
    """Prefixes bound to jurisdictions: never announced through an egress outside them."""

    name: str
    prefixes: PrefixSet
    jurisdictions: frozenset[str]


MultipathWeights = Literal["capacity", "equal"]


@dataclass(frozen=True)
class Multipath:
    """Prefixes spread over every eligible egress at once: their paths get one rank (the core load-balances, ECMP)
    and, weighted by capacity, the BGP link-bandwidth extended community (the core splits in proportion)."""

    prefixes: PrefixSet | None = None  # None: every prefix
    weights: MultipathWeights = "capacity"


@dataclass(frozen=True)
class FlowExporter:
    """A router (or probe) allowed to send flow export to the collector; datagrams from anyone else are dropped."""

    address: str
    sampling: int | None = None  # 1 in N, for an exporter that does not say (None: what it says, else unsampled)


@dataclass(frozen=True)
class Flows:
    """Per-prefix volumes read from NetFlow v9 / IPFIX sent by the site-facing side of the core (bgpsteer/flows/):
    octets per destination, matched to the longest RIB prefix, over the last ``window`` seconds, in Mbit/s."""

    listen: str  # the address the collector binds
    exporters: tuple[FlowExporter, ...]
    port: int = 2055
    # seconds of flow records added up; at least the exporters' active timeout (softflowd maxlife, a router's
    # "cache timeout active"), or a long flow is seen only when its record arrives.  No record from any exporter
    # within it: the volumes are unknown, never zero.
    window: float = 10.0
    interval: float = 1.0  # seconds between the volumes handed to relief
    max_datagrams: int = 2000  # queued, not yet read; beyond it datagrams are dropped and counted (a flood)


@dataclass(frozen=True)
class Relief:
    """Relief of an overloaded egress (core/relief.py): thresholds on utilization / capacity_mbps."""

    threshold_pct: float = 85.0  # above this for `hold` seconds: the egress is overloaded
    release_pct: float = 70.0  # a moved prefix returns once its egress stays below this with it back
    hold: float = 60.0  # seconds over the threshold before moving; the least time a move stays; between moves
    max_moves: int = 50  # prefixes moved in one step
    flows: Flows | None = None  # per-prefix volumes from flow export (None: pushed with bgpsteer load)


@dataclass(frozen=True)
class MoveBudget:
    """Moves bgpsteer chooses per class (core/budget.py): at most `moves` per `interval` seconds."""

    moves: int = 2
    interval: float = 300.0


@dataclass(frozen=True)
class Steering:
    fail_static: bool = True  # when too many egresses fail at once, keep the last good state
    max_down: int | None = None  # egresses that may fail together before fail static; None: all but one
    cost_tiebreak: bool = True  # equal policy LOCAL_PREF: cheaper egress (then egress id) gets a higher LOCAL_PREF
    multipath: Multipath | None = None
    relief: Relief | None = None
    reason_communities: bool = False  # large communities on announced paths saying why (core/codes.py Wire)
    move_budget: MoveBudget | None = None


@dataclass(frozen=True)
class AgentSettings:
    """The YAML's `agent` section: how the helper itself runs (not the runtime agent, runtime/agent.py)."""

    local_asn: int
    router_id: str
    local_address: str | None = None
    hold_time: int = 90
    log_level: str = "info"
    state_dir: str = "/var/lib/bgpsteer"
    control_socket: str | None = None  # None: STATE_DIR/control.sock
    control_group: str | None = None  # group allowed to use the control socket (mode 0660)
    metrics: str | None = None  # "ADDRESS:PORT" for Prometheus; None: no listener
    journal_max_bytes: int = 64 * 1024 * 1024  # per file; 4 rotated files are kept
    # graceful restart (RFC 4724) towards core routers, seconds (0: off): the core keeps forwarding on the
    # paths of a restarting route server until bgpsteer sends End-of-RIB (manual-eor) or this runs out
    graceful_restart: int = 120
    # flight recorder (runtime/recorder.py): bytes of recorded inputs kept under STATE_DIR/recording (0: off)
    record_max_bytes: int = 256 * 1024 * 1024
    # after a (re)start, the longest wait for a cloud peer's table (End-of-RIB, End-of-Route-Refresh, or quiet)
    # before reconcile and End-of-RIB go ahead without it (core/reconcile.py)
    ready_timeout: int = 60

    @property
    def socket_path(self) -> str:
        return self.control_socket or socket_in(self.state_dir)


def socket_in(state_dir: str) -> str:
    """Where the control socket is when ``control_socket`` is not set."""
    return f"{state_dir.rstrip('/')}/control.sock"


def default(cls: type, name: str) -> Any:
    """A field's default, as the model declares it: the loader, the docs check and the CLI take defaults from here."""
    f = cls.__dataclass_fields__[name]  # type: ignore[attr-defined]
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    raise KeyError(f"{cls.__name__}.{name} has no default")
