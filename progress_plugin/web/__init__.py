"""The web layer: the Flask app and its blueprints (webhooks, admin API, panel, Canvas, CDS Hooks)."""
