"""Hugging Face BERT folders with `pytorch_model.bin` (no safetensors), read without torch.

A `pytorch_model.bin` written by `torch.save` (torch >= 1.6) is a zip: `*/data.pkl`, a pickled
state dict whose tensors point at raw little-endian storages `*/data/<key>`. Unpickling runs any
callable the pickle names, so this reader uses a restricted unpickler: the only names it resolves
are `collections.OrderedDict`, torch's two tensor-rebuild functions and the storage dtype classes,
each replaced by bertkit's own numpy code that bounds-checks offsets and strides. Any other name
(e.g. `os.system`) stops loading with an error before anything runs. The older non-zip torch
format is refused with the command to convert to safetensors.

The tensors then go through the Hugging Face table of `hf_safetensors` (same names, same checks).
"""

from __future__ import annotations

import collections
import pickle
import zipfile
from pathlib import Path
from typing import NamedTuple

import ml_dtypes
import numpy as np

from bertkit.core.errors import BertkitError
from bertkit.weights import hf_safetensors
from bertkit.weights.base import Loader, Pretrained

NAME = "hf_pytorch_bin"
WEIGHTS_FILE = "pytorch_model.bin"
CONVERT = ("convert it once to model.safetensors where torch is installed: python -c \"import torch; "
           "from safetensors.torch import save_file; sd = torch.load('pytorch_model.bin', weights_only=True); "
           "save_file({k: v.contiguous() for k, v in sd.items()}, 'model.safetensors', metadata={'format': 'pt'})\"")


class StorageType(NamedTuple):
    dtype: np.dtype


STORAGE_TYPES = {
    "FloatStorage": np.float32, "DoubleStorage": np.float64, "HalfStorage": np.float16,
    "BFloat16Storage": ml_dtypes.bfloat16, "LongStorage": np.int64, "IntStorage": np.int32,
    "ShortStorage": np.int16, "CharStorage": np.int8, "ByteStorage": np.uint8, "BoolStorage": np.bool_,
}


def _rebuild_tensor(storage, offset, size, stride, *_ignored) -> np.ndarray:
    """torch._utils._rebuild_tensor_v2, in numpy: a bounds-checked strided view, copied."""
    if not (isinstance(offset, int) and all(isinstance(n, int) and n >= 0 for n in (*size, *stride))
            and len(size) == len(stride) and offset >= 0):
        raise pickle.UnpicklingError(f"malformed tensor (offset {offset!r}, size {size!r}, stride {stride!r})")
    if 0 in size:
        return np.zeros(size, dtype=storage.dtype)
    last = offset + sum((n - 1) * s for n, s in zip(size, stride))
    if last >= storage.size:
        raise pickle.UnpicklingError(f"tensor reaches element {last} of a storage of {storage.size}")
    strides = tuple(s * storage.itemsize for s in stride)
    return np.lib.stride_tricks.as_strided(storage[offset:], shape=tuple(size), strides=strides).copy()


def _rebuild_parameter(data, *_ignored) -> np.ndarray:
    """torch._utils._rebuild_parameter: an nn.Parameter is just its data here."""
    if not isinstance(data, np.ndarray):
        raise pickle.UnpicklingError("malformed parameter")
    return data


SAFE_NAMES = {
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    **{("torch", name): StorageType(np.dtype(dtype)) for name, dtype in STORAGE_TYPES.items()},
}


class RestrictedUnpickler(pickle.Unpickler):
    """Resolves only `SAFE_NAMES`; storages are read from the zip on demand."""

    def __init__(self, archive: zipfile.ZipFile, root: str, source: str):
        super().__init__(archive.open(f"{root}/data.pkl"))
        self.archive, self.root, self.source = archive, root, source
        self.big_endian = (f"{root}/byteorder" in archive.namelist()
                           and archive.read(f"{root}/byteorder").strip() == b"big")

    def find_class(self, module, name):
        if (module, name) in SAFE_NAMES:
            return SAFE_NAMES[(module, name)]
        raise BertkitError(f"{self.source}: refusing to unpickle {module}.{name}: a state dict of tensors needs "
                           f"only torch's tensor classes, so this file may run code when loaded. If you trust "
                           f"it, {CONVERT}.")

    def persistent_load(self, pid):
        if not (isinstance(pid, tuple) and len(pid) == 5 and pid[0] == "storage"
                and isinstance(pid[1], StorageType) and isinstance(pid[2], str)):
            raise pickle.UnpicklingError(f"unsupported storage reference {pid!r:.80}")
        dtype, key, numel = pid[1].dtype, pid[2], pid[4]
        raw = self.archive.read(f"{self.root}/data/{key}")
        storage = np.frombuffer(raw, dtype=dtype.newbyteorder(">") if self.big_endian else dtype)
        if isinstance(numel, int) and storage.size < numel:
            raise pickle.UnpicklingError(f"storage {key} holds {storage.size} elements, not {numel}")
        return storage.astype(dtype, copy=False)


def read_state_dict(path: Path) -> dict[str, np.ndarray]:
    """{name: array} of a torch-saved state dict, without torch and without running pickled code."""
    if not path.is_file():
        raise BertkitError(f"{path}: file not found.")
    if not zipfile.is_zipfile(path):
        raise BertkitError(f"{path}: an old (pre-1.6, non-zip) torch file, which bertkit does not read; {CONVERT}.")
    with zipfile.ZipFile(path) as archive:
        pickles = [n for n in archive.namelist() if n.endswith("/data.pkl") and n.count("/") == 1]
        if len(pickles) != 1:
            raise BertkitError(f"{path}: not a torch.save zip (no single */data.pkl); {CONVERT}.")
        try:
            state = RestrictedUnpickler(archive, pickles[0].split("/")[0], str(path)).load()
        except (pickle.UnpicklingError, KeyError, EOFError, ValueError, TypeError) as e:
            raise BertkitError(f"{path}: not a readable torch state dict ({e}); {CONVERT}.") from None
    if not isinstance(state, dict) or not all(isinstance(v, np.ndarray) for v in state.values()):
        raise BertkitError(f"{path}: holds a {type(state).__name__}, not a state dict of tensors; {CONVERT}.")
    return dict(state)


def detect(folder: Path) -> bool:
    return (folder / hf_safetensors.CONFIG_FILE).is_file() and (folder / WEIGHTS_FILE).is_file()


def load(folder: Path) -> Pretrained:
    """Loads a HF BERT folder whose weights are `pytorch_model.bin` into a new `BertEncoder`.

    Args:
        folder: holds config.json, pytorch_model.bin and the tokenizer files (tokenizer.json or vocab.txt
            with tokenizer_config.json, see `bertkit.tokenization.loading`).

    Returns:
        The `Pretrained` encoder, its config and default pooling; its tokenizer comes from the folder.
    """
    encoder = hf_safetensors.load_encoder(folder, read_state_dict(folder / WEIGHTS_FILE), WEIGHTS_FILE)
    return hf_safetensors.pretrained(folder, encoder, NAME)


LOADER = Loader(expects=f"{hf_safetensors.CONFIG_FILE} (a family bertkit loads), {WEIGHTS_FILE}, "
                        f"{hf_safetensors.VOCAB_FILE}", detect=detect, load=load)
