"""The catalogues: every message of the portal is translated in each language, with the same
placeholders, and each catalogue compiles."""

from __future__ import annotations

import re
from importlib import resources

import pytest
from babel.messages.pofile import read_po

from dpistack.web import i18n

LOCALE = resources.files("dpistack.web") / "locale"


def placeholders(text: str) -> set[str]:
    return set(re.findall(r"\{[a-z_]+\}|%\([a-z_]+\)d", text))


@pytest.mark.parametrize("lang", [code for code in i18n.LANGUAGES if code != i18n.DEFAULT])
def test_catalogue_is_complete(lang):
    template = read_po((LOCALE / "messages.pot").open("rb"))
    catalogue = read_po((LOCALE / lang / "LC_MESSAGES" / "messages.po").open("rb"), locale=lang)
    for message in template:
        if not message.id:
            continue
        translated = catalogue.get(message.id)
        assert translated is not None and translated.string and not translated.fuzzy, f"{lang}: {message.id!r}"
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        strings = translated.string if isinstance(translated.string, tuple) else (translated.string,)
        assert all(strings), f"{lang}: {message.id!r} has an empty plural form"
        if not isinstance(message.id, tuple):
            assert placeholders(strings[0]) == placeholders(ids[0]), f"{lang}: {message.id!r}"
    i18n.activate(lang)
    assert i18n.gettext("Public services portal") != "Public services portal"
    i18n.activate(i18n.DEFAULT)


def test_choice_of_language():
    assert i18n.choose("ar", None, None) == i18n.Choice("ar", None, True)
    assert i18n.choose("xx", "fr", None) == i18n.Choice("fr", "xx", False)
    assert i18n.choose(None, None, "es-MX,es;q=0.8,en;q=0.5").lang == "es"
    assert i18n.choose(None, None, "de-DE") == i18n.Choice("en", None, False)
