"""Outbound webhook targets checked against SSRF, at registration and at every send.

The rules:

- the URL is `http` or `https`, has a host, no user-info (`user:pass@`), and a valid port;
- the host is resolved (the event loop's `getaddrinfo`, so `/etc/hosts` and the system
  resolver count, as they would for the connection) and **every** address it resolves to
  must be global: not loopback, link-local (169.254.169.254, the cloud metadata service,
  is one), private (RFC 1918, ULA fc00::/7), shared (100.64.0.0/10), multicast, reserved,
  unspecified, documentation or benchmark ranges, nor an IPv6 form embedding one of those
  (IPv4-mapped ::ffff:a.b.c.d, NAT64 64:ff9b::/96, 6to4, Teredo) - unless the address is
  inside one of WEBHOOK_ALLOW_NETWORKS (a receiver inside the company network);
- the sender then connects to the address that was checked, not to the name again (a
  second resolution could answer differently: DNS rebinding): the request goes to the IP,
  with `Host` set to the name and, for https, the TLS server name (SNI, and so the
  certificate check) set to it too (`request_target`);
- redirects are never followed (app.hooks.sender); connect and read time-outs come from
  the settings.

Why "every address": a name with one public and one private address would otherwise pass
the check and reach the private one whenever the resolver puts it first."""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import SplitResult, urlsplit, urlunsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_SHARED = ipaddress.ip_network("100.64.0.0/10")
_SITE_LOCAL = ipaddress.ip_network("fec0::/10")  # deprecated (RFC 3879), still routed inside
_LABEL = r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?"
_NAME = re.compile(rf"(?:{_LABEL}\.)*{_LABEL}")
_NUMERIC_LABEL = re.compile(r"[0-9]+|0x[0-9a-f]*")
DEFAULT_PORTS = {"http": 80, "https": 443}


class Refused(Exception):
    """The target may not be called; the text says why (it goes into the 422 and into
    the attempt's log)."""


class Unresolvable(Exception):
    """The host name did not resolve (or not in time)."""


