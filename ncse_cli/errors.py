"""The base class of every error a user can cause. The CLI prints these as one line and exits non-zero."""


class NcseError(Exception):
    """An error in the user's input (files, manifests, recipes, names); the message says what and where."""
