"""Answer → what a person reads: terminal, JSON, Discord embeds. Pure functions, no I/O."""
