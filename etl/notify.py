"""E-mail to departments and the open data team about dropped files (plain ``smtplib``).

Who gets what:

* the dataset's maintainer (``package.maintainer_email`` in the registry): published
  (with the portal link), duplicate (nothing changed), rejected (reports attached);
  the team address is ``Reply-To`` so questions reach people, not the pipeline;
* the team (``HARVEST_TEAM_EMAIL``): files dropped into unknown folders and anything
  that is not the department's fault (portal down, storage full) — the department
  hears about its file once it is published;
* the weekly rhythm: the maintainer of a dataset whose update is overdue
  (:func:`compose_overdue`, ``etl/freshness.py``); the team gets the overdue summary and
  the Wednesday release's announcement draft (``etl/release.py``).

Configuration from the environment: ``HARVEST_SMTP_HOST`` (unset: no mail is sent, a
log line says so), ``HARVEST_SMTP_PORT`` (25), ``HARVEST_SMTP_FROM``,
``HARVEST_TEAM_EMAIL``, optional ``HARVEST_SMTP_USER``/``HARVEST_SMTP_PASSWORD``,
``HARVEST_SMTP_STARTTLS=1`` or ``HARVEST_SMTP_SSL=1``, ``HARVEST_PORTAL_PUBLIC_URL``
(the portal address people use, if it differs from the API address).

Composing is separate from sending, so messages are tested without a server. Sending
never raises: a mail that cannot be delivered is logged, the file is filed anyway.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import smtplib
import ssl
from collections.abc import Sequence
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path
from zoneinfo import ZoneInfo

log = logging.getLogger(__name__)

_BERLIN = ZoneInfo("Europe/Berlin")

SIGNATURE = (
    "Diese Nachricht wurde automatisch von der Open-Data-Pipeline der Landeshauptstadt "
    "Düsseldorf verschickt. Bei Fragen bitte auf diese E-Mail antworten."
)


@dataclass(frozen=True)
class MailSettings:
    """SMTP connection and addresses; ``host`` None disables mail."""

    host: str | None = None
    port: int = 25
    sender: str = "open-data-pipeline@localhost"
    team: str | None = None
    user: str | None = None
    password: str | None = field(default=None, repr=False)
    starttls: bool = False
    use_ssl: bool = False
    timeout: float = 30.0
    public_portal_url: str | None = None

    @property
    def enabled(self) -> bool:
        return bool(self.host)

    @classmethod
    def from_env(cls) -> MailSettings:
        """Settings from ``HARVEST_SMTP_*`` / ``HARVEST_TEAM_EMAIL``."""
        env = os.environ
        team = env.get("HARVEST_TEAM_EMAIL") or None
        return cls(
            host=env.get("HARVEST_SMTP_HOST") or None,
            port=int(env.get("HARVEST_SMTP_PORT") or 25),
            sender=env.get("HARVEST_SMTP_FROM") or team or cls.sender,
            team=team,
            user=env.get("HARVEST_SMTP_USER") or None,
            password=env.get("HARVEST_SMTP_PASSWORD") or None,
            starttls=env.get("HARVEST_SMTP_STARTTLS", "") in ("1", "true", "True"),
            use_ssl=env.get("HARVEST_SMTP_SSL", "") in ("1", "true", "True"),
            timeout=float(env.get("HARVEST_SMTP_TIMEOUT") or 30),
            public_portal_url=(env.get("HARVEST_PORTAL_PUBLIC_URL") or "").rstrip("/") or None,
        )

    def dataset_link(self, dataset_id: str, api_url: str | None) -> str | None:
        """The dataset's page as people open it."""
        base = self.public_portal_url or (api_url or "").rstrip("/")
        return f"{base}/dataset/{dataset_id}" if base else None


def _message(
    settings: MailSettings, to: str, subject: str, body: str, *, reply_to_team: bool = True
) -> EmailMessage:
    message = EmailMessage()
    message["From"] = settings.sender
    message["To"] = to
    if reply_to_team and settings.team and settings.team != to:
        message["Reply-To"] = settings.team
    message["Subject"] = subject
    message["Date"] = formatdate(localtime=True)
    message["Message-ID"] = make_msgid(domain="harvest.local")
    message["Auto-Submitted"] = "auto-generated"  # RFC 3834: no out-of-office replies
    message.set_content(f"{body.rstrip()}\n\n-- \n{SIGNATURE}\n")
    return message


def compose_published(
    settings: MailSettings,
    *,
    to: str,
    dataset_title: str,
    file: str,
    filed_as: str,
    link: str | None,
    changes: Sequence[str] = (),
    rows: int | None = None,
) -> EmailMessage:
    """Mail to the department: the dropped file is on the portal."""
    lines = [
        "Guten Tag,",
        "",
        f"Ihre Datei „{file}“ wurde geprüft und im Datensatz „{dataset_title}“ veröffentlicht.",
    ]
    if rows is not None:
        count = f"{rows:,}".replace(",", ".")  # German thousands separator
        lines.append(f"Der Datensatz umfasst jetzt {count} Zeilen.")
    if changes:
        lines += ["", "Auf dem Portal:", *(f"  - {c}" for c in changes)]
    if link:
        lines += ["", f"Zum Datensatz: {link}"]
    lines += ["", f"Die Datei liegt jetzt im Ordner „archiv“ als „{filed_as}“."]
    return _message(settings, to, f"Veröffentlicht: {dataset_title} ({file})", "\n".join(lines))


