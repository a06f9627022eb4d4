"""Fetching the raw inputs of the data pipeline (dumps, listings) reliably and verifiably."""
