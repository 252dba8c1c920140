"""The pure parts of inbound webhooks: payloads read into alerts, the mapping, and the
credentials' checks (rotation overlap included)."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from app.hooks import credentials, mapping, payloads, signing
from app.hooks.secrets import digest, new_signing_secret

NOW = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)

# A body as Alertmanager 0.27 posts it (webhook receiver, `send_resolved: true`).
AM_V4: dict[str, Any] = {
    "receiver": "supportline",
    "status": "firing",
    "alerts": [
        {
            "status": "firing",
            "labels": {
                "alertname": "HighLatency",
                "instance": "api-1:8080",
                "job": "api",
                "severity": "critical",
                "customer": "C-SH-000123",
            },
            "annotations": {"summary": "p99 above 2 s", "description": "for 10 minutes"},
            "startsAt": "2026-03-02T07:50:12.345678901Z",
            "endsAt": "0001-01-01T00:00:00Z",
            "generatorURL": "http://prometheus:9090/graph?g0.expr=latency",
            "fingerprint": "b1e2c3d4a5f60718",
        },
        {
            "status": "resolved",
            "labels": {"alertname": "HighLatency", "instance": "api-2:8080", "job": "api"},
            "annotations": {},
            "startsAt": "2026-03-02T07:40:00Z",
            "endsAt": "2026-03-02T07:55:00Z",
            "generatorURL": "",
            "fingerprint": "c2e2c3d4a5f60719",
        },
    ],
    "groupLabels": {"alertname": "HighLatency"},
    "commonLabels": {"alertname": "HighLatency", "job": "api"},
    "commonAnnotations": {},
    "externalURL": "http://alertmanager:9093",
    "version": "4",
    "groupKey": '{}:{alertname="HighLatency"}',
    "truncatedAlerts": 0,
}


def test_an_alertmanager_group_is_one_alert_per_fingerprint_with_its_own_status() -> None:
    alerts = payloads.parse("alertmanager", AM_V4)
    assert [(a.fingerprint, a.status) for a in alerts] == [
        ("b1e2c3d4a5f60718", "firing"), ("c2e2c3d4a5f60719", "resolved")]  # fmt: skip
    first, second = alerts
    assert first.name == "HighLatency" and first.summary == "p99 above 2 s"
    assert first.starts_at == datetime(2026, 3, 2, 7, 50, 12, 345678, tzinfo=UTC)
    assert first.ends_at is None  # Alertmanager's zero time
    assert second.ends_at == datetime(2026, 3, 2, 7, 55, tzinfo=UTC)
    assert second.generator_url == ""


def test_a_missing_fingerprint_is_the_label_sets_and_stable() -> None:
    body = {"alerts": [{"status": "firing", "labels": {"b": "2", "a": "1"}}]}
    again = {"alerts": [{"status": "firing", "labels": {"a": "1", "b": "2"}}]}
    one = payloads.parse("alertmanager", body)[0].fingerprint
    assert one == payloads.parse("alertmanager", again)[0].fingerprint and len(one) == 16
    other = {"alerts": [{"status": "firing", "labels": {"a": "1", "b": "3"}}]}
    assert payloads.parse("alertmanager", other)[0].fingerprint != one


def test_generic_alerts_one_or_many() -> None:
    single = payloads.parse("generic", {"name": "Disk", "summary": "90%", "labels": {"x": "1"}})
    assert single[0].status == "firing" and single[0].annotations["summary"] == "90%"
    many = payloads.parse("generic", {"alerts": [
        {"fingerprint": "a", "status": "resolved", "ends_at": "2026-03-02T08:00:00+08:00"},
        {"fingerprint": "b", "site": "SH-01", "count": 3, "url": "https://grafana/x"},
    ]})  # fmt: skip
    assert [a.status for a in many] == ["resolved", "firing"]
    assert many[0].ends_at == datetime(2026, 3, 2, 0, 0, tzinfo=UTC)
    assert many[1].generator_url == "https://grafana/x" and many[1].raw["site"] == "SH-01"


@pytest.mark.parametrize(
    ("kind", "body", "loc"),
    [
        ("alertmanager", [], ()),
        ("alertmanager", {"version": 4, "alerts": []}, ("version",)),
        ("alertmanager", {"alerts": None}, ("alerts",)),
        ("alertmanager", {"alerts": [{"status": "firing"}]}, ("alerts", 0, "labels")),
        ("alertmanager", {"alerts": [{"labels": {}}]}, ("alerts", 0, "status")),
        ("alertmanager", {"alerts": [{"status": "firing", "labels": {"a": "\x00"}}]},
         ("alerts", 0, "labels", "a")),
        ("alertmanager", {"alerts": [{"status": "firing", "labels": {}, "startsAt": "2026-03-02"}]},
         ("alerts", 0, "startsAt")),
        ("alertmanager", {"alerts": [{"status": "firing", "labels": {}, "endsAt": "x"}]},
         ("alerts", 0, "endsAt")),
        ("alertmanager", {"commonLabels": [], "alerts": [{}]}, ("commonLabels",)),
        ("generic", {"summary": "no way to know it again"}, ("fingerprint",)),
        ("generic", {"fingerprint": "  "}, ("fingerprint",)),
        ("generic", {"fingerprint": "a", "deep": {"x": 1}}, ("deep",)),
        ("generic", {"alerts": [{"fingerprint": "a"}, []]}, ("alerts", 1)),
        ("generic", {"fingerprint": "a", "name": "x" * 300}, ("name",)),
    ],
)  # fmt: skip
def test_what_is_no_payload_names_where(kind: str, body: Any, loc: tuple[Any, ...]) -> None:
    with pytest.raises(payloads.PayloadError) as caught:
        payloads.parse(kind, body)
    assert caught.value.loc == loc
    assert caught.value.as_error()["loc"] == ["body", *loc]


def test_the_mapping_reads_paths_value_maps_and_defaults() -> None:
    alert = {"labels": {"severity": "CRITICAL", "customer": " C-1 ", "sn": "SN9"},
             "annotations": {"team": "net"}, "site": {"code": "SH"}, "n": 7}  # fmt: skip
    found = mapping.candidates(alert, {})
    assert (found.customer_code, found.priority, found.device_serial) == ("C-1", "P1", None)
    rules = {"customer_code": "site.code", "device_serial": ["labels.none", "labels.sn"],
             "category": "annotations.team", "priority": "n",
             "values": {"category": {"NET": "network"}, "priority": {"7": "P2"}}}  # fmt: skip
    found = mapping.candidates(alert, rules)
    assert found == mapping.Candidates("SH", "SN9", "network", "P2")
    assert mapping.candidates({"labels": {"severity": "odd"}}, {}).priority is None
    assert mapping.candidates({"labels": {"priority": "p4"}}, {}).priority == "P4"
    assert mapping.read_path({"a": True}, "a") is None
    assert mapping.read_path({"a": ["x"]}, "a") is None
    assert mapping.read_path({"labels": {"a.b": "x"}}, "labels.a.b") == "x"


def _secrets(auth: str, secret: str, previous: str | None = None, hours: int = 0,
             user: str | None = None) -> credentials.SourceSecrets:  # fmt: skip
    expires = NOW + timedelta(hours=hours) if previous else None
    return credentials.SourceSecrets(auth, secret, previous, expires, user)


def test_credentials_with_rotation_overlap() -> None:
    old, new = new_signing_secret(), new_signing_secret()
    s = _secrets("signature", new, old, hours=24)
    body = b'{"a": 1}'
    headers = signing.headers([old], "msg_1", NOW, body)
    assert credentials.check(s, headers, body, NOW, 300) == "msg_1"
    later = NOW + timedelta(hours=24)
    with pytest.raises(credentials.CredentialError):
        credentials.check(s, signing.headers([old], "msg_1", later, body), body, later, 300)
    assert credentials.check(s, signing.headers([new], "m", later, body), body, later, 300)

    t = _secrets("bearer", digest("new-token"), digest("old-token"), hours=1)
    assert credentials.check(t, {"authorization": "Bearer old-token"}, b"", NOW, 300) is None
    assert credentials.check(t, {"authorization": "bearer new-token"}, b"", NOW, 300) is None
    with pytest.raises(credentials.CredentialError):
        credentials.check(
            t, {"authorization": "Bearer old-token"}, b"", NOW + timedelta(hours=2), 300
        )

    b = _secrets("basic", digest("pw"), user="am")
    ok = "Basic " + base64.b64encode(b"am:pw").decode()
    assert credentials.check(b, {"authorization": ok}, b"", NOW, 300) is None
    for bad in ("Basic " + base64.b64encode(b"am:px").decode(),
                "Basic " + base64.b64encode("äm:pw".encode()).decode(), "Basic ===", "Bearer pw"):  # fmt: skip
        with pytest.raises(credentials.CredentialError):
            credentials.check(b, {"authorization": bad}, b"", NOW, 300)
