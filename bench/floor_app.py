"""The ingest benchmark's floor: a bare Flask endpoint at the receiver's URL that answers 204.

Served by the same gunicorn settings and driven by the same load generator as the receiver,
so the difference is what the receiver itself does (signature, schema, store, inbox).
"""
from flask import Flask

app = Flask("floor")


@app.post("/webhooks/<clinic>")
def receive(clinic: str):
    return "", 204
