"""Napkin GPT's dashboard, its command line and the builder of the static site."""
