"""The pages benchmark's floor: a bare Flask page of a given size, ``GET /floor/<bytes>``.

Served by the same gunicorn settings and driven by the same load as the pages, so the difference
is what a page itself does (session, store reads, templates, its language)."""
from flask import Flask, Response

app = Flask("floor-pages")


@app.get("/floor/<int:size>")
def page(size: int):
    head = "<!doctype html><html lang=en><head><meta charset=utf-8><title>floor</title></head><body><p>"
    return Response(head + "x" * max(0, size - len(head) - 18) + "</p></body></html>", mimetype="text/html")
