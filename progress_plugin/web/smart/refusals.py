"""The SMART launch's own pages: each refusal says what happened and what to do, in plain words
(English and Hindi from the catalogs), with its status, and names nothing from the URL.

Every answer of the launch side carries a strict CSP whose ``frame-ancestors`` are the EHR's
(``[[smart.ehrs]] frame_ancestors``; ``'self'`` when it lists none), so the EHR can show the
app in its frame and no other site can. A page whose EHR is not known yet (an unknown ``state``)
allows the frames of every configured EHR. :func:`csp` is for the app's pages too.
"""
from __future__ import annotations

from flask import current_app, g, render_template

from progress_plugin.core.words import N_
from progress_plugin.web import i18n

CSP = ("default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; base-uri 'none'; "
       "frame-ancestors {}")

AGAIN = N_("Open the app again from the patient's chart.")
NOTHING = N_("Nothing was opened.")

#: Each page: (status, code for the logs and the audit, title, sentences).
NOT_SET_UP = (404, "not-set-up", N_("The app is not set up here"),
              (N_("This service has no notes system set up to open the app."),
               N_("Ask your administrator.")))
BAD_LAUNCH = (400, "bad-launch", N_("This launch could not be read"),
              (N_("The chart's request to open the app was incomplete."), NOTHING, AGAIN))
NOT_ALLOWED = (403, "iss-not-allowed", N_("This notes system is not on the app's list"),
               (N_("The app was opened from a notes system it has not been set up to trust."), NOTHING,
                N_("If it should be on the list, ask your administrator to add it.")))
NO_STANDALONE = (404, "no-standalone", N_("Signing in here is not turned on"),
                 (N_("For this notes system the app opens only from a patient's chart."), AGAIN))
EHR_DOWN = (502, "ehr-unreachable", N_("Your notes system could not be reached"),
            (N_("The app could not reach your notes system to sign you in."), NOTHING,
             N_("Try again in a few minutes.")))
STATE_UNKNOWN = (400, "state-unknown", N_("This sign-in did not start here"),
                 (N_("The answer from your notes system does not match a sign-in this app started."), NOTHING,
                  AGAIN))
STATE_USED = (400, "state-used", N_("This sign-in was already used"),
              (N_("Each sign-in works once."), NOTHING, AGAIN))
STATE_EXPIRED = (400, "state-expired", N_("This sign-in took too long"),
                 (N_("A sign-in has to finish within a few minutes."), NOTHING, AGAIN))
DENIED = (403, "access-denied", N_("The app was not allowed to open"),
          (N_("Your notes system says the app was not allowed this time."), NOTHING,
           N_("If that was a mistake, open the app from the chart again and allow it.")))
TOKEN_REFUSED = (400, "token-refused", N_("Your notes system refused this sign-in"),
                 (N_("It may have been used already, or have taken too long."), NOTHING, AGAIN))
BAD_TOKEN = (502, "token-unverified", N_("This sign-in could not be checked"),
             (N_("The answer from your notes system could not be verified."), NOTHING,
              N_("Open the app from the chart again; if this keeps happening, tell your administrator.")))
NO_PATIENT = (403, "no-patient", N_("No patient was chosen"),
              (N_("The app works for one patient at a time, and your notes system did not say which."), NOTHING,
               AGAIN))
WRONG_PATIENT = (403, "wrong-patient", N_("This note is not in this patient's record"),
                 (N_("The note the app was opened with belongs to another record."), NOTHING, AGAIN))
NO_SESSION = (401, "no-session", N_("Open the app from the chart again"),
              (N_("Your time in the app has ended, or it was opened in another browser."),
               N_("What you saved is kept."), AGAIN))
SESSION_ENDED = (401, "session-ended", N_("Your sign-in has ended"),
                 (N_("Your notes system no longer accepts this sign-in."), N_("What you saved is kept."), AGAIN))
FORBIDDEN = (403, "ehr-forbidden", N_("Your notes system did not allow this"),
             (N_("The app's access in your notes system does not cover this."),
              N_("Ask your administrator which permissions the app has.")))
BAD_FORM = (400, "bad-form", N_("This form had expired"),
            (N_("Nothing was changed. Go back and try again."),))
SIGNED_OUT = (200, "signed-out", N_("You have left the app"),
              (N_("Your sign-in to the app has ended on this service."),
               N_("Open it again from the chart whenever you need it.")))


def frame_ancestors(ehr=None) -> str:
    """The ``frame-ancestors`` sources for ``ehr`` (all configured EHRs' when None)."""
    svc = current_app.extensions["progress_plugin"]
    smart = svc.config.smart if svc.config is not None else None
    if ehr is not None:
        sources = list(ehr.frame_ancestors)
    else:
        sources = sorted({s for e in (smart.ehrs.values() if smart else ()) for s in e.frame_ancestors})
    return " ".join(sources) or "'self'"


def csp(ehr=None) -> str:
    """The Content-Security-Policy of a SMART page shown in ``ehr``'s frame."""
    return CSP.format(frame_ancestors(ehr))


def private(response, ehr=None):
    """``response`` with the SMART pages' headers: CSP for ``ehr``'s frame, no caching, no Referer."""
    response.headers["Content-Security-Policy"] = csp(ehr)
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.vary.add("Cookie")
    return response


def page(what: tuple, ehr=None, clinic: str | None = None):
    """The page for ``what`` (one of the tuples above), in the request's language (else the clinic's)."""
    status, code, title, text = what
    if clinic:
        g.pp_clinic = clinic
    words = i18n.words(clinic, clinic_default=clinic is not None)
    body = render_template("smart/refusal.html", title=title, text=text, status=status, code=code,
                           lang_code=words.code, lang_dir=words.direction)
    response = current_app.response_class(body, status=status, mimetype="text/html")
    return private(i18n.speaks(response, words), ehr)
