"""A small notes host (Flask) that gets its progress features from plugins, through the host spec.

It publishes the spec, discovers plugins by their entry point group and never imports a
plugin itself. There is no login: the example runs as one therapist.

The plugin's admin console is mounted in this app at ``/progress-admin/``, with the function the
``admin_pages`` hook names (``data["console"]["mount"]``). A real host passes its own login's
signed-in user (clinic and role); this example, having no login, treats its one user as the
clinic's admin. Do not copy that part: anyone who can open the example can change the tags.
"""
from __future__ import annotations

import pkgutil
import uuid
from datetime import datetime, timezone

import pluggy
import segno
from flask import Flask, abort, flash, redirect, render_template, request, url_for
from markupsafe import Markup
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from progress_plugin import hookspecs

from examples.notes_host import forms, i18n
from examples.notes_host.db import NotesDB

THERAPIST = "therapist-1"
CONSOLE_PREFIX = "/progress-admin"
#: Each note type: its name, and the link that starts one.
NOTE_TYPES = {"progress-note": (_l("Progress note"), _l("New progress note")),
              "psychotherapy-note": (_l("Psychotherapy note"), _l("New psychotherapy note"))}


def plugin_manager(plugin_store_url: str | None) -> pluggy.PluginManager:
    """The host's plugin manager: the spec, the installed plugins, their settings."""
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    pm.load_setuptools_entrypoints(hookspecs.ENTRY_POINT_GROUP)
    pm.check_pending()
    config = {"progress_plugin": {"store_url": plugin_store_url}} if plugin_store_url else {}
    pm.hook.configure(config=config)
    return pm


def mount_console(app: Flask, pm: pluggy.PluginManager, clinic_id: str, plugin_store_url: str | None) -> bool:
    """Mount each plugin's admin console that ``admin_pages`` offers (``data["console"]["mount"]``), behind
    this host's login. The example has none, so its one user is the clinic's admin: an example only."""
    def signed_in():
        return {"clinic_id": clinic_id, "role": "admin", "user": THERAPIST, "name": _("Example therapist")}

    for page in pm.hook.admin_pages(locale=None, clinic_id=clinic_id):
        offered = (page.get("data") or {}).get("console") or {}
        if offered.get("mount"):
            mount = pkgutil.resolve_name(offered["mount"])
            mount(app, principal=signed_in, store=plugin_store_url, url_prefix=CONSOLE_PREFIX, home_url="/admin")
            return True
    return False


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def today_at() -> str:
    """The session's default: today, at the current hour and minute (the host's local time)."""
    return datetime.now().strftime("%Y-%m-%dT%H:%M")


def checkin_shown(made: dict, host_url: str) -> dict:
    """The ``checkin_link`` hook's answer as the page shows it: the link made absolute and its QR code.

    Without a public URL in the plugin's config the hook gives the path alone (``/c/<token>``) and
    no QR code: the example puts this host's own address before it, where a real host would put
    the address its clients reach the plugin's check-in pages at, and draws the code itself."""
    url = made["url"]
    if url.startswith("/"):
        url = host_url.rstrip("/") + url
    svg = made.get("qr_svg") or segno.make(url, error="m").svg_inline(
        scale=4, border=2, light="#fff", svgclass="qr", omitsize=True, title=_("QR code of the check-in link"))
    return {"url": url, "qr_svg": Markup(svg), "expires_at": made["expires_at"]}


