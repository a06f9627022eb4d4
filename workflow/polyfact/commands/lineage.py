"""`polyfact lineage PATH`: print the chain of jobs from an artifact back to its sources."""

from __future__ import annotations

import argparse
import json


def lineage(args: argparse.Namespace) -> None:
    from polyfact.provenance import lineage as walk
    from polyfact.provenance import render_lineage

    tree = walk(args.path, args.provenance_dir)
    print(json.dumps(tree, indent=2, ensure_ascii=False) if args.json else render_lineage(tree), end="")
