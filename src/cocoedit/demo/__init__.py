"""The built-in demo: a synthetic editing task, a tiny editor, three RL arms and a report."""
