"""Test fixtures that users' own tests can import: tiny random-weight editing pipelines built
offline, a scripted OpenAI-compatible judge server on 127.0.0.1, small generated benchmarks and
training sets from real photos, a tiny SAM, and tiny trainer set-ups.

Nothing in the library imports this package; it may import anything in the library.
"""
