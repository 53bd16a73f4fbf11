"""The ``admin_pages`` hook's page: the clinic's tag vocabulary in one language, its data, and the way
to the console's editing pages.

Two columns, so that the fragment reads at 360 px in any host's stylesheet: the tag (its code, its
label in each language the plugin speaks, and what it is) and its description.
"""
from __future__ import annotations

import html
from urllib.parse import quote

from progress_plugin import lang
from progress_plugin.core.vocabulary import Tag, Vocabulary, category_label, direction_label
from progress_plugin.core.words import N_, Words

#: What the page says for a tag's audience, role and status.
AUDIENCE_NAMES = {"all": N_("Everyone"), "therapist": N_("Therapist only")}
ROLE_NAMES = {"review": N_("Review"), "strain": N_("Strain"), "repair": N_("Repair")}
STATUS_NAMES = {"active": N_("Active"), "retired": N_("Retired")}
MISSING = "—"
#: The function a Flask host calls to serve the console behind its own login, and where the service
#: (and a host that keeps the default ``url_prefix``) serves it.
CONSOLE_MOUNT = "progress_plugin.web.console:mount"
CONSOLE_PREFIX = "/admin"


def _e(text) -> str:
    return html.escape(str(text), quote=True)


def _say(words: Words, names: dict, code) -> str:
    return words(names[code]) if code in names else (code or "")


def _labels(tag: Tag) -> str:
    """The tag's label in each of the catalogs' languages, named by the language (English is the base
    label unless the tag has its own); a dash where it has none."""
    own = {lang.DEFAULT_LANGUAGE: tag.label, **dict(tag.labels)}
    return "".join(f'<br><span lang="{code}">{_e(lang.NAMES[code])}:</span> '
                   + (f'<span lang="{code}" dir="auto">{_e(own[code])}</span>' if code in own else MISSING)
                   for code in lang.LANGUAGES)


def _about(tag: Tag, words: Words) -> str:
    parts = [(N_("Category"), category_label(tag.category, words)), (N_("Direction"), direction_label(tag.direction, words)),
             (N_("Audience"), _say(words, AUDIENCE_NAMES, tag.audience))]
    if tag.role:
        parts.append((N_("Role"), _say(words, ROLE_NAMES, tag.role)))
    parts.append((N_("Status"), _say(words, STATUS_NAMES, tag.status)))
    return " · ".join(f"{_e(words(name))}: {_e(value)}" for name, value in parts)


def vocabulary_table(vocabulary: Vocabulary, words: Words, fallback: str | None) -> str:
    """Every tag with its labels in each language and what it is, in ``words``' language; a description
    the tag lacks in that language is in ``fallback`` (the clinic's default language), else the base one."""
    rows = "".join(f"<tr><td><code>{_e(t.code)}</code>{_labels(t)}<br><small>{_about(t, words)}</small></td>"
                   f'<td dir="auto">{_e(t.description_in(words.code, fallback))}</td></tr>' for t in vocabulary.tags)
    intro = words(N_("Vocabulary version {version}. Codes never change; an edit creates a new version, and retired "
                     "tags keep their meaning on old notes."), version=words.number(vocabulary.version))
    head = "".join(f"<th>{_e(words(name))}</th>" for name in (N_("Tag"), N_("Description")))
    return (f'<section class="progress-plugin-admin" lang="{_e(words.code)}"><p>{_e(intro)}</p><table><thead><tr>'
            f"{head}</tr></thead><tbody>{rows}</tbody></table></section>")


def page_data(vocabulary: Vocabulary, clinic_id: str) -> dict:
    """The page's data: the vocabulary's version and tags, and how to reach the console's editing pages."""
    return {"vocabulary_version": vocabulary.version, "tags": [t.as_dict() for t in vocabulary.tags],
            "console": {"mount": CONSOLE_MOUNT, "path": f"{CONSOLE_PREFIX}/clinics/{quote(clinic_id, safe='')}/"}}