def create_host_app(db_path: str, plugin_store_url: str | None = None, clinic_id: str = "example-clinic",
                    pm: pluggy.PluginManager | None = None, language: str = i18n.DEFAULT_LANGUAGE) -> Flask:
    """The host's Flask app. ``language`` is the clinic's default language (``en`` or ``hi``),
    used when neither ``?lang=`` nor the browser's ``Accept-Language`` names one the host speaks."""
    app = Flask(__name__)
    app.config["SECRET_KEY"] = uuid.uuid4().hex        # flash messages only; a new key per start is fine
    i18n.install(app, language)
    # A person's words in a <title> (no elements there): isolated for bidi; in the body, <bdi>.
    app.jinja_env.filters["isolate"] = lambda text: f"\u2068{text}\u2069"
    app.jinja_env.globals["shown_when"] = forms.shown_when
    db = NotesDB(db_path)
    pm = pm or plugin_manager(plugin_store_url)
    hook = pm.hook
    locale = i18n.language          # every hook is asked in the page's language
    app.extensions["notes_host"] = {"db": db, "pm": pm, "clinic_id": clinic_id,
                                    "console": mount_console(app, pm, clinic_id, plugin_store_url)}

    def client_or_404(client_id):
        client = db.client(client_id)
        if client is None:
            abort(404)
        return client

    def pickers(client_id, note_type):
        return hook.note_fields(locale=locale(), clinic_id=clinic_id, client_id=client_id, note_type=note_type)

    def labels(notes) -> dict[tuple[str, int], dict]:
        """What each note's tags meant when the note was written, by (code, vocabulary version):
        a retired tag keeps its label, a renamed one the label it had then (as the panel shows)."""
        pairs = sorted({(t["code"], n["vocabulary_version"]) for n in notes if n["vocabulary_version"]
                        for t in n["tags"]})
        found = hook.tag_labels(locale=locale(), clinic_id=clinic_id,
                                pairs=[{"code": c, "version": v} for c, v in pairs])
        return {(x["code"], x["version"]): x for x in (found or {}).get("labels", []) if x["found"]}

    def remember_version(note_id, results) -> None:
        for result in results:
            for tag in result.get("tags") or ():
                db.set_vocabulary_version(note_id, tag["vocabulary_version"])
                return

    @app.get("/")
    def clients():
        return render_template("clients.html", clients=db.clients())

    @app.post("/clients")
    def add_client():
        name = (request.form.get("name") or "").strip()
        if not name:
            flash(_("A client needs a name."))
            return redirect(url_for("clients"))
        return redirect(url_for("client", client_id=db.add_client(name)))

    def client_page(client_id, checkin=None):
        person = client_or_404(client_id)
        panels = hook.chart_panels(locale=locale(), clinic_id=clinic_id, client_id=client_id, audience="therapist")
        notes = db.notes(client_id)
        return render_template("client.html", client=person, notes=notes, panels=panels,
                               labels=labels(notes), note_types=NOTE_TYPES, checkin=checkin)

    @app.get("/clients/<client_id>")
    def client(client_id):
        return client_page(client_id)

    @app.route("/clients/<client_id>/checkin-link", methods=["GET", "POST"])
    def checkin_link(client_id):
        """A new check-in link for the client, shown once on their page (never kept by the host)."""
        client_or_404(client_id)
        if request.method == "GET":          # e.g. the language switch on the page that showed a link
            return redirect(url_for("client", client_id=client_id))
        try:
            made = hook.checkin_link(locale=locale(), clinic_id=clinic_id, client_id=client_id, expires=None)
        except Exception as exc:             # the plugin's NotFound or ValidationError; the host never imports it
            flash(_("No check-in link yet: save the intake first.") if type(exc).__name__ == "NotFound"
                  else _("The check-in link could not be made."))
            return redirect(url_for("client", client_id=client_id))
        if not made:
            flash(_("No plugin offers check-in links."))
            return redirect(url_for("client", client_id=client_id))
        response = app.make_response(client_page(client_id, checkin_shown(made, request.host_url)))
        response.headers["Cache-Control"] = "no-store"       # the link opens the client's check-in
        return response

    @app.route("/clients/<client_id>/intake", methods=["GET", "POST"])
    def intake(client_id):
        person = client_or_404(client_id)
        sections = hook.intake_sections(locale=locale(), clinic_id=clinic_id, client_id=client_id,
                                        audience="therapist")
        if request.method == "GET":
            values = {s["id"]: forms.intake_form_values(s) for s in sections}
            return render_template("intake.html", client=person, sections=sections, values=values, errors={})
        values, errors, submitted = {}, {}, []
        for section in sections:
            answers, rows = forms.intake_answers(section, request.form)
            values[section["id"]] = request.form
            problems = hook.validate_intake(locale=locale(), clinic_id=clinic_id, client_id=client_id,
                                            section_id=section["id"], answers=answers)
            if problems:
                errors[section["id"]] = forms.intake_error_names(problems, rows)
            submitted.append((section, answers, rows))
        if errors:
            return render_template("intake.html", client=person, sections=sections, values=values,
                                   errors=errors), 422
        drafts = 0
        for section, answers, rows in submitted:
            result = hook.intake_submitted(locale=locale(), clinic_id=clinic_id, client_id=client_id,
                                           section_id=section["id"], answers=answers, author=THERAPIST, at=now_iso())
            if result and result.get("status") == "rejected":
                errors[section["id"]] = forms.intake_error_names(result["errors"], rows)
            elif result and result.get("agreed") is False:
                drafts += 1
        if errors:
            return render_template("intake.html", client=person, sections=sections, values=values,
                                   errors=errors), 422
        flash(_("Intake saved as a draft: not yet agreed. Tick both agreement boxes once you have agreed it "
                "together.") if drafts else _("Intake saved."))
        return redirect(url_for("client", client_id=client_id))

    @app.route("/clients/<client_id>/notes/new", methods=["GET", "POST"])
    def new_note(client_id):
        person = client_or_404(client_id)
        note_type = request.values.get("type", "progress-note")
        if note_type not in NOTE_TYPES:
            abort(400)
        found = pickers(client_id, note_type)
        picker = found[0] if found else None
        form = request.form if request.method == "POST" else {"session_at": today_at()}
        page = dict(client=person, picker=picker, note_type=note_type, type_label=NOTE_TYPES[note_type][0],
                    values=form, errors={}, labels=forms.note_error_labels(picker), raters=forms.RATERS)
        if request.method == "GET":
            return render_template("note.html", **page)

        errors: dict[str, list[str]] = {}
        session_at = (request.form.get("session_at") or "").strip()
        try:
            datetime.fromisoformat(session_at)
        except ValueError:
            errors["session_at"] = [_("Give the session's date and time.")]
        text = request.form.get("text") or ""
        tags = forms.note_tags(picker, request.form) if picker else []
        ratings, rated = forms.note_ratings(picker, request.form) if picker else ([], [])
        note = {"clinic_id": clinic_id, "client_id": client_id, "note_id": "note-" + uuid.uuid4().hex[:12],
                "note_type": note_type, "session_at": session_at, "author": THERAPIST, "at": now_iso(),
                "tags": tags, "ratings": ratings}
        if not errors:
            problems = forms.merge(hook.validate_note(locale=locale(), note=note))
            errors.update(forms.note_error_names(problems, tags, rated))
        if errors:
            return render_template("note.html", **{**page, "errors": errors}), 422

        db.save_note(note["note_id"], client_id, note_type, session_at, THERAPIST, text, tags, note["at"], ratings)
        saved = hook.note_saved(locale=locale(), note=note)
        remember_version(note["note_id"], saved)
        for result in saved:
            if result.get("status") == "refused":
                flash(_("Saved. Progress tags are not recorded for psychotherapy notes."))
            elif result.get("status") == "rejected":
                named = forms.note_error_names(result["errors"], tags, rated)
                problems = "; ".join(" ".join(m) for m in named.values())
                flash(_("Saved, but the progress tags were not recorded: {problems}").format(problems=problems))
            elif result.get("review_due"):
                flash(_("Saved. It may be time to look together at what progress means."))
            else:
                flash(_("Note saved."))
        return redirect(url_for("client", client_id=client_id))

    @app.post("/clients/<client_id>/notes/<note_id>/sign")
    def sign_note(client_id, note_id):
        client_or_404(client_id)
        stored = db.note(note_id)
        if stored is None or stored["client_id"] != client_id:
            abort(404)
        db.sign(note_id)
        note = {"clinic_id": clinic_id, "client_id": client_id, "note_id": note_id, "note_type": stored["note_type"],
                "session_at": stored["session_at"], "author": stored["author"], "at": now_iso(),
                "tags": stored["tags"], "ratings": stored["ratings"]}
        signed = hook.note_signed(locale=locale(), note=note)
        remember_version(note_id, signed)
        bad = [r for r in signed if r.get("status") == "rejected"]
        flash(_("Note signed.") if not bad else _("Note signed, but its progress tags were not recorded."))
        return redirect(url_for("client", client_id=client_id))

    @app.post("/clients/<client_id>/notes/<note_id>/delete")
    def delete_note(client_id, note_id):
        client_or_404(client_id)
        stored = db.note(note_id)
        if stored is None or stored["client_id"] != client_id:
            abort(404)
        db.delete(note_id)
        hook.note_deleted(locale=locale(), clinic_id=clinic_id, client_id=client_id, note_id=note_id, at=now_iso())
        flash(_("Note deleted."))
        return redirect(url_for("client", client_id=client_id))

    @app.get("/admin")
    def admin():
        console = url_for("console.home", clinic=clinic_id) if app.extensions["notes_host"]["console"] else None
        return render_template("admin.html", pages=hook.admin_pages(locale=locale(), clinic_id=clinic_id),
                               console=console)

    return app
