"""Seeing and rating edits: the side-by-side viewer, the rating app, its store and the aggregation."""
