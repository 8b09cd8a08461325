"""abtui: a terminal console for A/B-testing deep-learning training runs."""

__version__ = "0.1.0"
