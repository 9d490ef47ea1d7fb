"""FileMailer writes real .eml files: parseable, atomic, idempotent per message id, and logs the link (token redacted)."""

from __future__ import annotations

import html
import logging
from email import policy
from email.message import EmailMessage as MimeMessage
from email.parser import BytesParser
from pathlib import Path

import pytest

from videoflix.adapters.mail.file_outbox import FileMailer
from videoflix.domain.accounts.model import EmailMessage
from videoflix.domain.accounts.ports import DeliveryError

FROM = "Videoflix <noreply@videoflix.local>"
LINK = "http://127.0.0.1:5500/pages/auth/activate.html?uid=MTI&token=" + "Zx9-_" * 10


def message(subject: str = "Confirm your email") -> EmailMessage:
    return EmailMessage(
        to="user@example.com",
        subject=subject,
        text=f"Welcome!\nConfirm your email:\n{LINK}\n\nOther: https://example.com/later\n",
        html=f'<p><a href="{html.escape(LINK)}">Activate account</a></p>',
    )


def parse(path: Path) -> MimeMessage:
    parsed = BytesParser(policy=policy.default).parsebytes(path.read_bytes())
    assert isinstance(parsed, MimeMessage)
    return parsed


async def test_writes_a_parseable_multipart_eml_into_a_new_folder(tmp_path: Path) -> None:
    folder = tmp_path / "data" / "outbox"  # does not exist yet
    await FileMailer(folder, FROM).send(message(), message_id="outbox-7")

    assert [path.name for path in folder.iterdir()] == ["outbox-7.eml"]
    parsed = parse(folder / "outbox-7.eml")
    assert parsed["From"] == FROM
    assert parsed["To"] == "user@example.com"
    assert parsed["Subject"] == "Confirm your email"
    assert parsed["Message-ID"] == "<outbox-7@videoflix.local>"  # the id SMTP delivery would use
    plain, rich = parsed.get_body(("plain",)), parsed.get_body(("html",))
    assert plain is not None and rich is not None
    assert LINK in plain.get_content()
    assert html.escape(LINK) in rich.get_content()


async def test_sending_the_same_message_id_again_overwrites_the_file(tmp_path: Path) -> None:
    mailer = FileMailer(tmp_path, FROM)
    await mailer.send(message("first"), message_id="outbox-3")
    await mailer.send(message("second"), message_id="outbox-3")
    await mailer.send(message("other"), message_id="outbox-4")

    # No duplicate and no temporary file left behind.
    assert sorted(path.name for path in tmp_path.iterdir()) == ["outbox-3.eml", "outbox-4.eml"]
    assert parse(tmp_path / "outbox-3.eml")["Subject"] == "second"


async def test_a_hostile_message_id_stays_inside_the_folder(tmp_path: Path) -> None:
    folder = tmp_path / "outbox"
    await FileMailer(folder, FROM).send(message(), message_id="../../escape")

    [written] = list(folder.iterdir())
    assert written.suffix == ".eml" and "/" not in written.name
    assert not (tmp_path / "escape.eml").exists()


async def test_s25_logs_recipient_subject_path_and_the_first_link_without_its_token(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="videoflix.mail")
    await FileMailer(tmp_path, FROM).send(message(), message_id="outbox-9")

    [record] = [r for r in caplog.records if r.name == "videoflix.mail"]
    assert record.levelno == logging.INFO
    line = record.getMessage()
    assert "user@example.com" in line
    assert "Confirm your email" in line
    assert str(tmp_path / "outbox-9.eml") in line
    # The first link, not the later one; its one-time token stays in the file, out of the logs (S25).
    assert "link: http://127.0.0.1:5500/pages/auth/activate.html?uid=MTI&token=[redacted]" in line
    assert "Zx9-_" not in line
    assert "Zx9-_" in (tmp_path / "outbox-9.eml").read_text()
    assert "example.com/later" not in line


async def test_an_unwritable_folder_is_a_transient_error(tmp_path: Path) -> None:
    blocker = tmp_path / "outbox"
    blocker.write_text("a file where the folder should be")

    with pytest.raises(DeliveryError) as caught:
        await FileMailer(blocker, FROM).send(message(), message_id="outbox-1")

    assert caught.value.permanent is False
    assert blocker.read_text() == "a file where the folder should be"
