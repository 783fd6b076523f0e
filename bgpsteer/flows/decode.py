"""NetFlow v9 (RFC 3954) and IPFIX (RFC 7011) export datagrams to flow records: the destination address and the
octets it carried, scaled by the exporter's sampling rate.

Only what per-prefix volumes need is read (destination address, octets, sampling); everything else in a record is
skipped by its length.  Templates are kept per exporter (address, port, source id / observation domain, template
id), bounded in number; data for a template not yet seen is held, bounded in count and age, and decoded when the
template arrives (exporters send templates only every so often, and a collector that starts, or an exporter that
restarts, meets data first).  Nothing in a datagram raises: a malformed set is counted and the rest of the datagram
is still read.  Time comes in as ``now``; no I/O here.

Why our own parser: the maintained Python choices were weighed (pypi ``netflow``: last release 2023, decodes every
field of every record into dicts, several times slower than what the collector needs; ``ipfix``: last release
2014).  This one reads three fields, compiles each fixed-length template into one ``struct`` format, and is tested
against what Debian's softflowd really sends (tests/data/flows/, captured by ``python -m lab.flowexport``).
"""

from __future__ import annotations

import struct
from collections import deque
from dataclasses import dataclass, field

# Information elements (RFC 3954 field types; the same numbers in IANA's IPFIX registry)
OCTETS = (1, 23, 85)  # octetDeltaCount (IN_BYTES), postOctetDeltaCount (OUT_BYTES), octetTotalCount: first found
DST_V4, DST_V6 = 12, 28
SAMPLING_INTERVAL, SAMPLER_RANDOM_INTERVAL = 34, 50  # v9 (also IPFIX, deprecated there)
SAMPLER_ID, SELECTOR_ID = 48, 302
PACKET_INTERVAL, PACKET_SPACE = 305, 306  # IPFIX: n of every n + space packets

V9_HEADER = struct.Struct("!HHIIII")  # version, count, sysUptime, unix secs, sequence, source id
IPFIX_HEADER = struct.Struct("!HHIII")  # version, length, export time, sequence, observation domain
SET_HEADER = struct.Struct("!HH")
VARIABLE = 65535
LONG_VARIABLE = 255  # a variable-length field whose length follows in two more bytes (RFC 7011 7)
V9, IPFIX = 9, 10
FIRST_DATA_SET = 256  # set ids below are templates (and reserved)


@dataclass(frozen=True, slots=True)
class Flow:
    dst: int  # the destination address as an integer
    v6: bool
    octets: int  # as counted by the exporter, times its sampling rate


@dataclass(slots=True)
class Template:
    fields: tuple[tuple[int, int], ...]  # (element id; enterprise elements as -1), length (65535: variable)
    scope: int  # how many leading fields are scope fields (options templates)
    fmt: struct.Struct | None  # the whole record when every field has a fixed length
    size: int  # bytes per record (fixed-length templates)
    dst: int  # index of the destination field in the record (-1: none)
    v6: bool
    octets: int  # index of the octets field (-1: none)
    sampler: int  # index of a sampler / selector id field (-1: none)
    options: bool


@dataclass
class Stats:
    datagrams: int = 0
    flows: int = 0
    templates: int = 0  # template records learned (refreshes too)
    malformed: int = 0  # sets or datagrams that could not be read (the rest of a datagram still is)
    held: int = 0  # data sets held for a template not seen yet
    late: int = 0  # held sets decoded when their template came
    expired: int = 0  # held sets dropped: no template within hold_seconds, or beyond max_held
    no_octets: int = 0  # records without a destination or an octet count (nothing to add up)
    versions: dict[int, int] = field(default_factory=dict)


Scope = tuple[str, int, int]  # exporter address, port, source id / observation domain


