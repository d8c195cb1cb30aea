"""cocoedit: content-consistent RL post-training of instruction-based image editors."""

__version__ = "0.1.0.dev0"
