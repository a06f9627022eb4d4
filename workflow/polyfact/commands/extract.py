"""`polyfact extract`: any source -> the facts table (selection shared by all sources)."""

from __future__ import annotations

import argparse
import logging
from collections import Counter
from typing import Any

log = logging.getLogger(__name__)


def extract(args: argparse.Namespace) -> None:
    from polyfact.facts import facts_frame, filter_min_label_langs, sample_round_robin, write_facts
    from polyfact.io import write_json

    stats: dict[str, Any] = {"source": args.source}
    if args.source == "wikidata-dump":
        from polyfact.wikidata.dump import extract_dump

        if not args.input:
            raise SystemExit("polyfact extract: --input DUMP is required for --source wikidata-dump")
        facts, dump_stats = extract_dump(
            args.input,
            args.relations,
            args.languages,
            args.min_label_langs,
            max_candidates_per_relation=args.max_candidates_per_relation,
            seed=args.seed,
            workers=args.workers,
            progress=not args.no_progress,
            decompressor=args.decompressor,
        )
        for key, value in dump_stats.as_dict().items():
            if isinstance(value, dict):  # per-relation counters: one flat entry each
                stats.update({f"dump_{key}_{pid}": n for pid, n in value.items()})
            else:
                stats[f"dump_{key}"] = value
    elif args.source == "wikidata-sparql":
        from polyfact.wikidata.sparql import SparqlClient, extract_sparql

        client = SparqlClient(
            endpoint=args.endpoint,
            cache_dir=args.cache_dir,
            min_interval_s=args.min_interval_s,
            max_retries=args.max_retries,
        )
        facts = extract_sparql(
            args.relations,
            args.languages,
            args.min_label_langs,
            client=client,
            limit_per_relation=args.limit_per_relation,
            batch_size=args.batch_size,
        )
    else:
        from polyfact.cldr import extract_cldr

        facts = extract_cldr(args.relations, args.languages)

    df = facts_frame(facts, args.languages)
    stats["facts_extracted"] = len(df)
    df = filter_min_label_langs(df, args.languages, args.min_label_langs)
    stats["facts_with_min_labels"] = len(df)
    df = sample_round_robin(df, args.relations, args.max_facts, args.seed)
    stats["facts_written"] = len(df)
    for pid, n in sorted(Counter(df["property_id"]).items()):
        stats[f"facts_{pid}"] = n
    if df.empty:
        raise SystemExit(f"polyfact extract: no facts for relations {args.relations} survived extraction")
    if args.stats_out:
        write_json(args.stats_out, stats)
    write_facts(df, args.out)
    log.info("wrote %d facts to %s", len(df), args.out)
