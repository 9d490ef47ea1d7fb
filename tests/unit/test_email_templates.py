"""The activation and reset emails: exact links, escaping, the legal footer, no external resources."""

from __future__ import annotations

import html
import re
from html.parser import HTMLParser

import pytest

from videoflix.adapters.mail.templates import TemplateEmailRenderer
from videoflix.domain.accounts.model import EmailMessage

LINK = "http://127.0.0.1:5500/pages/auth/activate.html?uid=MTI&token=3f9a-Zk_x"
OPERATOR = "Streamhaus GmbH"
ADDRESS = "Example Street 1, 12345 Example City"
KINDS = ["activation", "password_reset"]


class _Tags(HTMLParser):
    """Collects every tag with its attributes, as a mail client would see them (entities decoded)."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def tags(markup: str) -> list[tuple[str, dict[str, str | None]]]:
    parser = _Tags()
    parser.feed(markup)
    return parser.tags


def render(kind: str, renderer: TemplateEmailRenderer | None = None, **kwargs: str) -> EmailMessage:
    renderer = renderer or TemplateEmailRenderer(OPERATOR, ADDRESS)
    to = kwargs.get("to", "user@example.com")
    return getattr(renderer, kind)(to, kwargs.get("link", LINK))


@pytest.mark.parametrize(
    ("kind", "subject"), [("activation", "Confirm your email"), ("password_reset", "Reset your password")]
)
def test_subject_and_recipient(kind: str, subject: str) -> None:
    message = render(kind)
    assert message.subject == subject
    assert message.to == "user@example.com"


@pytest.mark.parametrize("kind", KINDS)
def test_the_exact_link_is_in_the_text_and_behind_every_html_anchor(kind: str) -> None:
    message = render(kind)

    assert LINK in message.text.splitlines()  # on a line of its own, so clients make it clickable
    hrefs = [attrs["href"] for tag, attrs in tags(message.html) if tag == "a"]
    assert hrefs == [LINK, LINK]  # the button and the copy-paste fallback
    assert html.escape(LINK) in message.html  # the fallback shows the link as text too (& escaped)


@pytest.mark.parametrize("kind", KINDS)
def test_every_interpolated_value_is_escaped_in_html(kind: str) -> None:
    renderer = TemplateEmailRenderer('<script>alert("op")</script>', "<b>Street</b> 1", sender_name="<i>V</i>")
    evil_to = "<script>alert(1)</script>@example.com"
    evil_link = 'http://127.0.0.1:5500/x?a="><script>alert(2)</script>'
    message = render(kind, renderer, to=evil_to, link=evil_link)

    assert "<script" not in message.html
    assert "<b>" not in message.html and "<i>" not in message.html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;@example.com" in message.html
    assert "&lt;script&gt;alert(&quot;op&quot;)&lt;/script&gt;" in message.html
    assert {attrs["href"] for tag, attrs in tags(message.html) if tag == "a"} == {evil_link}
    assert evil_to in message.text  # plain text is not HTML: shown as is


@pytest.mark.parametrize("kind", KINDS)
def test_footer_names_the_operator_and_explains_why_the_email_came(kind: str) -> None:
    message = render(kind)
    for body in (message.text, message.html):
        assert OPERATOR in body
        assert ADDRESS in body
        assert "You received this email because someone" in body
        assert "If it wasn't you, ignore it" in html.unescape(body)
    assert "registered with this address" in render("activation").text


def test_a_multiline_operator_address_keeps_its_lines_in_html() -> None:
    message = render("activation", TemplateEmailRenderer(OPERATOR, "Street 1\n12345 City"))
    assert "Street 1<br>12345 City" in message.html
    assert "Street 1\n12345 City" in message.text


@pytest.mark.parametrize("kind", KINDS)
def test_html_loads_nothing_external_and_links_only_to_the_link(kind: str) -> None:
    message = render(kind)
    urls = set(re.findall(r"https?://[^\s\"'<>]+", html.unescape(message.html)))
    assert urls == {LINK}
    names = {tag for tag, _ in tags(message.html)}
    assert not names & {"img", "link", "script", "style", "iframe", "object", "embed", "form"}
    assert "url(" not in message.html and "@import" not in message.html
    assert all("src" not in attrs for _, attrs in tags(message.html))


@pytest.mark.parametrize("kind", KINDS)
def test_layout_is_tables_with_inline_styles(kind: str) -> None:
    parsed = tags(render(kind).html)
    assert sum(1 for tag, _ in parsed if tag == "table") >= 2
    assert all("class" not in attrs for _, attrs in parsed)  # no stylesheet to refer to: styles are inline
    button = next(attrs for tag, attrs in parsed if tag == "a")
    assert "display:block" in (button.get("style") or "")


def test_validity_periods_are_mentioned() -> None:
    renderer = TemplateEmailRenderer(OPERATOR, ADDRESS)
    assert "valid for 24 hours" in renderer.activation("u@example.com", LINK).text
    assert "valid for 1 hour " in renderer.password_reset("u@example.com", LINK).text
    custom = TemplateEmailRenderer(OPERATOR, ADDRESS, activation_hours=48, reset_hours=2)
    for message in (custom.activation("u@example.com", LINK), custom.password_reset("u@example.com", LINK)):
        assert re.search(r"valid for (48|2) hours", message.text)
        assert re.search(r"valid for (48|2) hours", message.html)


@pytest.mark.parametrize("kind", KINDS)
def test_no_placeholder_is_left_unfilled(kind: str) -> None:
    message = render(kind)
    assert "$" not in message.text and "$" not in message.html
    assert "Videoflix" in message.text and "Videoflix" in message.html
