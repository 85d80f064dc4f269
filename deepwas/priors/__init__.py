"""Torch prior modules mapping variant features to log prior variances (no LD here)."""
