"""challenge: independent validation of fraud-detection models."""

__version__ = "0.1.0"
