"""The `napkin-gpt` command (main.py) and its longer subcommands, one file each."""
