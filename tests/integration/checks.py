"""Small checks the integration tests share: the errno a filesystem call fails with, and a
file's bytes."""


def errno_of(fn, *args):
    """The errno of the OSError that fn(*args) raises; an AssertionError if it succeeds."""
    try:
        fn(*args)
    except OSError as e:
        return e.errno
    raise AssertionError("%s%r did not fail" % (fn.__name__, args))


def read_bytes(path):
    with open(path, "rb") as f:
        return f.read()