class Decoder:
    def __init__(self, max_templates: int = 4096, max_held: int = 256, hold_seconds: float = 60.0) -> None:
        self.templates: dict[tuple[Scope, int], Template] = {}
        self.max_templates = max_templates
        self.max_held, self.hold_seconds = max_held, hold_seconds
        # data waiting for its template: (scope, template id, version, set body, received at)
        self.held: deque[tuple[Scope, int, int, bytes, float]] = deque()
        # sampling rate per exporter scope, and per sampler id within it (options data)
        self.sampling: dict[Scope, int] = {}
        self.samplers: dict[tuple[Scope, int], int] = {}
        self.default_sampling: dict[str, int] = {}  # exporter address -> configured rate, when it sends none
        self.stats = Stats()

    def rate(self, scope: Scope, sampler: int | None = None) -> int:
        if sampler is not None and (scope, sampler) in self.samplers:
            return self.samplers[scope, sampler]
        return self.sampling.get(scope) or self.default_sampling.get(scope[0], 1)

    def feed(self, address: str, port: int, data: bytes, now: float) -> list[Flow]:
        """The flows in one datagram from ``address``:``port`` (and any held data its templates unlock)."""
        self.stats.datagrams += 1
        self._expire(now)
        if len(data) < SET_HEADER.size // 2:
            self.stats.malformed += 1
            return []
        version = int.from_bytes(data[:2], "big")
        self.stats.versions[version] = self.stats.versions.get(version, 0) + 1
        if version == V9 and len(data) >= V9_HEADER.size:
            body, domain = data[V9_HEADER.size :], V9_HEADER.unpack_from(data)[5]
        elif version == IPFIX and len(data) >= IPFIX_HEADER.size:
            length, domain = IPFIX_HEADER.unpack_from(data)[1], IPFIX_HEADER.unpack_from(data)[4]
            if length > len(data) or length < IPFIX_HEADER.size:
                self.stats.malformed += 1
                return []
            body = data[IPFIX_HEADER.size : length]
        else:
            self.stats.malformed += 1  # NetFlow v5, sFlow, noise: not what this collector reads
            return []
        scope: Scope = (address, port, domain)
        flows: list[Flow] = []
        learned: set[int] = set()
        off = 0
        while off + SET_HEADER.size <= len(body):
            set_id, set_len = SET_HEADER.unpack_from(body, off)
            if set_len < SET_HEADER.size or off + set_len > len(body):
                self.stats.malformed += 1
                break  # a length that lies: nothing after it can be found
            content = body[off + SET_HEADER.size : off + set_len]
            off += set_len
            try:
                if set_id in ((0, 1) if version == V9 else (2, 3)):
                    learned |= self._templates(scope, version, set_id in (1, 3), content)
                elif set_id >= FIRST_DATA_SET:
                    self._data(scope, version, set_id, content, now, flows)
                else:
                    self.stats.malformed += 1
            except (struct.error, IndexError, ValueError):
                self.stats.malformed += 1
        if learned and self.held:
            self._unhold(scope, learned, flows)
        self.stats.flows += len(flows)
        return flows

    # -- templates -----------------------------------------------------

    def _templates(self, scope: Scope, version: int, options: bool, content: bytes) -> set[int]:
        learned: set[int] = set()
        off = 0
        while off + 4 <= len(content):
            tid, count = struct.unpack_from("!HH", content, off)
            if tid == 0 and count == 0:
                break  # padding
            off += 4
            scope_count = 0
            if version == V9 and options:
                scope_len, option_len = count, struct.unpack_from("!H", content, off)[0]  # RFC 3954 6.1
                off += 2
                count, scope_count = (scope_len + option_len) // 4, scope_len // 4
            elif version == IPFIX and options:
                if count == 0:  # withdrawal
                    self.templates.pop((scope, tid), None)
                    continue
                scope_count = struct.unpack_from("!H", content, off)[0]
                off += 2
            elif version == IPFIX and count == 0:
                self.templates.pop((scope, tid), None)  # IPFIX template withdrawal (RFC 7011 8.1)
                continue
            fields: list[tuple[int, int]] = []
            for _ in range(count):
                ie, length = struct.unpack_from("!HH", content, off)
                off += 4
                if version == IPFIX and ie & 0x8000:
                    off += 4  # enterprise number: an element this collector does not read
                    ie = -1
                fields.append((ie, length))
            if tid < FIRST_DATA_SET:
                raise ValueError(f"template id {tid}")
            if (scope, tid) not in self.templates and len(self.templates) >= self.max_templates:
                self.stats.malformed += 1  # bounded: an exporter cycling template ids cannot grow this
                continue
            self.templates[scope, tid] = compile_template(tuple(fields), scope_count, options)
            self.stats.templates += 1
            learned.add(tid)
        return learned

    # -- data ----------------------------------------------------------

    def _data(self, scope: Scope, version: int, tid: int, content: bytes, now: float, out: list[Flow]) -> None:
        t = self.templates.get((scope, tid))
        if t is None:
            if len(self.held) >= self.max_held:
                self.held.popleft()
                self.stats.expired += 1
            self.held.append((scope, tid, version, bytes(content), now))
            self.stats.held += 1
            return
        if t.options:
            self._options(scope, t, content)
        else:
            self._flows(scope, t, content, out)

    def _records(self, t: Template, content: bytes) -> list[tuple[object, ...]]:
        if t.fmt is not None:
            usable = len(content) - len(content) % t.size if t.size else 0
            return list(t.fmt.iter_unpack(content[:usable])) if t.size else []
        records: list[tuple[object, ...]] = []
        off = 0
        while off < len(content):
            values: list[object] = []
            for _, length in t.fields:
                if length == VARIABLE:
                    length = content[off]
                    off += 1
                    if length == LONG_VARIABLE:
                        length = int.from_bytes(content[off : off + 2], "big")
                        off += 2
                if off + length > len(content):
                    return records  # the rest is padding (or a short record): nothing more to read
                values.append(content[off : off + length])
                off += length
            records.append(tuple(values))
        return records

    def _flows(self, scope: Scope, t: Template, content: bytes, out: list[Flow]) -> None:
        if t.dst < 0 or t.octets < 0:
            self.stats.no_octets += len(self._records(t, content))
            return
        rate = self.rate(scope)
        for r in self._records(t, content):
            dst, octets = as_int(r[t.dst]), as_int(r[t.octets])
            scale = rate if t.sampler < 0 else self.rate(scope, as_int(r[t.sampler]))
            out.append(Flow(dst, t.v6, octets * scale))

    def _options(self, scope: Scope, t: Template, content: bytes) -> None:
        ids = [ie for ie, _ in t.fields]
        for r in self._records(t, content):
            values = {ie: as_int(v) for ie, v in zip(ids, r, strict=True) if ie in SAMPLING_IDS}
            rate = sampling_rate(values)
            if rate is None:
                continue
            sampler = values.get(SAMPLER_ID, values.get(SELECTOR_ID))
            if sampler is not None:
                self.samplers[scope, sampler] = rate
            else:
                self.sampling[scope] = rate

    def _unhold(self, scope: Scope, learned: set[int], out: list[Flow]) -> None:
        keep: deque[tuple[Scope, int, int, bytes, float]] = deque()
        for item in self.held:
            s, tid, _version, content, _at = item
            t = self.templates.get((s, tid)) if s == scope and tid in learned else None
            if t is None:
                keep.append(item)
                continue
            self.stats.late += 1
            try:
                if t.options:
                    self._options(s, t, content)
                else:
                    self._flows(s, t, content, out)
            except (struct.error, IndexError, ValueError):
                self.stats.malformed += 1
        self.held = keep

    def _expire(self, now: float) -> None:
        while self.held and now - self.held[0][4] > self.hold_seconds:
            self.held.popleft()
            self.stats.expired += 1


