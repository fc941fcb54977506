"""The TF Serving REST API's JSON shapes: parsing `:predict` requests and formatting answers.

Pure Python (no TensorFlow), so every malformed-request case is a fast unit test. Shapes follow
https://www.tensorflow.org/tfx/serving/api_rest:

* row format   `{"signature_name"?: str, "instances": [...]}` -> `{"predictions": [...]}`
* column format `{"signature_name"?: str, "inputs": ...}`     -> `{"outputs": ...}`
* any error -> `{"error": "..."}` with an HTTP status (400 for a bad request).

String values are JSON strings or `{"b64": "..."}` objects, as in TF Serving.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import json

SIGNATURE = "serving_default"
VERSION = "1"


class RequestError(Exception):
    """A request the server refuses; `status` is the HTTP status, the message goes to `{"error": ...}`."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


@dataclasses.dataclass(frozen=True)
class Limits:
    """Per-request bounds: a request beyond any of them is answered 400 before reaching the model."""

    max_body_bytes: int = 4 * 1024 * 1024
    max_instances: int = 1024
    max_text_bytes: int = 100_000


@dataclasses.dataclass(frozen=True)
class PredictRequest:
    """A parsed `:predict` body: one list of UTF-8 byte strings per signature input, all of length `n`."""

    columns: dict
    n: int
    row_format: bool


def parse_predict(body: bytes, input_names: tuple, limits: Limits) -> PredictRequest:
    """Parses and checks a `:predict` request body for a signature with string inputs `[B]`.

    Args:
        body: the raw request body.
        input_names: the signature's input names, e.g. ("text",) or ("text", "text_b").
        limits: instance count and text size bounds.

    Returns:
        The columns in signature order.

    Raises:
        RequestError: malformed JSON, unknown or missing keys, wrong types, too many instances or a
            text over the size limit; the message names the offending key or instance.
    """
    try:
        request = json.loads(body.decode("utf-8"))
    except UnicodeDecodeError as e:
        raise RequestError(f"JSON parse error: the body is not UTF-8 (byte {e.start}).") from None
    except json.JSONDecodeError as e:
        raise RequestError(f"JSON parse error: {e.msg} at line {e.lineno} column {e.colno}.") from None
    except RecursionError:
        raise RequestError("JSON parse error: nesting too deep.") from None
    if not isinstance(request, dict):
        raise RequestError(f"the request must be a JSON object with 'instances' or 'inputs', got {_kind(request)}.")
    unknown = sorted(set(request) - {"signature_name", "instances", "inputs"})
    if unknown:
        raise RequestError(f"unknown key(s) {unknown} in the request; expected 'instances' (row format) or "
                           "'inputs' (columnar format), and optionally 'signature_name'.")
    name = request.get("signature_name", SIGNATURE)
    if name not in ("", SIGNATURE):
        raise RequestError(f"Serving signature name: {json.dumps(name)} not found in signature def; "
                           f"this model has {SIGNATURE!r}.")
    if ("instances" in request) == ("inputs" in request):
        raise RequestError("the request must have exactly one of 'instances' (row format) and 'inputs' "
                           "(columnar format).")
    if "instances" in request:
        columns = _instances(request["instances"], input_names, limits)
    else:
        columns = _inputs(request["inputs"], input_names, limits)
    n = len(columns[input_names[0]])
    for name_, column in columns.items():
        for i, value in enumerate(column):
            if len(value) > limits.max_text_bytes:
                raise RequestError(f"instance {i}: {name_!r} is {len(value)} bytes of UTF-8; the limit is "
                                   f"{limits.max_text_bytes} (serve --max-text-bytes).")
    return PredictRequest(columns=columns, n=n, row_format="instances" in request)


def _instances(instances, input_names, limits) -> dict:
    if not isinstance(instances, list):
        raise RequestError(f"'instances' must be a list, got {_kind(instances)}.")
    _check_count(len(instances), limits)
    columns = {name: [] for name in input_names}
    for i, instance in enumerate(instances):
        if isinstance(instance, dict) and set(instance) != {"b64"}:
            missing = [k for k in input_names if k not in instance]
            extra = sorted(set(instance) - set(input_names))
            if missing or extra:
                raise RequestError(f"instance {i}: expected the key(s) {list(input_names)}"
                                   + (f", missing {missing}" if missing else "")
                                   + (f", unknown {extra}" if extra else "") + ".")
            for name in input_names:
                columns[name].append(_string(instance[name], f"instance {i}: {name!r}"))
        elif len(input_names) == 1:  # a bare value stands for the only input
            columns[input_names[0]].append(_string(instance, f"instance {i}"))
        else:
            raise RequestError(f"instance {i}: this model takes {list(input_names)}; send objects like "
                               f"{json.dumps({k: '...' for k in input_names})}, got {_kind(instance)}.")
    return columns


