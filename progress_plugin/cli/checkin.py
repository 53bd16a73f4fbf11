"""``progress-plugin checkin``: the client's check-in links (make one, list them, revoke one)."""
from __future__ import annotations

import click

from progress_plugin.cli.context import Context, Group, now, pass_ctx
from progress_plugin.cli.vocab import ENV_CLINIC, TEXT, actor_option
from progress_plugin.service import checkin_links, checkin_settings
from progress_plugin.store import checkins


@click.group(cls=Group)
def checkin():
    """Check-in links: a client opens one on their phone to rate their goals and the last session."""


@checkin.command()
@click.option("--clinic", required=True, envvar=ENV_CLINIC, metavar="ID", type=TEXT, help="The clinic.")
@click.option("--client", "client_id", required=True, metavar="ID", type=TEXT, help="The client the link is for.")
@click.option("--expires", metavar="SPAN", type=TEXT,
              help="How long it lasts: 7d, 12h or 30m (default: [checkin] link_days, else 7 days).")
@click.option("--qr", "qr_file", type=click.Path(dir_okay=False, writable=True),
              help="Also write the link's QR code to this SVG file (needs [checkin] public_url).")
@actor_option
@pass_ctx
def link(obj: Context, clinic, client_id, expires, qr_file, actor):
    """Make a link for one client and print it once. Only its hash is stored.

    The link starts with ``[checkin] public_url`` from the config file; without it, only the path
    (/c/...) is printed, to put after the address clients reach the service at.
    """
    config = checkin_settings.from_raw(obj.config)
    made = checkin_links.make_link(obj.store, clinic, client_id, now(),
                                   checkin_links.parse_expires(expires, config.link_days), config.public_url, actor)
    click.echo(f"link id {made['link_id']} for client {client_id}, expires {made['expires_at']}. "
               "It is shown only now:", err=True)
    click.echo(made["url"])
    if qr_file:
        if made["qr_svg"] is None:
            raise click.UsageError("a QR code needs [checkin] public_url in the config file")
        with open(qr_file, "w", encoding="utf-8") as f:
            f.write(made["qr_svg"])
        click.echo(f"QR code written to {qr_file}", err=True)


@checkin.command("list")
@click.option("--clinic", envvar=ENV_CLINIC, metavar="ID", type=TEXT, help="Only this clinic's links.")
@click.option("--client", "client_id", metavar="ID", type=TEXT, help="Only this client's links.")
@pass_ctx
def list_links(obj: Context, clinic, client_id):
    """List links: id, clinic, client, status, expiry, last opened. Never a token."""
    moment = now()
    for x in checkins.list_links(obj.store, clinic, client_id):
        used = f"opened {x.used_at:%Y-%m-%d %H:%M}Z" if x.used_at else "never opened"
        click.echo(f"{x.link_id}  {x.clinic_id:<16} {x.client_id:<16} {x.status(moment):<8} "
                   f"expires {x.expires_at:%Y-%m-%d %H:%M}Z  {used}")


@checkin.command()
@click.argument("link_id", type=TEXT)
@click.option("--clinic", envvar=ENV_CLINIC, metavar="ID", type=TEXT, help="Only if the link belongs to this clinic.")
@actor_option
@pass_ctx
def revoke(obj: Context, link_id, clinic, actor):
    """Revoke LINK_ID (from `checkin list`): it stops opening at once, and its sessions end."""
    checkins.revoke_link(obj.store, link_id, now(), actor, clinic)
    click.echo(f"revoked {link_id}")
