"""The PolyFact record's option fields (DESIGN §6), in one small module: the dataset builder
writes them and the trainers, prompts and evaluators read them, so a reader's code digest does
not depend on the builder's code."""

OPTION_LETTERS = "abcd"
OPTION_KEYS = tuple(f"option_{c}" for c in OPTION_LETTERS)  # the record's option fields, in order
