"""A minimal Language Server Protocol client over stdio: enough to open YAML documents in the real
yaml-language-server and collect the diagnostics it publishes."""

from __future__ import annotations

import json
import os
import queue
import subprocess
import threading
from pathlib import Path
from typing import Any, Optional

ROOT = Path(__file__).resolve().parents[2]
SERVER = ROOT / ".cache" / "npm" / "node_modules" / "yaml-language-server" / "bin" / "yaml-language-server"
INSTALL_HINT = "run `make yaml-language-server` (npm install --prefix .cache/npm yaml-language-server@…)"
# Nothing from outside: no schema store, no schema fetched over the network.
SETTINGS = {"yaml": {"validate": True, "hover": True, "completion": True, "schemaStore": {"enable": False},
                     "schemas": {}, "format": {"enable": False}}}


class LanguageServer:
    """`node yaml-language-server --stdio`, with every outside connection refused (loopback_only.js)."""

    def __init__(self, root: Path) -> None:
        if not SERVER.exists():
            raise FileNotFoundError(f"{SERVER} is missing: {INSTALL_HINT}")
        preload = Path(__file__).with_name("loopback_only.js")
        self.process = subprocess.Popen(
            ["node", "--require", str(preload), str(SERVER), "--stdio"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=root,
        )
        self.messages: queue.Queue[dict[str, Any]] = queue.Queue()
        self.stderr: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()
        threading.Thread(target=lambda: self.stderr.extend(line.decode(errors="replace") for line in self.process.stderr or []),
                         daemon=True).start()
        self.next_id = 0
        self.request("initialize", {
            "processId": os.getpid(), "rootUri": root.as_uri(), "workspaceFolders": [{"uri": root.as_uri(), "name": "w"}],
            "capabilities": {"workspace": {"configuration": True, "didChangeConfiguration": {"dynamicRegistration": False}},
                             "textDocument": {"publishDiagnostics": {}, "synchronization": {}}},
        })
        self.notify("initialized", {})
        self.notify("workspace/didChangeConfiguration", {"settings": SETTINGS})

    def _send(self, message: dict[str, Any]) -> None:
        body = json.dumps({"jsonrpc": "2.0", **message}).encode()
        assert self.process.stdin is not None
        self.process.stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
        self.process.stdin.flush()

    def _read(self) -> None:
        out = self.process.stdout
        assert out is not None
        while True:
            length = 0
            while (line := out.readline()) not in (b"\r\n", b""):
                name, _, value = line.decode().partition(":")
                if name.lower() == "content-length":
                    length = int(value)
            if not line:
                return
            self.messages.put(json.loads(out.read(length)))

    def notify(self, method: str, params: Any) -> None:
        self._send({"method": method, "params": params})

    def request(self, method: str, params: Any, timeout: float = 30) -> Any:
        self.next_id += 1
        self._send({"id": self.next_id, "method": method, "params": params})
        return self._wait(lambda m: m.get("id") == self.next_id and "method" not in m, timeout)["result"]

    def diagnostics(self, path: Path, timeout: float = 30) -> list[dict[str, Any]]:
        """Open `path` (its text as on disk) and return the first diagnostics published for it."""
        uri = path.as_uri()
        self.notify("textDocument/didOpen", {"textDocument": {"uri": uri, "languageId": "yaml", "version": 1,
                                                               "text": path.read_text("utf-8")}})
        message = self._wait(lambda m: m.get("method") == "textDocument/publishDiagnostics" and m["params"]["uri"] == uri, timeout)
        return list(message["params"]["diagnostics"])

    def _wait(self, wanted: Any, timeout: float) -> dict[str, Any]:
        while True:
            try:
                message = self.messages.get(timeout=timeout)
            except queue.Empty:
                raise TimeoutError(f"yaml-language-server said nothing for {timeout} s; stderr: {''.join(self.stderr)[-2000:]}") from None
            if "method" in message and "id" in message:  # a request from the server: answer it
                self._send({"id": message["id"], "result": self._answer(message)})
            elif wanted(message):
                return message

    @staticmethod
    def _answer(message: dict[str, Any]) -> Optional[Any]:
        if message["method"] == "workspace/configuration":
            return [SETTINGS.get(item.get("section", ""), {}) for item in message["params"]["items"]]
        return None

    def close(self) -> None:
        try:
            self.request("shutdown", None, timeout=10)
            self.notify("exit", None)
            self.process.wait(timeout=10)
        except Exception:
            self.process.kill()
            self.process.wait()
