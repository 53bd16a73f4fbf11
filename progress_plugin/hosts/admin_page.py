"""The HTML of the ``admin_pages`` hook's page: the clinic's tag vocabulary as a table, in one language."""
from __future__ import annotations

import html

from progress_plugin import lang
from progress_plugin.core.vocabulary import Vocabulary, category_label, direction_label
from progress_plugin.core.words import N_, Words

#: What the page says for a tag's audience, role and status.
AUDIENCE_NAMES = {"all": N_("Everyone"), "therapist": N_("Therapist only")}
ROLE_NAMES = {"review": N_("Review"), "strain": N_("Strain"), "repair": N_("Repair")}
STATUS_NAMES = {"active": N_("Active"), "retired": N_("Retired")}
MISSING = "—"


def _e(text) -> str:
    return html.escape(str(text), quote=True)


def _say(words: Words, names: dict, code) -> str:
    return words(names[code]) if code in names else (code or "")


def vocabulary_table(vocabulary: Vocabulary, words: Words, fallback: str | None) -> str:
    """Every tag, with its label in each of the catalogs' languages (a dash where it has none: English is
    the base label unless the tag has its own), and the rest in ``words``' language; a description the tag
    lacks in that language is in ``fallback`` (the clinic's default language), else the base one."""
    head = ([f"<th>{_e(words(N_('Code')))}</th>"]
            + [f'<th lang="{code}">{_e(lang.NAMES[code])}</th>' for code in lang.LANGUAGES]
            + [f"<th>{_e(words(h))}</th>" for h in (N_("Category"), N_("Direction"), N_("Audience"), N_("Role"),
                                                    N_("Status"), N_("Description"))])
    rows = []
    for t in vocabulary.tags:
        own = {lang.DEFAULT_LANGUAGE: t.label, **dict(t.labels)}
        labels = "".join(f'<td lang="{code}" dir="auto">{_e(own[code])}</td>' if code in own else f"<td>{MISSING}</td>"
                         for code in lang.LANGUAGES)
        rows.append(f"<tr><td><code>{_e(t.code)}</code></td>{labels}"
                    f"<td>{_e(category_label(t.category, words))}</td><td>{_e(direction_label(t.direction, words))}</td>"
                    f"<td>{_e(_say(words, AUDIENCE_NAMES, t.audience))}</td><td>{_e(_say(words, ROLE_NAMES, t.role))}</td>"
                    f"<td>{_e(_say(words, STATUS_NAMES, t.status))}</td>"
                    f'<td dir="auto">{_e(t.description_in(words.code, fallback))}</td></tr>')
    intro = words(N_("Vocabulary version {version}. Codes never change; an edit creates a new version, and retired "
                     "tags keep their meaning on old notes."), version=words.number(vocabulary.version))
    return (f'<section class="progress-plugin-admin" lang="{_e(words.code)}"><p>{_e(intro)}</p><table><thead><tr>'
            f"{''.join(head)}</tr></thead><tbody>{''.join(rows)}</tbody></table></section>")
