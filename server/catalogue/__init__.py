"""Talks, the programme, search and vocabulary."""
