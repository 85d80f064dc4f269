"""Readers for summary statistics and LD files; allele alignment."""
