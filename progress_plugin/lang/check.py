"""Check message catalogs against the code: ``python -m progress_plugin.lang.check FRESH.pot [DIR DOMAIN]``.

``FRESH.pot`` is a template just extracted from the code (``scripts/translations check`` makes
one). ``DIR`` and ``DOMAIN`` name the catalogs to check: by default the plugin's
(``progress_plugin/lang/catalogs``, ``messages``); the example notes host keeps its own
(``examples/notes_host/translations``, ``notes_host``). Every problem is printed on its own line
and the exit status is 1 when there is any:

- the committed ``DOMAIN.pot`` lacks a string the code marks, or holds one it no longer marks;
- a language's ``DOMAIN.po`` lacks a string of the template, or (for any language but English,
  the source) leaves one untranslated or fuzzy;
- a translation's placeholders (``{name}``, ``%(name)s``) differ from the English ones;
- a compiled ``DOMAIN.mo`` is not what its ``DOMAIN.po`` compiles to.
"""
from __future__ import annotations

import io
import re
import sys
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

from progress_plugin.lang import CATALOGS, DEFAULT_LANGUAGE, DOMAIN, LANGUAGES

PLACEHOLDER = re.compile(r"\{[A-Za-z_][A-Za-z0-9_]*\}|%\([A-Za-z_][A-Za-z0-9_]*\)[sd]")


def _read(path: Path, locale: str | None = None):
    with open(path, "rb") as fh:
        return read_po(fh, locale=locale)


def _ids(catalog) -> set[str]:
    return {m.id if isinstance(m.id, str) else m.id[0] for m in catalog if m.id}


def placeholders(text: str) -> set[str]:
    return set(PLACEHOLDER.findall(text or ""))


def problems(fresh_pot: Path, catalogs: Path = CATALOGS, languages=LANGUAGES, domain: str = DOMAIN) -> list[str]:
    """Every way the ``domain`` catalogs under ``catalogs`` disagree with ``fresh_pot`` or with themselves."""
    out: list[str] = []
    fresh = _ids(_read(fresh_pot))
    template = _read(catalogs / f"{domain}.pot")
    committed = _ids(template)
    out += [f"{domain}.pot: missing {m!r}; run scripts/translations" for m in sorted(fresh - committed)]
    out += [f"{domain}.pot: {m!r} is no longer marked in the code; run scripts/translations"
            for m in sorted(committed - fresh)]
    for lang in languages:
        po_path = catalogs / lang / "LC_MESSAGES" / f"{domain}.po"
        if not po_path.exists():
            out.append(f"{lang}: no catalog at {po_path}")
            continue
        catalog = _read(po_path, lang)
        where = f"{lang}/{domain}.po"
        by_id = {(m.id if isinstance(m.id, str) else m.id[0]): m for m in catalog if m.id}
        for key in sorted(committed):
            message = by_id.get(key)
            if message is None:
                out.append(f"{where}: missing {key!r}")
                continue
            english = [message.id] if isinstance(message.id, str) else list(message.id)
            strings = [message.string] if isinstance(message.string, str) else list(message.string)
            if message.fuzzy:
                out.append(f"{where}: {key!r} is marked fuzzy")
            if lang == DEFAULT_LANGUAGE and not any(strings):
                continue                        # the source language: an empty msgstr says the msgid
            if not all(strings):
                out.append(f"{where}: {key!r} is not translated")
                continue
            want = set().union(*(placeholders(e) for e in english))
            for s in strings:
                if placeholders(s) != want:
                    out.append(f"{where}: {key!r} has placeholders {sorted(placeholders(s))}, "
                               f"the English has {sorted(want)}")
        mo_path = po_path.with_suffix(".mo")
        buffer = io.BytesIO()
        write_mo(buffer, catalog)
        if not mo_path.exists() or mo_path.read_bytes() != buffer.getvalue():
            out.append(f"{lang}/{domain}.mo is not compiled from {where}; run scripts/translations")
    return out


def main(argv=None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) not in (1, 3):
        print("usage: python -m progress_plugin.lang.check FRESH.pot [CATALOGS_DIR DOMAIN]", file=sys.stderr)
        return 2
    found = problems(Path(args[0])) if len(args) == 1 else problems(Path(args[0]), Path(args[1]), domain=args[2])
    for line in found:
        print(line)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
