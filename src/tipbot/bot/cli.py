"""`tipbot serve` (placeholder until the bot lands)."""

import click


@click.command()
def serve():
    """Run the Discord bot (not built yet)."""
    raise click.ClickException("the Discord bot is not built yet")
