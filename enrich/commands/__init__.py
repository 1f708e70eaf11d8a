"""CLI sub-commands, one module per noun."""