SAMPLING_IDS = {SAMPLING_INTERVAL, SAMPLER_RANDOM_INTERVAL, PACKET_INTERVAL, PACKET_SPACE, SAMPLER_ID, SELECTOR_ID}


def sampling_rate(values: dict[int, int]) -> int | None:
    """1 in N from one options record (None: it says nothing about sampling)."""
    for ie in (SAMPLING_INTERVAL, SAMPLER_RANDOM_INTERVAL):
        if ie in values:
            return max(1, values[ie])
    if PACKET_INTERVAL in values:
        n = max(1, values[PACKET_INTERVAL])
        return max(1, round((n + values.get(PACKET_SPACE, 0)) / n))
    return None


def as_int(v: object) -> int:
    return v if isinstance(v, int) else int.from_bytes(v, "big") if isinstance(v, bytes) else 0


INT_FORMATS = {1: "B", 2: "H", 4: "I", 8: "Q"}


def compile_template(fields: tuple[tuple[int, int], ...], scope: int, options: bool) -> Template:
    """Where the fields this collector reads sit in a record, and one struct format when all lengths are fixed."""
    ids = [ie for ie, _ in fields]
    dst = ids.index(DST_V4) if DST_V4 in ids else ids.index(DST_V6) if DST_V6 in ids else -1
    octets = next((ids.index(ie) for ie in OCTETS if ie in ids), -1)
    sampler = next((ids.index(ie) for ie in (SAMPLER_ID, SELECTOR_ID) if ie in ids), -1)
    fixed = all(length != VARIABLE for _, length in fields)
    fmt = None
    size = sum(length for _, length in fields) if fixed else 0
    if fixed and size:
        # an integer field of 1/2/4/8 bytes unpacks as an integer; any other length as bytes
        fmt = struct.Struct("!" + "".join(INT_FORMATS.get(length, f"{length}s") for _, length in fields))
    return Template(fields, scope, fmt, size, dst, ids[dst] == DST_V6 if dst >= 0 else False, octets, sampler, options)
