"""Predicting movie reviews with BERT: the TF Hub tutorial, rewritten on bertkit (TF 2 + Keras 3).

The structure and names follow Google's notebook: IMDB reviews -> `InputExample` ->
`convert_examples_to_features` -> an encoder layer (here `bertkit.compat.KerasLayer`, where the
notebook had `hub.KerasLayer`) -> dropout and a sigmoid dense head -> a hand-written
`tf.GradientTape` loop -> `metric_fn` -> `getPrediction` on new sentences.

    python examples/movie_reviews.py                       # the tutorial's 5,000 / 5,000 reviews, 3 epochs
    python examples/movie_reviews.py --train-samples 64 --test-samples 32 --epochs 1   # a quick look
    python examples/movie_reviews.py --model path/to/any/bert/folder

IMDB is read from $BERTKIT_DATA/imdb (or downloaded from Stanford when online).
"""

from __future__ import annotations

import argparse
import math
import time

import keras
import numpy as np
import tensorflow as tf

from bertkit.compat import (
    InputExample,
    KerasLayer,
    FullTokenizer,
    convert_examples_to_features,
    input_fn_builder,
)
from bertkit.data import load_splits
from bertkit.metrics import classification_metrics
from bertkit.training.optimizer import create_optimizer
from bertkit.weights import default_model_path

DATA_COLUMN = "sentence"
LABEL_COLUMN = "polarity"
label_list = [0, 1]
MAX_SEQ_LENGTH = 128
BATCH_SIZE = 32
LEARNING_RATE = 2e-5
WARMUP_PROPORTION = 0.1


class MovieReviewClassifier(keras.Model):
    """BERT encoder -> pooled_output -> dropout -> one sigmoid unit (the tutorial's create_model)."""

    def __init__(self, bert_layer, dropout=0.1):
        super().__init__()
        self.bert = bert_layer
        self.dropout = keras.layers.Dropout(dropout)
        self.output_layer = keras.layers.Dense(
            1, kernel_initializer=keras.initializers.TruncatedNormal(stddev=0.02))

    def call(self, inputs, training=False):
        pooled_output, sequence_output = self.bert(
            [inputs["input_ids"], inputs["input_mask"], inputs["segment_ids"]], training=training)
        return self.output_layer(self.dropout(pooled_output, training=training))  # logits [B, 1]


def metric_fn(label_ids, probabilities):
    """The tutorial's eval metrics, with AUC computed from probabilities (the notebook's was on
    hard labels; both are printed)."""
    m = classification_metrics(np.asarray(label_ids), np.asarray(probabilities))
    tn, fp = m["confusion_matrix"][0]
    fn, tp = m["confusion_matrix"][1]
    return {"eval_accuracy": m["accuracy"], "f1_score": m["f1"], "auc": m["auc"],
            "auc_hard_labels": m["auc_hard_labels"], "precision": m["precision"], "recall": m["recall"],
            "true_positives": tp, "true_negatives": tn, "false_positives": fp, "false_negatives": fn}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=None, help="BERT folder (default: the packaged all-MiniLM-L6-v2)")
    parser.add_argument("--train-samples", type=int, default=5000)
    parser.add_argument("--test-samples", type=int, default=5000)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--max-seq-length", type=int, default=MAX_SEQ_LENGTH)
    args = parser.parse_args()
    max_seq_length = args.max_seq_length
    keras.utils.set_random_seed(args.seed)

    # Data: the tutorial sampled 5,000 train and 5,000 test reviews.
    train, test, _ = load_splits("imdb", train_samples=args.train_samples, test_samples=args.test_samples,
                                 seed=args.seed)
    train_InputExamples = [InputExample(guid=None, text_a=e.text_a, text_b=None, label=e.label) for e in train]
    test_InputExamples = [InputExample(guid=None, text_a=e.text_a, text_b=None, label=e.label) for e in test]

    # The encoder and its vocabulary (the tutorial: hub.KerasLayer + create_tokenizer_from_hub_module).
    bert_layer = KerasLayer(args.model or str(default_model_path()), trainable=True)
    tokenizer = FullTokenizer(bert_layer.vocab_file, bert_layer.do_lower_case)
    print(tokenizer.tokenize("This here's an example of using the BERT tokenizer"))

    train_features = convert_examples_to_features(train_InputExamples, label_list, max_seq_length, tokenizer)
    test_features = convert_examples_to_features(test_InputExamples, label_list, max_seq_length, tokenizer)

    model = MovieReviewClassifier(bert_layer)
    num_train_steps = math.ceil(len(train_features) / BATCH_SIZE) * args.epochs
    train_input_fn = input_fn_builder(train_features, max_seq_length, is_training=True, drop_remainder=False)
    dataset = train_input_fn({"batch_size": BATCH_SIZE}).take(num_train_steps)
    model({k: v for k, v in next(iter(dataset)).items() if k != "label_ids"})  # build the variables
    optimizer = create_optimizer(model.trainable_variables, LEARNING_RATE, num_train_steps, WARMUP_PROPORTION)

    @tf.function
    def train_step(batch):
        with tf.GradientTape() as tape:
            logits = model(batch, training=True)
            labels = tf.cast(batch["label_ids"][:, None], tf.float32)
            loss = tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(labels=labels, logits=logits))
        variables = model.trainable_variables
        grads = tape.gradient(loss, variables)
        # Dense gradients: Keras 3's Adam mishandles the embedding's IndexedSlices (duplicate rows).
        optimizer.apply_gradients([(tf.convert_to_tensor(g), v) for g, v in zip(grads, variables) if g is not None])
        return loss

    print(f"Beginning Training! ({num_train_steps} steps)")
    current_time = time.time()
    for step, batch in enumerate(dataset, start=1):
        loss = train_step(batch)
        if step % 50 == 0 or step == num_train_steps:
            print(f"step {step}/{num_train_steps} loss {float(loss):.4f}")
    print("Training took time ", time.time() - current_time)

    @tf.function
    def predict_step(batch):
        return tf.sigmoid(model(batch, training=False))[:, 0]

    test_input_fn = input_fn_builder(test_features, max_seq_length, is_training=False, drop_remainder=False)
    probs, labels = [], []
    for batch in test_input_fn({"batch_size": 64}):
        probs.append(predict_step(batch).numpy())
        labels.append(batch["label_ids"].numpy())
    results = metric_fn(np.concatenate(labels), np.concatenate(probs))
    for key, value in results.items():
        print(f"{key} = {value}")

    def getPrediction(in_sentences):
        labels = ["Negative", "Positive"]
        input_examples = [InputExample(guid="", text_a=x, text_b=None, label=0) for x in in_sentences]
        features = convert_examples_to_features(input_examples, label_list, max_seq_length, tokenizer)
        batch = next(iter(input_fn_builder(features, max_seq_length, False, False)({"batch_size": 64})))
        p = predict_step(batch).numpy()
        return [(sentence, float(prob), labels[int(prob > 0.5)]) for sentence, prob in zip(in_sentences, p)]

    pred_sentences = [
        "That movie was absolutely awful",
        "The acting was a bit lacking",
        "The film was creative and surprising",
        "Absolutely fantastic!",
    ]
    for prediction in getPrediction(pred_sentences):
        print(prediction)


if __name__ == "__main__":
    main()
