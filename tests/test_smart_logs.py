"""No token, code, state or launch value in the log of a real `progress-plugin serve` (debug level, the
access log included) through a whole SMART launch at the EHR stand-in (tests/smart_ehr.py), a page and
sign-out: the values it issued are grepped, and the note's words."""
from __future__ import annotations

import base64
import hashlib
import hmac
import os
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import requests
from cryptography.fernet import Fernet

from progress_plugin.web.smart.session import _FORM_LABEL

from tests.pg import free_port
from tests.smart_ehr import NOTE_TEXT
from tests.smart_setup import register_app, write_config


def test_a_served_launch_logs_no_secret(tmp_path, smart_ehr):
    register_app(smart_ehr)
    patient = smart_ehr.seed_patient()
    note = smart_ehr.seed_note(patient)
    config = write_config(tmp_path, smart_ehr.fhir_base, more="[worker]\nembedded = false\n")
    port, log = free_port(), tmp_path / "serve.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PROGRESS_PLUGIN")}
    env["PROGRESS_PLUGIN_SMART_KEY"] = Fernet.generate_key().decode()
    exe = Path(sys.executable).with_name("progress-plugin")
    with open(log, "wb") as out:
        proc = subprocess.Popen([str(exe), "--config", str(config), "serve", "--port", str(port), "--log-level",
                                 "debug"], cwd=tmp_path, env=env, stdout=out, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                if requests.get(base + "/healthz", timeout=1).status_code == 200:
                    break
            except requests.RequestException:
                time.sleep(0.1)
        launch = smart_ehr.launch(patient, document_reference=note)
        started = requests.get(f"{base}/smart/launch", params={"iss": smart_ehr.fhir_base, "launch": launch},
                               allow_redirects=False, timeout=10)
        assert started.status_code == 302
        back = requests.get(started.headers["Location"], allow_redirects=False, timeout=10).headers["Location"]
        state = parse_qs(urlsplit(back).query)["state"][0]
        done = requests.get(base + urlsplit(back).path + "?" + urlsplit(back).query, allow_redirects=False, timeout=10)
        assert done.status_code == 303 and done.headers["Location"] == "/smart/app/"
        cookie = done.headers["Set-Cookie"].split(";")[0].split("=", 1)[1]
        headers = {"Cookie": f"pp_smart={cookie}"}
        assert requests.get(base + "/smart/app/", headers=headers, timeout=10).status_code == 200  # the app opens
        form = hmac.new(cookie.encode(), _FORM_LABEL, hashlib.sha256).hexdigest()
        assert requests.post(base + "/smart/logout", data={"form_token": form}, headers=headers,
                             timeout=10).status_code == 200
        replay = requests.get(base + urlsplit(back).path + "?" + urlsplit(back).query, timeout=10)
        assert replay.status_code == 400
    finally:
        proc.terminate()
        proc.wait(10)
    text = log.read_text()
    assert "smart launch ok ehr=ehr" in text and "GET /smart/callback HTTP" in text     # the log is there
    issued = smart_ehr.issued_tokens()
    assert len(issued) >= 4                     # the code, the access, refresh and id tokens
    planted = set(issued) | {launch, state, cookie, form}
    sent = smart_ehr.token_posts[0]["form"]
    planted.add(sent["code_verifier"])
    assert len(planted) >= 9
    found = [p for p in planted if p in text]
    assert not found, "secrets in the service log"
    assert [r["status"] for r in smart_ehr.requests_for(patient)] == [200]     # the note was read with the token
    assert NOTE_TEXT not in text and base64.b64encode(NOTE_TEXT.encode()).decode() not in text
