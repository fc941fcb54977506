"""Which encoder class builds which family (`EncoderConfig.model_type`), registered once."""

from __future__ import annotations

from bertkit.core.config import EncoderConfig
from bertkit.core.errors import BertkitError
from bertkit.modeling.deberta import DebertaEncoder
from bertkit.modeling.encoder import BertEncoder
from bertkit.modeling.modernbert import ModernBertEncoder

# BERT's maths with options covers the first seven (see modeling/encoder.py).
ENCODERS = {"bert": BertEncoder, "distilbert": BertEncoder, "electra": BertEncoder, "roberta": BertEncoder,
            "xlm-roberta": BertEncoder, "mpnet": BertEncoder, "albert": BertEncoder,
            "deberta-v2": DebertaEncoder, "modernbert": ModernBertEncoder}


def build_encoder(config: EncoderConfig):
    """A new encoder of `config`'s family (random weights; loaders assign the pretrained ones)."""
    if config.model_type not in ENCODERS:
        raise BertkitError(f"model_type {config.model_type!r} is not supported; bertkit builds "
                           f"{', '.join(ENCODERS)}.")
    return ENCODERS[config.model_type](config)
