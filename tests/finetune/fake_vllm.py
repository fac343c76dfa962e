"""A local stand-in for a vLLM server's model list and dynamic LoRA endpoints (there is no
vLLM on CPU here), answering as vLLM's ``/v1/models``, ``/v1/load_lora_adapter`` (with
``load_inplace``) and ``/v1/unload_lora_adapter`` do; it records every request."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any


class FakeVllm:
    def __init__(self, base: str = "codeward-base", *, inplace: bool = True,
                 lora: bool = True, check_paths: bool = True) -> None:
        self.base = base
        self.check_paths = check_paths
        self.inplace = inplace
        self.lora = lora
        self.adapters: dict[str, str] = {}
        self.requests: list[tuple[str, str, dict[str, Any], str]] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _send(self, status: int, body: Any) -> None:
                data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "text/plain" if isinstance(body, str)
                                 else "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                fake.requests.append(("GET", self.path, {}, self.headers.get("Authorization",
                                                                             "")))
                if self.path != "/v1/models":
                    return self._send(404, {"detail": "Not Found"})
                data = [{"id": fake.base, "object": "model", "root": "/models/base",
                         "parent": None}]
                data += [{"id": n, "object": "model", "root": p, "parent": fake.base}
                         for n, p in fake.adapters.items()]
                self._send(200, {"object": "list", "data": data})

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                fake.requests.append(("POST", self.path, body,
                                      self.headers.get("Authorization", "")))
                if not fake.lora or self.path not in ("/v1/load_lora_adapter",
                                                      "/v1/unload_lora_adapter"):
                    return self._send(404, {"detail": "Not Found"})
                name = body.get("lora_name", "")
                if self.path == "/v1/unload_lora_adapter":
                    if fake.adapters.pop(name, None) is None:
                        return self._send(404, _error(f"The lora adapter '{name}' cannot be "
                                                      "found.", 404))
                    return self._send(200, f"Success: LoRA adapter '{name}' removed "
                                           "successfully.")
                path = body.get("lora_path", "")
                if name in fake.adapters and not (fake.inplace and body.get("load_inplace")):
                    return self._send(400, _error(f"The lora adapter '{name}' has already "
                                                  "been loaded.", 400))
                if fake.check_paths and not (Path(path) / "adapter_config.json").is_file():
                    return self._send(400, _error(f"No adapter found for {path}", 400))
                fake.adapters[name] = path
                return self._send(200, f"Success: LoRA adapter '{name}' added successfully.")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> FakeVllm:
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.shutdown()
        self.server.server_close()


def _error(message: str, code: int) -> dict[str, Any]:
    return {"error": {"message": message, "type": "BadRequestError" if code == 400 else
                      "NotFoundError", "param": None, "code": code}}