def compose_duplicate(
    settings: MailSettings,
    *,
    to: str,
    dataset_title: str,
    file: str,
    filed_as: str,
    link: str | None,
) -> EmailMessage:
    """Mail to the department: the same bytes are already published."""
    lines = [
        "Guten Tag,",
        "",
        f"Ihre Datei „{file}“ ist inhaltlich identisch mit der bereits veröffentlichten "
        f"Fassung des Datensatzes „{dataset_title}“. Es wurde nichts geändert.",
        "",
        f"Die Datei liegt im Ordner „archiv“ als „{filed_as}“.",
    ]
    if link:
        lines += ["", f"Zum Datensatz: {link}"]
    return _message(settings, to, f"Keine Änderung: {dataset_title} ({file})", "\n".join(lines))


def compose_rejected(
    settings: MailSettings,
    *,
    to: str,
    dataset_title: str,
    file: str,
    headline: str,
    advice: Sequence[str],
    reports: Sequence[Path],
) -> EmailMessage:
    """Mail to the department (or the team, for unknown folders) with the reports attached."""
    lines = [
        "Guten Tag,",
        "",
        f"Ihre Datei „{file}“ für „{dataset_title}“ wurde nicht veröffentlicht.",
        "",
        headline,
        "",
        "Was zu tun ist:",
        *(f"  {n}. {step}" for n, step in enumerate(advice, start=1)),
        "",
        "Der vollständige Prüfbericht ist angehängt (HTML zum Lesen im Browser, JSON für "
        "Programme). Die Datei liegt im Ordner „abgelehnt“.",
    ]
    message = _message(
        settings, to, f"Nicht veröffentlicht – bitte korrigieren: {file}", "\n".join(lines)
    )
    for path in reports:
        subtype = "html" if path.name.endswith(".html") else "json"
        maintype = "text" if subtype == "html" else "application"
        message.add_attachment(
            path.read_bytes(), maintype=maintype, subtype=subtype, filename=path.name
        )
    return message


def german_date(moment: dt.datetime) -> str:
    """``14.03.2025``: the date in Düsseldorf of ``moment``."""
    return moment.astimezone(_BERLIN).strftime("%d.%m.%Y")


def compose_overdue(
    settings: MailSettings,
    *,
    to: str,
    dataset_title: str,
    frequency_label: str,
    last_change: dt.datetime,
    due: dt.datetime,
    link: str | None,
) -> EmailMessage:
    """Mail to the department: the dataset's next update is overdue."""
    lines = [
        "Guten Tag,",
        "",
        f"für den Datensatz „{dataset_title}“ ist auf dem Open-Data-Portal die "
        f"Aktualisierungshäufigkeit „{frequency_label}“ angegeben. Die letzte inhaltliche "
        f"Aktualisierung wurde am {german_date(last_change)} veröffentlicht; die nächste war "
        f"am {german_date(due)} fällig und ist bisher nicht eingegangen.",
        "",
        "Bitte liefern Sie die aktuellen Daten wie gewohnt, zum Beispiel über Ihren Abgabeordner.",
        "",
        "Falls sich die Daten nicht geändert haben oder die Angabe nicht mehr stimmt, "
        "antworten Sie bitte kurz auf diese E-Mail; dann passen wir die "
        "Aktualisierungshäufigkeit an.",
    ]
    if link:
        lines += ["", f"Zum Datensatz: {link}"]
    return _message(settings, to, f"Aktualisierung überfällig: {dataset_title}", "\n".join(lines))


def compose_team_alert(settings: MailSettings, *, subject: str, text: str) -> EmailMessage | None:
    """Mail to the open data team; None when no team address is configured."""
    if not settings.team:
        return None
    return _message(settings, settings.team, f"[Open-Data-Pipeline] {subject}", text)


def send(message: EmailMessage, settings: MailSettings) -> bool:
    """Deliver ``message``; False (and a log line) when mail is off or delivery fails."""
    if not settings.enabled:
        log.info("mail disabled (HARVEST_SMTP_HOST unset): not sent: %s", message["Subject"])
        return False
    assert settings.host is not None
    try:
        smtp: smtplib.SMTP
        if settings.use_ssl:
            smtp = smtplib.SMTP_SSL(
                settings.host,
                settings.port,
                timeout=settings.timeout,
                context=ssl.create_default_context(),
            )
        else:
            smtp = smtplib.SMTP(settings.host, settings.port, timeout=settings.timeout)
        with smtp:
            if settings.starttls:
                smtp.starttls(context=ssl.create_default_context())
            if settings.user:
                smtp.login(settings.user, settings.password or "")
            smtp.send_message(message)
    except (OSError, smtplib.SMTPException) as exc:
        log.warning("mail to %s not sent (%s): %s", message["To"], type(exc).__name__, exc)
        return False
    log.info("mail sent to %s: %s", message["To"], message["Subject"])
    return True


@dataclass
class Notifier:
    """Composes and sends; remembers who was notified (for CLI output and run notes)."""

    settings: MailSettings = field(default_factory=MailSettings.from_env)
    enabled: bool = True
    sent: list[str] = field(default_factory=list)

    def deliver(self, message: EmailMessage | None) -> list[str]:
        """Send ``message`` unless notifications are off; returns the recipients reached."""
        if message is None or not self.enabled:
            return []
        if send(message, self.settings):
            recipient = str(message["To"])
            self.sent.append(recipient)
            return [recipient]
        return []

    def team(self, subject: str, text: str) -> list[str]:
        """Alert the team (no-op without team address)."""
        return self.deliver(compose_team_alert(self.settings, subject=subject, text=text))
