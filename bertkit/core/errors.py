"""The one exception type users see.

Every error caused by the user's input (a bad file, a missing column, a wrong model folder) is a
`BertkitError` whose message names the file, line or key and says how to fix it. The CLI prints the
message without a traceback and exits with status 2. Bugs in bertkit itself stay ordinary exceptions.
"""


class BertkitError(Exception):
    """An error in the user's input, with a message meant to be read by the user."""

