"""`bertkit serve`: the TF Serving REST API for an exported model, and a page.

    GET  /v1/models/NAME                  status        {"model_version_status": [...]}
    GET  /v1/models/NAME/metadata         signatures    {"model_spec": ..., "metadata": {"signature_def": ...}}
    POST /v1/models/NAME:predict          {"instances": [...]} or {"inputs": ...}
    (also under /v1/models/NAME/versions/1)
    GET  /                                a page: type a review, see the label and probabilities
    GET  /bertkit/model, /bertkit/stats   what the page needs; batching counters

Standard library HTTP (`ThreadingHTTPServer`, one thread per connection, keep-alive) in front of one
`Batcher` worker that owns the SavedModel (or the LiteRT interpreter of a .tflite). A client written
against this server works unchanged against TF Serving (`docker run tensorflow/serving`) on the same export.
"""

from __future__ import annotations

import http.server
import json
import re
import shutil
import socket
import sys
import tempfile
import threading
from importlib import resources
from pathlib import Path

from bertkit.core.errors import BertkitError
from bertkit.serving import rest
from bertkit.serving.config import ServeConfig
from bertkit.serving.request_batcher import Batcher, Overloaded

LOOPBACK = ("127.0.0.1", "localhost", "::1")
SIGNATURE_KEY = "serving_default"
DRAIN_LIMIT = 64 * 1024 * 1024  # an over-limit body up to this size is read and dropped (keeps the connection sane)
ROUTE = re.compile(r"^/v1/models/(?P<name>[^/:]+)(?:/versions/(?P<version>[^/:]+))?"
                   r"(?P<what>/metadata|:predict|:classify|:regress)?/?$")


class ServedModel:
    """An export loaded with plain TensorFlow (+ tensorflow_text ops), as TF Serving would load it."""

    def __init__(self, export_dir: Path):
        import tensorflow as tf
        import tensorflow_text  # noqa: F401 - registers the WordPiece and normalizer ops

        from bertkit.export.savedmodel import EXPORT_INFO, EXTRA, SIGNATURE

        self._tf = tf
        self.export_dir = export_dir
        self.info = json.loads((export_dir / EXTRA / EXPORT_INFO).read_text(encoding="utf-8"))
        self._loaded = tf.saved_model.load(str(export_dir))
        self.fn = self._loaded.signatures[SIGNATURE]
        self.inputs = tuple(self.info["inputs"])
        self.signature_defs = signature_def_map(export_dir)
        self.run({name: [b"warm up"] for name in self.inputs})  # the first call builds the graph

    def run(self, columns: dict) -> dict:
        tf = self._tf
        outputs = self.fn(**{name: tf.constant(values, tf.string) for name, values in columns.items()})
        return {name: tensor.numpy() for name, tensor in outputs.items()}


class ServedLiteRT:
    """A .tflite from `bertkit export --format litert` in the LiteRT interpreter, with the same `run` as
    `ServedModel` (the batcher is its only caller: the interpreter is not thread-safe)."""

    def __init__(self, path: Path):
        from bertkit.export.litert import LiteRTModel, read_metadata

        self.info = read_metadata(path)  # a clear error for a folder, a non-.tflite or a foreign .tflite
        self._model = LiteRTModel(path)
        self.inputs = tuple(self.info["inputs"])
        self.signature_defs = litert_signature_defs(self._model, self.info)

    def run(self, columns: dict) -> dict:
        return self._model.run(columns)


def litert_signature_defs(model, info: dict) -> dict:
    """The .tflite's signature written as a SavedModel SignatureDefMap, so `/metadata` reads the same."""
    details = model.runner.get_output_details()
    outputs = {name: {"name": f"{name}:0", "dtype": "DT_STRING" if d["dtype"] == object else
                      f"DT_{np_dtype_name(d['dtype'])}",
                      "tensor_shape": {"dim": [{"size": str(int(n)), "name": ""} for n in d["shape_signature"]],
                                       "unknown_rank": False}}
               for name, d in sorted(details.items())}
    inputs = {name: {"name": f"serving_default_{name}:0", "dtype": "DT_STRING",
                     "tensor_shape": {"dim": [{"size": "-1", "name": ""}], "unknown_rank": False}}
              for name in info["inputs"]}
    return {"signature_def": {SIGNATURE_KEY: {"inputs": inputs, "outputs": outputs,
                                              "method_name": "tensorflow/serving/predict", "defaults": {}}}}


def np_dtype_name(dtype) -> str:
    import numpy as np

    return {np.float32: "FLOAT", np.float64: "DOUBLE", np.int32: "INT32", np.int64: "INT64", np.bool_: "BOOL"}.get(
        np.dtype(dtype).type, np.dtype(dtype).name.upper())


