"""`tipbot eval` (placeholder until evaluation lands)."""

import click


@click.group(name="eval")
def eval_group():
    """Evaluate retrieval (not built yet)."""
