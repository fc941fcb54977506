"""TF Hub handles (`https://tfhub.dev/...`, Kaggle model URLs) resolved to a local folder.

Resolution goes through `tensorflow_hub`'s cache (`$TFHUB_CACHE_DIR`), so a handle downloaded
once is found offline. A handle that is not cached needs the network: without it bertkit stops at
once (a 3-second connection check, not tensorflow_hub's retries) with how to use a local folder.
"""

from __future__ import annotations

import hashlib
import os
import socket
from pathlib import Path
from urllib.parse import urlparse

from bertkit.core.errors import BertkitError

SCHEMES = ("https://", "http://", "gs://")
CONNECT_TIMEOUT = 3.0


def is_hub_handle(path) -> bool:
    return isinstance(path, str) and path.startswith(SCHEMES)


def _local_folder_help(handle: str) -> str:
    return (f"Download it where there is network ({handle}?tf-hub-format=compressed gives a .tar.gz; on Kaggle "
            "use the model page's Download button), unpack it into a folder and pass that folder: "
            "--model path/to/folder.")


def _cached_folder(handle: str) -> Path | None:
    """The folder tensorflow_hub's compressed-model resolver caches `handle` in, if it is there."""
    from tensorflow_hub import resolver

    folder = Path(resolver.tfhub_cache_dir(use_temp=True)) / hashlib.sha1(handle.encode("utf8")).hexdigest()
    return folder if folder.is_dir() and any(folder.iterdir()) else None


def _reachable(host: str, port: int = 443, timeout: float = CONNECT_TIMEOUT) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def resolve_hub_handle(handle: str) -> Path:
    """Returns the local folder of a TF Hub / Kaggle model handle, downloading it if online.

    Raises:
        BertkitError: tensorflow-hub missing, offline with no cached copy, or the download failed.
    """
    try:
        import tensorflow_hub
    except ImportError:
        raise BertkitError(f"{handle}: resolving a TF Hub handle needs tensorflow-hub "
                           f"(pip install 'bertkit[hub]'). {_local_folder_help(handle)}") from None
    cached = _cached_folder(handle)
    if cached is not None:
        return cached
    host = urlparse(handle).hostname or ""
    if handle.startswith(("http://", "https://")) and not _reachable(host):
        raise BertkitError(f"{handle}: cannot reach {host} (offline?) and the model is not in the TF Hub cache "
                           f"({os.environ.get('TFHUB_CACHE_DIR') or 'TFHUB_CACHE_DIR unset'}). "
                           f"{_local_folder_help(handle)}")
    import tensorflow as tf

    try:
        return Path(tensorflow_hub.resolve(handle))
    except (OSError, ValueError, tf.errors.OpError) as e:  # urllib errors are OSErrors
        raise BertkitError(f"{handle}: TF Hub could not fetch it ({type(e).__name__}: {e}). "
                           f"{_local_folder_help(handle)}") from None