def signature_def_map(export_dir: Path) -> dict:
    """The SavedModel's SignatureDefMap as proto JSON, the `metadata.signature_def` of TF Serving."""
    from google.protobuf import json_format
    from tensorflow.core.protobuf import saved_model_pb2

    saved = saved_model_pb2.SavedModel()
    saved.ParseFromString((export_dir / "saved_model.pb").read_bytes())
    # TF Serving's SignatureDefMap message is {"signature_def": {key: SignatureDef}}; TF has no such
    # message, so the map is built here from the SignatureDefs, printed the way TF Serving does.
    return {"signature_def": {
        key: json_format.MessageToDict(value, preserving_proto_field_name=True,
                                       always_print_fields_with_no_presence=True)
        for key, value in sorted(saved.meta_graphs[0].signature_def.items())}}


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256  # listen backlog: many clients connecting at once are queued, not reset

    def __init__(self, address, model, batcher: Batcher, config: ServeConfig, page: bytes):
        self.model, self.batcher, self.config, self.page = model, batcher, config, page
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, _Handler)


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: clients reuse one connection
    server_version = "bertkit-serving"
    disable_nagle_algorithm = True  # small JSON answers must not wait for a delayed ACK
    timeout = 30  # seconds a connection may sit idle or send slowly
    server: _Server

    def log_message(self, format, *args):  # noqa: A002 - the base class's name
        pass  # quiet by default; errors reach the client as JSON

    def send_error(self, code, message=None, explain=None):
        """Protocol errors from the base class (bad request line, unsupported method) as JSON."""
        self.close_connection = True
        self._send_json(code, rest.error_json(message or self.responses.get(code, ("bad request",))[0]))

    def do_GET(self):
        path = self.path.split("?", 1)[0]
        if self.headers.get("Content-Length", "0").strip() not in ("", "0"):
            self.close_connection = True  # a GET body is not read, so the connection cannot be reused
        if path in ("/", "/index.html"):
            return self._send(200, self.server.page, "text/html; charset=utf-8")
        if path == "/bertkit/model":
            info = self.server.model.info
            return self._send_json(200, {"name": self.server.config.name, **{k: info[k] for k in (
                "task", "inputs", "outputs", "labels", "entity_types", "is_pair", "preprocess", "source") if k in info}})
        if path == "/bertkit/stats":
            return self._send_json(200, dict(self.server.batcher.stats))
        route = self._route(path)
        if route is None:
            return
        if route == "":
            return self._send_json(200, rest.status_json())
        if route == "/metadata":
            return self._send_json(200, rest.metadata_json(self.server.config.name, self.server.model.signature_defs))
        self._send_json(400, rest.error_json(f"GET {path}: use POST for {route}."))

    def do_POST(self):
        path = self.path.split("?", 1)[0]
        body = self._read_body()
        if body is None:
            return
        route = self._route(path)
        if route is None:
            return
        if route != ":predict":
            what = route.lstrip(":/") or "status"
            return self._send_json(400, rest.error_json(
                f"POST {path}: this model has only a predict signature ({what} is not available); use :predict."))
        try:
            request = rest.parse_predict(body, self.server.model.inputs, self.server.config.limits)
            outputs = self.server.batcher.submit(request.columns, request.n, self.server.config.request_timeout_s)
        except rest.RequestError as e:
            return self._send_json(e.status, rest.error_json(str(e)))
        except Overloaded as e:
            return self._send_json(503, rest.error_json(f"server overloaded: {e}"))
        except TimeoutError as e:
            return self._send_json(503, rest.error_json(f"prediction timed out: {e}"))
        except Exception as e:  # noqa: BLE001 - a failed model call is this request's 500, the server lives on
            return self._send_json(500, rest.error_json(f"prediction failed: {type(e).__name__}: {e}"))
        self._send_json(200, rest.format_predict(outputs, request.row_format))

    def _route(self, path: str) -> str | None:
        """The part after `/v1/models/NAME[/versions/1]` ("" for status), or None after answering 404."""
        m = ROUTE.match(path)
        name = self.server.config.name
        if m is None:
            self._send_json(404, rest.error_json(f"Malformed request: {self.command} {path}"))
            return None
        if m["name"] != name or m["version"] not in (None, rest.VERSION):
            spec = f"Specific({m['name']}, {m['version']})" if m["version"] else f"Latest({m['name']})"
            self._send_json(404, rest.error_json(f"Servable not found for request: {spec}; this server has "
                                                 f"{name!r} version {rest.VERSION}."))
            return None
        return m["what"] or ""

    def _read_body(self) -> bytes | None:
        """The request body, or None after answering 400 (missing length, over the size limit)."""
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            self.close_connection = True
            self._send_json(400, rest.error_json("chunked request bodies are not supported; send Content-Length."))
            return None
        try:
            length = int(self.headers.get("Content-Length", ""))
            if length < 0:
                raise ValueError
        except ValueError:
            self.close_connection = True
            self._send_json(400, rest.error_json("a POST needs a valid Content-Length header."))
            return None
        limit = self.server.config.max_body_bytes
        if length > limit:
            if length <= DRAIN_LIMIT:
                self._drain(length)
            else:
                self.close_connection = True
            self._send_json(400, rest.error_json(f"request body of {length} bytes exceeds the limit of {limit} "
                                                 "bytes (serve --max-body-bytes)."))
            return None
        body = self.rfile.read(length)
        if len(body) < length:
            self.close_connection = True
            self._send_json(400, rest.error_json(f"request body ended after {len(body)} of {length} bytes."))
            return None
        return body

    def _drain(self, length: int) -> None:
        while length > 0:
            chunk = self.rfile.read(min(length, 1 << 16))
            if not chunk:
                self.close_connection = True
                return
            length -= len(chunk)

    def _send_json(self, status: int, payload: dict) -> None:
        self._send(status, json.dumps(payload, ensure_ascii=False).encode("utf-8"), "application/json")

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            if self.close_connection:
                self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client went away; nothing to answer