def _inputs(inputs, input_names, limits) -> dict:
    if not isinstance(inputs, dict) or (set(inputs) == {"b64"} and len(input_names) == 1):
        if len(input_names) > 1:
            raise RequestError(f"'inputs' must be an object with the keys {list(input_names)}, got {_kind(inputs)}.")
        inputs = {input_names[0]: inputs}
    missing = [k for k in input_names if k not in inputs]
    extra = sorted(set(inputs) - set(input_names))
    if missing or extra:
        raise RequestError(f"'inputs': expected the key(s) {list(input_names)}"
                           + (f", missing {missing}" if missing else "")
                           + (f", unknown {extra}" if extra else "") + ".")
    columns = {}
    for name in input_names:
        values = inputs[name]
        if not isinstance(values, list):
            raise RequestError(f"'inputs' {name!r} must be a list of strings (one per example), got {_kind(values)}.")
        _check_count(len(values), limits)
        columns[name] = [_string(v, f"'inputs' {name!r}[{i}]") for i, v in enumerate(values)]
    lengths = {len(c) for c in columns.values()}
    if len(lengths) > 1:
        raise RequestError(f"'inputs': the lists have different lengths {[len(c) for c in columns.values()]}.")
    return columns


def _check_count(n: int, limits: Limits) -> None:
    if n == 0:
        raise RequestError("the request has no instances.")
    if n > limits.max_instances:
        raise RequestError(f"the request has {n} instances; the limit is {limits.max_instances} per request "
                           "(serve --max-instances). Split it into several requests.")


def _string(value, where: str) -> bytes:
    """A JSON string or `{"b64": ...}` -> bytes; anything else is a 400 naming `where`."""
    if isinstance(value, str):
        return value.encode("utf-8", errors="surrogatepass")  # lone surrogates: invalid UTF-8, dropped later
    if isinstance(value, dict) and set(value) == {"b64"} and isinstance(value["b64"], str):
        try:
            return base64.b64decode(value["b64"], validate=True)
        except (binascii.Error, ValueError):
            raise RequestError(f"{where}: 'b64' is not valid base64.") from None
    raise RequestError(f"{where} must be a string (or {{\"b64\": ...}}), got {_kind(value)}.")


def _kind(value) -> str:
    if value is None:
        return "null"
    return {bool: "a boolean", int: "a number", float: "a number", str: "a string", list: "a list",
            dict: "an object"}.get(type(value), type(value).__name__)


def format_predict(outputs: dict, row_format: bool) -> dict:
    """TF Serving's answer for named output arrays `[n, ...]`: rows for `instances`, columns for `inputs`.

    With a single output TF Serving drops the name; with several each row is an object.
    """
    lists = {name: _to_json(array) for name, array in outputs.items()}
    if not row_format:
        return {"outputs": next(iter(lists.values())) if len(lists) == 1 else lists}
    n = len(next(iter(lists.values())))
    if len(lists) == 1:
        return {"predictions": next(iter(lists.values()))}
    return {"predictions": [{name: values[i] for name, values in lists.items()} for i in range(n)]}


def _to_json(array) -> list:
    """A numpy array -> nested lists; bytes become strings (or `{"b64": ...}` if not UTF-8); an object
    array of JSON-ready values (a bundle-served model's entities, answers) is passed through."""
    if array.dtype.kind == "O" and array.ndim == 1 and not any(isinstance(v, bytes) for v in array):
        return list(array)
    if array.dtype.kind in ("S", "O"):
        return [_to_json(a) for a in array] if array.ndim > 1 else [_decode(b) for b in array]
    return array.tolist()


def _decode(value: bytes):
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        return {"b64": base64.b64encode(value).decode("ascii")}


def status_json() -> dict:
    """`GET /v1/models/NAME`: one version, available."""
    return {"model_version_status": [{"version": VERSION, "state": "AVAILABLE",
                                      "status": {"error_code": "OK", "error_message": ""}}]}


def metadata_json(name: str, signature_def_map: dict) -> dict:
    """`GET /v1/models/NAME/metadata`: the model spec and the SignatureDefMap as proto JSON."""
    return {"model_spec": {"name": name, "signature_name": "", "version": VERSION},
            "metadata": {"signature_def": signature_def_map}}


def error_json(message: str) -> dict:
    return {"error": message}
