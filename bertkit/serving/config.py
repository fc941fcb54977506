"""`ServeConfig`: where `bertkit serve` listens and how it batches and bounds requests (no TensorFlow here,
so the CLI builds its flags without importing it)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from bertkit.core.config import JsonConfig, option
from bertkit.core.errors import BertkitError
from bertkit.serving.rest import Limits


@dataclass(frozen=True)
class ServeConfig(JsonConfig):
    """Where to listen and the request bounds (TF Serving's batching options in brackets)."""

    name: str = option("default", "model name in the URLs /v1/models/NAME")
    host: str = option("127.0.0.1", "address to listen on (loopback only unless told otherwise)")
    port: int = option(8501, "port (8501 as TF Serving's REST; 0: any free port)", minimum=0, maximum=65535)
    max_batch_size: int = option(64, "instances per model call [max_batch_size]", minimum=1)
    batch_timeout_ms: float = option(5.0, "how long a request waits to be batched with others "
                                     "[batch_timeout_micros]", minimum=0.0)
    max_body_bytes: int = option(Limits.max_body_bytes, "larger request bodies get HTTP 400", minimum=1)
    max_instances: int = option(Limits.max_instances, "more instances per request get HTTP 400", minimum=1)
    max_text_bytes: int = option(Limits.max_text_bytes, "longer texts get HTTP 400", minimum=1)
    request_timeout_s: float = option(60.0, "a request not answered in this time gets HTTP 503", above=0.0)

    def __post_init__(self):
        if not re.fullmatch(r"[A-Za-z0-9._-]+", self.name):
            raise BertkitError(f"--name {self.name!r}: use letters, digits, '.', '_' or '-'.")
        super().__post_init__()

    @property
    def limits(self) -> Limits:
        return Limits(self.max_body_bytes, self.max_instances, self.max_text_bytes)