class RunningServer:
    """A server listening in a background thread (for tests, benchmarks and `serve`)."""

    def __init__(self, httpd: _Server, batcher: Batcher, cleanup: Path | None):
        self._httpd, self._batcher, self._cleanup = httpd, batcher, cleanup
        self.host, self.port = httpd.server_address[:2]
        self.name = httpd.config.name
        self._thread = threading.Thread(target=httpd.serve_forever, name="bertkit-http", daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def stats(self) -> dict:
        return dict(self._batcher.stats)

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._batcher.close()
        if self._cleanup is not None:
            shutil.rmtree(self._cleanup, ignore_errors=True)

    def wait(self) -> None:
        self._thread.join()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def start_server(model, config: ServeConfig | None = None) -> RunningServer:
    """Loads `model` and starts serving it in the background.

    Args:
        model: a folder from `bertkit export`; a run folder or bundle from `bertkit train` is
            exported to a temporary folder first (removed on `close`).
        config: address, name and limits.

    Returns:
        The running server (`.url`, `.port`, `.close()`).
    """
    from bertkit.core.bundle import bundle_exists
    from bertkit.export.savedmodel import export_model, is_export

    config = config or ServeConfig()
    path, cleanup = Path(model), None
    litert = path.is_file() or path.suffix == ".tflite"  # a .tflite named so must be one (read_metadata says why not)
    if not litert and not is_export(path) and not bundle_exists(path):
        raise BertkitError(f"{path}: neither a `bertkit export` folder (saved_model.pb with "
                           "assets.extra/bertkit_export.json), a .tflite from `bertkit export --format litert`, "
                           "nor a run folder from `bertkit train`.")
    try:
        if litert:
            served = ServedLiteRT(path)
        elif is_export(path):
            served = ServedModel(path)
        else:
            cleanup = Path(tempfile.mkdtemp(prefix="bertkit-serve-"))
            served = ServedModel(export_model(path, cleanup / "export"))
        batcher = Batcher(served.run, config.max_batch_size, config.batch_timeout_ms / 1000.0,
                          max_queued=max(4096, 4 * config.max_instances))
        page = resources.files("bertkit.serving").joinpath("static/index.html").read_bytes()
        try:
            httpd = _Server((config.host, config.port), served, batcher, config, page)
        except OSError as e:
            batcher.close()
            raise BertkitError(f"cannot listen on {config.host}:{config.port} ({e.strerror}); "
                               "choose another --port or --host.") from None
    except BaseException:
        if cleanup is not None:
            shutil.rmtree(cleanup, ignore_errors=True)
        raise
    return RunningServer(httpd, batcher, cleanup)


def serve(model, config: ServeConfig | None = None) -> None:
    """Serves `model` until interrupted (`bertkit serve`); prints the address first."""
    config = config or ServeConfig()
    server = start_server(model, config)
    if config.host not in LOOPBACK:
        print(f"bertkit serve: warning: listening on {config.host}, reachable from other machines; "
              "there is no authentication.", file=sys.stderr)
    print(f"serving {server.name} at {server.url}/ (REST: {server.url}/v1/models/{server.name}:predict)",
          flush=True)
    try:
        server.wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.close()
