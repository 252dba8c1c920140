"""SSRF rules of outbound webhook targets (app.hooks.ssrf), without any allowed network:
loopback, link-local (the metadata service), private, a name that resolves to loopback,
IPv6 forms embedding a private IPv4, user-info, other schemes; and where the checked
request goes (the address, with the name in Host and SNI)."""

from __future__ import annotations

import ipaddress

import pytest

from app.hooks import ssrf


@pytest.mark.parametrize(
    ("url", "kind"),
    [
        ("http://127.0.0.1/hook", "loopback"),
        ("http://127.8.9.10:8080/hook", "loopback"),
        ("http://[::1]/hook", "loopback"),
        ("http://169.254.169.254/latest/meta-data/", "link-local"),
        ("http://[fe80::1]/", "link-local"),
        ("http://10.0.0.1/hook", "private"),
        ("https://172.16.5.4/", "private"),
        ("http://192.168.1.1/", "private"),
        ("http://[fd00::1]/", "private"),
        ("http://100.64.0.1/", "shared"),
        ("http://0.0.0.0/", "unspecified"),
        ("http://[::]/", "unspecified"),
        ("http://224.0.0.1/", "multicast"),
        ("http://240.0.0.1/", "reserved"),
        ("http://192.0.2.10/", "private"),  # documentation (TEST-NET-1)
        ("http://[::ffff:10.0.0.1]/", "private"),  # IPv4-mapped
        ("http://[::ffff:127.0.0.1]/", "loopback"),
        ("http://[64:ff9b::a9fe:a9fe]/", "link-local"),  # NAT64 of 169.254.169.254
        ("http://[2002:7f00:1::]/", "loopback"),  # 6to4 of 127.0.0.1
        ("http://localhost:8000/hook", "loopback"),  # a name that resolves to loopback
        ("http://LOCALHOST./hook", "loopback"),
        ("HTTP://127.0.0.1/", "loopback"),
        ("http://[0:0:0:0:0:ffff:127.0.0.1]/", "loopback"),
        ("http://[::127.0.0.1]/", "reserved"),  # IPv4-compatible (deprecated)
        ("http://[fec0::1]/", "site-local"),  # deprecated, but still routed inside
        ("http://198.18.0.1/", "private"),  # benchmarking
        ("http://192.0.0.1/", "private"),  # IETF protocol assignments
        ("http://255.255.255.255/", "reserved"),  # broadcast
        ("http://100.127.255.255/", "shared"),
    ],
)
async def test_non_global_targets_are_refused(url: str, kind: str) -> None:
    with pytest.raises(ssrf.Refused) as err:
        await ssrf.check(url, [])
    assert kind in str(err.value), str(err.value)


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("ftp://example.com/", "http or https"),
        ("file:///etc/passwd", "http or https"),
        ("gopher://127.0.0.1/", "http or https"),
        ("http://user:pass@example.com/", "user-info"),
        ("http://user@example.com/", "user-info"),
        ("http:///nohost", "no host"),
        ("http://example.com:99999/", "not valid"),
        ("http://example.com/#frag", "fragment"),
        ("http://good.example@127.0.0.1/", "user-info"),
        ("http://good.example\\@127.0.0.1/", "user-info"),
        ("http://example.com:0/", "port"),
        ("http://example.com:65536/", "not valid"),
        ("http://:80/", "no host"),
        # Zone ids pick an interface: meaningless for a global target.
        ("http://[fe80::1%25eth0]/", "zone id"),
        ("http://[2606:4700::1111%25eth0]/", "zone id"),
        ("http://ex%41mple.com/", "zone id or %-escapes"),
        # Numeric IPv4 forms the C resolver would read as 127.0.0.1 (inet_aton).
        ("http://2130706433/", "four decimal numbers"),
        ("http://0x7f.1/", "four decimal numbers"),
        ("http://0x7f000001/", "four decimal numbers"),
        ("http://017700000001/", "four decimal numbers"),
        ("http://127.1/", "four decimal numbers"),
        ("http://0/", "four decimal numbers"),
        ("http://\uff11\uff12\uff17.\uff10.\uff10.\uff11/", "four decimal numbers"),  # full-width
        # Not a host name at all (the resolver would only be asked for nonsense).
        ("http://127.0.0.1\\.good.example/", "not valid"),
        ("http://exa mple.com/", "not valid"),
        ("http://example..com/", "not valid"),
        ("http://" + "a" * 64 + ".com/", "not valid"),
    ],
)
async def test_malformed_targets_are_refused_before_any_lookup(url: str, reason: str) -> None:
    with pytest.raises(ssrf.Refused) as err:
        await ssrf.check(url, [])
    assert reason in str(err.value)


