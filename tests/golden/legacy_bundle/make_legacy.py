"""Builds a bundle with bertkit before issue 18 (vocab.txt, no tokenizer_config.json)."""
import sys, json
from pathlib import Path
import keras, tensorflow as tf
import bertkit
print(bertkit.__file__)
from bertkit.api import BertkitModel
from bertkit.core.config import EncoderConfig, PreprocessConfig, TrainConfig
from bertkit.data import Example
from bertkit.modeling.encoder import BertEncoder
from bertkit.tasks import get_task_class
from bertkit.tokenization import Tokenizer
out = Path(sys.argv[1]); vocab = Path(sys.argv[2])
keras.utils.set_random_seed(0)
examples = [Example(t, label=l, guid=str(i)) for i, (t, l) in enumerate([("the movie was great", 1), ("awful plot", 0), ("i loved it", 1), ("it was awful", 0)])]
cls = get_task_class("classify")
config = cls.configure(examples, pooling="cls", head_dropout=0.1, source="legacy")
tok = Tokenizer(vocab, True)
task = cls(config, PreprocessConfig(max_seq_length=16), tok)
enc = BertEncoder(EncoderConfig(vocab_size=len(tok.vocab), hidden_size=16, num_layers=1, num_heads=2, intermediate_size=32, max_position_embeddings=16))
model = task.build_model(enc)
model({k: tf.zeros((1, 8), tf.int32) for k in task.model_input_names()})
bm = BertkitModel(model, task, enc.config, TrainConfig(), str(vocab))
bm.save(out)
probe = ["the movie was great", "awful \uf0b7 plot", "x" * 150]
json.dump({"texts": probe, "ids": tok(probe).to_list(), "probabilities": bm.predict_scores(probe).tolist()},
          open(out.parent / "expected.json", "w"), indent=1)