@dataclass(frozen=True, slots=True)
class Target:
    """A checked URL: where to connect (`address`) and what to call the host."""

    url: SplitResult
    scheme: str
    host: str  # the name as sent in Host and SNI (IDNA-encoded), or the IP literal
    port: int
    address: str  # the checked address connected to
    addresses: tuple[str, ...]  # every address the name resolved to (all checked)

    @property
    def host_header(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == DEFAULT_PORTS[self.scheme] else f"{host}:{self.port}"

    def request_url(self, address: str | None = None) -> str:
        """The URL with a checked address (the first one unless named) in place of the
        host."""
        address = address or self.address
        if address not in self.addresses:
            raise ValueError(f"{address} is not one of the checked addresses")
        ip = f"[{address}]" if ":" in address else address
        netloc = f"{ip}:{self.port}"
        return urlunsplit((self.scheme, netloc, self.url.path or "/", self.url.query, ""))

    def extensions(self) -> dict[str, str]:
        """httpx request extensions: for https, the certificate is checked for the name."""
        return {"sni_hostname": self.host} if self.scheme == "https" else {}


def parse(url: str) -> tuple[SplitResult, str, str, int]:
    """(parts, scheme, host, port) of a target URL, or Refused naming what is wrong."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError as exc:
        raise Refused(f"The URL is not valid ({exc}).") from None
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS:
        raise Refused("The URL must be http or https.")
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        raise Refused("The URL must not carry user-info (user:password@): sign, not log in.")
    if not parts.hostname:
        raise Refused("The URL has no host.")
    if parts.fragment:
        raise Refused("The URL must not carry a fragment (#...).")
    if port == 0:
        # `port or default` below would quietly call port 80/443 instead.
        raise Refused("The URL's port must be 1 to 65535.")
    return parts, scheme, _host(parts.hostname), port or DEFAULT_PORTS[scheme]


def _host(hostname: str) -> str:
    """The host as connected to and named in Host and SNI: an IP literal in its canonical
    form, or an IDNA-encoded DNS name of letters, digits, `-` and `_`."""
    host = hostname.rstrip(".").lower()
    if "%" in host:
        # An IPv6 zone id (`[fe80::1%25eth0]`) picks an interface: never a global target.
        raise Refused("The host must not carry a zone id or %-escapes.")
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        pass
    try:
        host = host.encode("idna").decode("ascii")
    except UnicodeError:
        raise Refused("The host name is not valid.") from None
    if not _NAME.fullmatch(host):
        raise Refused("The host name is not valid.")
    if _NUMERIC_LABEL.fullmatch(host.rsplit(".", 1)[-1]):
        # `2130706433`, `0x7f.1`, `017700000001`, `127.1`: the C resolver reads these as
        # IPv4 addresses (inet_aton); asking for the dotted-quad form keeps what the URL
        # says, what is checked and what is connected to one and the same.
        raise Refused("An IPv4 address must be written as four decimal numbers (a.b.c.d).")
    return host


def networks(allow: Iterable[str]) -> tuple[IPNetwork, ...]:
    return tuple(ipaddress.ip_network(n, strict=False) for n in allow)


def _embedded_v4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]
    return None


def why_not_global(ip: IPAddress) -> str | None:
    """What kind of non-global address `ip` is, or None when it is global."""
    if isinstance(ip, ipaddress.IPv6Address):
        inner = _embedded_v4(ip)
        if inner is not None:
            why = why_not_global(inner)
            return f"{why} (embedded in {ip})" if why else None
    for test, kind in (
        (ip.is_unspecified, "unspecified"),
        (ip.is_loopback, "loopback"),
        (ip.is_link_local, "link-local"),
        (isinstance(ip, ipaddress.IPv6Address) and ip in _SITE_LOCAL, "site-local"),
        (ip.is_multicast, "multicast"),
        (isinstance(ip, ipaddress.IPv4Address) and ip in _SHARED, "shared (carrier-grade NAT)"),
        (ip.is_reserved, "reserved"),
        (ip.is_private, "private"),
        (not ip.is_global, "not global"),
    ):
        if test:
            return kind
    return None


def refusal(ip: IPAddress, allow: tuple[IPNetwork, ...]) -> str | None:
    """Why `ip` may not be called (None: it may): global, or inside an allowed network."""
    candidates: list[IPAddress] = [ip]
    if isinstance(ip, ipaddress.IPv6Address) and (inner := _embedded_v4(ip)) is not None:
        candidates.append(inner)
    if any(c.version == n.version and c in n for c in candidates for n in allow):
        return None
    why = why_not_global(ip)
    return None if why is None else f"{ip} is a {why} address"


async def resolve(host: str, port: int, within: float) -> tuple[str, ...]:
    """The addresses `host` resolves to, in the resolver's order (duplicates dropped)."""
    try:
        ipaddress.ip_address(host)
        return (host,)
    except ValueError:
        pass
    loop = asyncio.get_running_loop()
    try:
        infos = await asyncio.wait_for(
            loop.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP),
            within,
        )
    except (OSError, UnicodeError) as exc:
        raise Unresolvable(f"{host} does not resolve ({exc}).") from None
    except TimeoutError:
        raise Unresolvable(f"{host} did not resolve within {within:g} s.") from None
    found: list[str] = []
    for _family, _type, _proto, _name, sockaddr in infos:
        address = str(ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0]))
        if address not in found:
            found.append(address)
    if not found:
        raise Unresolvable(f"{host} resolves to no address.")
    return tuple(found)


async def check(url: str, allow: Iterable[str], within: float = 5.0) -> Target:
    """The checked target of `url`: Refused when a rule forbids it, Unresolvable when its
    host does not resolve."""
    parts, scheme, host, port = parse(url)
    allowed = networks(allow)
    addresses = await resolve(host, port, within)
    for address in addresses:
        why = refusal(ipaddress.ip_address(address), allowed)
        if why is not None:
            named = "" if address == host else f"{host} resolves to {address}: "
            raise Refused(f"{named}{why}; webhook targets must be global addresses.")
    return Target(parts, scheme, host, port, addresses[0], addresses)
