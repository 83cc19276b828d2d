"""Mails to departments and the team: composition (German, addresses, attachments) and
delivery to a real local SMTP server."""

from __future__ import annotations

from email import message_from_bytes, policy

from etl import notify
from etl.notify import MailSettings, Notifier

SETTINGS = MailSettings(
    host="127.0.0.1",
    port=2525,
    sender="pipeline@example.org",
    team="team@example.org",
    public_portal_url="https://opendata.duesseldorf.de",
)


def roundtrip(message):
    """What a mail client sees."""
    return message_from_bytes(message.as_bytes(), policy=policy.default)


def test_published_mail_links_the_portal_and_names_the_file() -> None:
    message = roundtrip(
        notify.compose_published(
            SETTINGS,
            to="standesamt@example.org",
            dataset_title="Vornamen",
            file="Vornamen_2024.csv",
            filed_as="Vornamen_2024__2025-01-31_10-00-00__abcdef01.csv",
            link=SETTINGS.dataset_link("vornamen", "http://127.0.0.1:5000"),
            changes=["vornamen.csv: aktualisiert"],
            rows=1234,
        )
    )
    assert message["To"] == "standesamt@example.org"
    assert message["From"] == "pipeline@example.org"
    assert message["Reply-To"] == "team@example.org"
    assert message["Auto-Submitted"] == "auto-generated"
    assert message["Subject"] == "Veröffentlicht: Vornamen (Vornamen_2024.csv)"
    body = message.get_content()
    assert "https://opendata.duesseldorf.de/dataset/vornamen" in body
    assert "1.234 Zeilen" in body
    assert "vornamen.csv: aktualisiert" in body
    assert "archiv" in body


def test_rejected_mail_carries_both_reports(tmp_path) -> None:
    html = tmp_path / "v.csv.bericht.html"
    html.write_text("<html lang='de'></html>", encoding="utf-8")
    js = tmp_path / "v.csv.bericht.json"
    js.write_text('{"result": "abgelehnt"}', encoding="utf-8")
    message = roundtrip(
        notify.compose_rejected(
            SETTINGS,
            to="standesamt@example.org",
            dataset_title="Vornamen",
            file="v.csv",
            headline="Die Datei „v.csv“ erfüllt 1 Regel nicht.",
            advice=["Zeile 2 korrigieren.", "Wieder ablegen."],
            reports=[html, js],
        )
    )
    assert message["Subject"] == "Nicht veröffentlicht – bitte korrigieren: v.csv"
    body = message.get_body(("plain",)).get_content()
    assert "1. Zeile 2 korrigieren." in body and "2. Wieder ablegen." in body
    attachments = {a.get_filename(): a for a in message.iter_attachments()}
    assert set(attachments) == {"v.csv.bericht.html", "v.csv.bericht.json"}
    assert attachments["v.csv.bericht.html"].get_content_type() == "text/html"
    assert attachments["v.csv.bericht.json"].get_content() == b'{"result": "abgelehnt"}'


def test_duplicate_mail_says_nothing_changed() -> None:
    message = notify.compose_duplicate(
        SETTINGS, to="a@x.org", dataset_title="V", file="v.csv", filed_as="v__d.csv", link=None
    )
    assert message["Subject"] == "Keine Änderung: V (v.csv)"
    assert "Es wurde nichts geändert" in message.get_content()


def test_team_alert_needs_a_team_address() -> None:
    assert notify.compose_team_alert(MailSettings(), subject="s", text="t") is None
    alert = notify.compose_team_alert(SETTINGS, subject="Portal down", text="t")
    assert alert["To"] == "team@example.org" and "Reply-To" not in alert
    assert alert["Subject"] == "[Open-Data-Pipeline] Portal down"


def test_settings_from_environment(monkeypatch) -> None:
    monkeypatch.setenv("HARVEST_SMTP_HOST", "smtp.example.org")
    monkeypatch.setenv("HARVEST_SMTP_PORT", "587")
    monkeypatch.setenv("HARVEST_TEAM_EMAIL", "team@example.org")
    monkeypatch.setenv("HARVEST_SMTP_PASSWORD", "geheim")
    monkeypatch.delenv("HARVEST_SMTP_FROM", raising=False)
    settings = MailSettings.from_env()
    assert (settings.host, settings.port, settings.sender) == (
        "smtp.example.org",
        587,
        "team@example.org",
    )
    assert "geheim" not in repr(settings)


def test_without_host_nothing_is_sent_and_nothing_fails() -> None:
    notifier = Notifier(settings=MailSettings())
    assert notifier.team("s", "t") == []
    alert = notify.compose_team_alert(SETTINGS, subject="s", text="t")
    assert not notify.send(alert, MailSettings())


def test_delivery_to_a_real_smtp_server(smtp_server) -> None:
    settings = MailSettings(
        host="127.0.0.1", port=smtp_server.port, sender="p@example.org", team="t@example.org"
    )
    notifier = Notifier(settings=settings)
    assert notifier.team("Test", "Hallo Team, äöü.") == ["t@example.org"]
    [received] = smtp_server.messages
    assert received["Subject"] == "[Open-Data-Pipeline] Test"
    assert "Hallo Team, äöü." in received.get_content()


def test_an_unreachable_server_is_logged_not_raised(caplog) -> None:
    from devstack.processes import free_port

    settings = MailSettings(host="127.0.0.1", port=free_port(), team="t@example.org", timeout=2)
    assert Notifier(settings=settings).team("s", "t") == []
    assert "not sent" in caplog.text


def test_disabled_notifier_sends_nothing(smtp_server) -> None:
    settings = MailSettings(host="127.0.0.1", port=smtp_server.port, team="t@example.org")
    assert Notifier(settings=settings, enabled=False).team("s", "t") == []
    assert smtp_server.messages == []
