"""The foundation every other package stands on: image and mask files, mask operations, masked
metrics, HTML/plot helpers for reports, YAML settings, the error base class."""
