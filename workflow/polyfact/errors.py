"""The base of errors caused by bad input (not bugs): the CLI prints them without a traceback."""


class PolyfactError(Exception):
    """Bad input or an unusable resource; the message says which file, key or item."""
