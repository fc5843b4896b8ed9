"""Transcripts: the model, versions and review, diffs and doubtful words."""
