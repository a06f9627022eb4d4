"""Thin adapters from parsed CLI arguments to the library, one module per stage.

Kept out of `polyfact.cli` so a rule's code digest covers only its own stage's adapter.
"""

from __future__ import annotations


def set_threads(threads: int | None) -> None:
    """CPU threads for torch (a job's Snakemake `threads`); oversubscribing 2 cores is slow."""
    import torch

    if threads:
        torch.set_num_threads(threads)
