"""The built-in demo: a synthetic editing task, a tiny editor, four RL arms and a report."""
