"""DPI Stack: digital public infrastructure in one open-source Python platform."""

__version__ = "0.1.0"
