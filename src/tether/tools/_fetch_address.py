"""Which addresses ``http_fetch`` may connect to: host spellings, ranges and the allowlist.

Pure functions over :mod:`ipaddress`, no I/O: a host as written becomes the address the C
resolver would make of it (:func:`literal_address`), an address is judged public or not
(:func:`blocked_reason`), and an operator's allowlist says which private destinations
are meant (:class:`Allowlist`).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass

from tether.exceptions import AgentDefinitionError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

HOST_NAME = re.compile(r"^[a-z0-9_-]+(?:\.[a-z0-9_-]+)*$")
# WHATWG URL: a host whose last label is a number is an IPv4 address or invalid.
_NUMERIC_LABEL = re.compile(r"^(?:0x[0-9a-f]*|[0-9]+)$")

_V4 = ipaddress.IPv4Network
_V6 = ipaddress.IPv6Network
# Services a cloud VM reaches without credentials and that hand out credentials or
# control the VM: the instance metadata service (AWS, GCP, Azure, OpenStack and most
# others at 169.254.169.254; AWS over IPv6; Alibaba), AWS's ECS task and EKS Pod
# Identity credential endpoints, and Azure's WireServer, which is not even private.
_METADATA = frozenset(
    ipaddress.ip_address(a)
    for a in (
        "169.254.169.254",
        "fd00:ec2::254",
        "100.100.100.200",
        "169.254.170.2",
        "169.254.170.23",
        "fd00:ec2::23",
        "168.63.129.16",
    )
)
# Named explicitly so the verdict does not depend on which Python patch release decides
# ``is_global``; the reason strings are what the model and the operator read.
_BLOCKED: tuple[tuple[IPNetwork, str], ...] = (
    (_V4("0.0.0.0/8"), "unspecified"),
    (_V4("127.0.0.0/8"), "loopback"),
    (_V4("169.254.0.0/16"), "link-local"),
    (_V4("10.0.0.0/8"), "private"),
    (_V4("172.16.0.0/12"), "private"),
    (_V4("192.168.0.0/16"), "private"),
    (_V4("100.64.0.0/10"), "carrier-grade NAT"),
    (_V4("192.0.0.0/24"), "reserved"),
    (_V4("192.0.2.0/24"), "documentation"),
    (_V4("198.51.100.0/24"), "documentation"),
    (_V4("203.0.113.0/24"), "documentation"),
    (_V4("198.18.0.0/15"), "benchmarking"),
    (_V4("192.88.99.0/24"), "reserved"),
    (_V4("224.0.0.0/4"), "multicast"),
    (_V4("240.0.0.0/4"), "reserved"),
    (_V6("::/128"), "unspecified"),
    (_V6("::1/128"), "loopback"),
    (_V6("fe80::/10"), "link-local"),
    (_V6("fec0::/10"), "site-local"),
    (_V6("fc00::/7"), "private"),
    (_V6("ff00::/8"), "multicast"),
    (_V6("2001:db8::/32"), "documentation"),
    (_V6("3fff::/20"), "documentation"),
    (_V6("100::/64"), "discard"),
    (_V6("64:ff9b:1::/48"), "local NAT64"),
)
_NAT64 = _V6("64:ff9b::/96")
_SIIT = _V6("::ffff:0:0:0/96")


# -- addresses -----------------------------------------------------------------------------


def parse_ipv4_loose(host: str) -> ipaddress.IPv4Address | None:
    """The IPv4 address ``inet_aton`` makes of ``host``, or ``None`` if it is not one.

    One to four parts, each decimal, octal (leading ``0``) or hex (``0x``); the last part
    fills the remaining bytes: ``127.1``, ``0x7f.1``, ``0177.0.0.1`` and ``2130706433``
    are all 127.0.0.1.
    """
    parts = host.split(".")
    if not host.isascii() or not 1 <= len(parts) <= 4:  # int() also reads fullwidth digits
        return None
    numbers: list[int] = []
    for part in parts:
        if part[:2] in ("0x", "0X"):
            digits, base = part[2:] or "0", 16
        elif len(part) > 1 and part.startswith("0"):
            digits, base = part[1:], 8
        else:
            digits, base = part, 10
        try:
            numbers.append(int(digits, base))
        except ValueError:
            return None
        if not digits.isalnum():  # int() also takes "_", "+" and spaces
            return None
    *head, last = numbers
    if any(n > 255 for n in head) or last >= 256 ** (4 - len(head)):
        return None
    value = last
    for i, n in enumerate(head):
        value += n << (8 * (3 - i))
    return ipaddress.IPv4Address(value)


def blocked_reason(address: IPAddress) -> str | None:
    """Why connecting to ``address`` would leave the public internet, or ``None``."""
    if address in _METADATA:
        return "a cloud metadata address"
    if isinstance(address, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(address)
        if embedded is not None:
            reason = blocked_reason(embedded)
            if reason is not None:
                return f"an IPv6 form of {embedded}, {reason}"
            if address.ipv4_mapped or address in _NAT64 or address in _SIIT or _compat(address):
                return None  # the connection really goes to the public IPv4 address
    for network, reason in _BLOCKED:
        if address.version == network.version and address in network:
            return reason
    if address.is_multicast:
        return "multicast"
    if not address.is_global:
        return "not a public address"
    return None


def metadata_address(address: IPAddress) -> IPAddress | None:
    """The cloud metadata address ``address`` is, or carries in an IPv6 form; else ``None``."""
    if address in _METADATA:
        return address
    if isinstance(address, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(address)
        if embedded is not None and embedded in _METADATA:
            return embedded
    return None


def _compat(address: ipaddress.IPv6Address) -> bool:
    """Deprecated IPv4-compatible ``::a.b.c.d`` (not ``::`` or ``::1``)."""
    return int(address) >> 32 == 0 and int(address) > 1


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one carries (mapped, compatible, NAT64, SIIT, 6to4, Teredo)."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address in _NAT64 or address in _SIIT or _compat(address):
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]  # the client; Teredo itself is refused as non-global
    return None


def literal_address(host: str) -> IPAddress | None:
    """The address a host that is written as one means; ``None`` for a name.

    Raises:
        ValueError: The host looks numeric but is no address the resolver would take.
    """
    if ":" in host:
        try:
            return ipaddress.IPv6Address(host.replace("%25", "%"))
        except ValueError:
            raise ValueError(f"{host!r} is not a valid IPv6 address") from None
    last = host.rstrip(".").rsplit(".", 1)[-1]
    if _NUMERIC_LABEL.match(last):
        address = parse_ipv4_loose(host.rstrip("."))
        if address is None:
            raise ValueError(f"{host!r} looks like a numeric address but is not a valid one")
        return address
    return None


# -- the allowlist -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Allowlist:
    """Destinations an operator means to reach although private: networks and host names."""

    networks: tuple[IPNetwork, ...]
    names: tuple[str, ...]  # exact names, or ".suffix" for "*.suffix"

    @classmethod
    def parse(cls, entries: Iterable[str]) -> Allowlist:
        if isinstance(entries, str):
            raise AgentDefinitionError(f"allow must be a list, e.g. allow=[{entries!r}]")
        networks: list[IPNetwork] = []
        names: list[str] = []
        for entry in entries:
            if not isinstance(entry, str) or not entry.strip():
                raise AgentDefinitionError(f"allow entry {entry!r} must be a CIDR or a host name")
            text = entry.strip().lower().rstrip(".")
            try:
                networks.append(ipaddress.ip_network(text, strict=False))
                continue
            except ValueError:
                pass
            bare = text[2:] if text.startswith("*.") else text
            if not HOST_NAME.match(bare) or _NUMERIC_LABEL.match(bare.rsplit(".", 1)[-1]):
                raise AgentDefinitionError(
                    f"allow entry {entry!r} is neither a network (10.0.0.0/8) "
                    "nor a host name (api.internal, *.corp.example)"
                )
            names.append("." + bare if text.startswith("*.") else bare)
        return cls(networks=tuple(networks), names=tuple(names))

    def has_name(self, host: str) -> bool:
        return any(
            host.endswith(name) if name.startswith(".") else host == name for name in self.names
        )

    def has_address(self, address: IPAddress) -> bool:
        """Whether an entry holds ``address``; a cloud metadata address only by itself.

        A metadata address (the machine's credentials) is opened only by an entry naming
        that one address (``169.254.169.254`` or ``/32``): a range allowlisted for
        internal services (``100.64.0.0/10``, ``fc00::/7``) must not hand it out too.
        """
        if metadata_address(address) is not None:
            return any(
                address.version == net.version
                and net.num_addresses == 1
                and net.network_address == address
                for net in self.networks
            )
        return any(address.version == net.version and address in net for net in self.networks)