async def test_a_name_that_does_not_resolve_is_unresolvable() -> None:
    with pytest.raises(ssrf.Unresolvable):
        await ssrf.check("http://no-such-host.invalid/hook", [], within=5)


async def test_an_allowed_network_lets_its_addresses_through_and_no_others() -> None:
    target = await ssrf.check("http://127.0.0.1:8081/a?b=1", ["127.0.0.0/8"])
    assert target.address == "127.0.0.1" and target.port == 8081
    with pytest.raises(ssrf.Refused):
        await ssrf.check("http://10.0.0.1/", ["127.0.0.0/8"])
    # The mapped form of an allowed IPv4 address is allowed too.
    assert (await ssrf.check("http://[::ffff:10.1.2.3]/", ["10.0.0.0/8"])).address
    # localhost: every address it resolves to must be allowed (127.0.0.1 and ::1 here).
    if await _has_v6_localhost():
        with pytest.raises(ssrf.Refused):
            await ssrf.check("http://localhost/", ["127.0.0.0/8"])
    assert (await ssrf.check("http://localhost/", ["127.0.0.0/8", "::1/128"])).address


async def _has_v6_localhost() -> bool:
    return any(ipaddress.ip_address(a).version == 6 for a in await ssrf.resolve("localhost", 80, 5))


def test_global_addresses_pass() -> None:
    for address in ("93.184.216.34", "8.8.8.8", "2606:4700:4700::1111", "1.1.1.1"):
        assert ssrf.refusal(ipaddress.ip_address(address), ()) is None, address


async def test_the_request_goes_to_the_checked_address_with_the_name_as_host_and_sni() -> None:
    target = await ssrf.check("https://localhost:8443/in?x=1", ["127.0.0.0/8", "::1/128"])
    assert target.host == "localhost"
    assert target.host_header == "localhost:8443"
    assert target.extensions() == {"sni_hostname": "localhost"}
    ip = f"[{target.address}]" if ":" in target.address else target.address
    assert target.request_url() == f"https://{ip}:8443/in?x=1"
    plain = await ssrf.check("http://[::1]/", ["::1/128"])
    assert plain.request_url() == "http://[::1]:80/" and plain.host_header == "[::1]"
    assert plain.extensions() == {}


async def test_what_is_checked_is_what_is_named_and_connected_to() -> None:
    """An IP literal in its canonical form (Host, SNI and the address agree); a Unicode
    name in its IDNA form; the port as written."""
    mapped = await ssrf.check("http://[::FFFF:5DB8:D822]:8080/x", [])
    assert mapped.host == mapped.address == "::ffff:5db8:d822"
    assert mapped.host_header == "[::ffff:5db8:d822]:8080"
    assert ssrf.parse("https://Bücher.example./a")[2] == "xn--bcher-kva.example"
    assert ssrf.parse(" http://93.184.216.34:080/ ")[3] == 80


def test_the_settings_refuse_an_allowed_network_that_is_none() -> None:
    from pydantic import ValidationError

    from app.core.config import Settings

    with pytest.raises(ValidationError, match="WEBHOOK_ALLOW_NETWORKS: 'intranet'"):
        Settings(webhook_allow_networks=["10.20.0.0/16", "intranet"])
    assert Settings(webhook_allow_networks=["10.20.0.0/16"]).webhook_allow_networks
