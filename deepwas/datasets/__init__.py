"""Embedded data sets."""
