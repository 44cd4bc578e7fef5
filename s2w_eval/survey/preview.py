"""`survey preview`: serve one batch row's task page on localhost, as the marketplace would show it.

Only 127.0.0.1 is bound, only `/hit`, the clips under `/media/` and the submit endpoint are served (never the
answer key or the manifest), and a request whose Host header is not this machine is refused (DNS rebinding).
Submitting shows the answers as the marketplace records them (`Answer.<name>` columns); the submissions of
this session are also at `/submissions.json`.
"""

from __future__ import annotations

import csv
import html
import json
import mimetypes
import re
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote, unquote, urlsplit

from ..errors import DataError, UsageError
from .build import MEDIA_DIR
from .page import fill_template  # noqa: F401  (re-exported: the tests and older callers import it here)

HOST = "127.0.0.1"
MAX_BODY = 1 << 20
_TYPES = {
    ".wav": "audio/wav",
    ".mp4": "video/mp4",
    ".webm": "video/webm",
    ".ogg": "audio/ogg",
    ".flac": "audio/flac",
    ".mp3": "audio/mpeg",
    ".m4a": "audio/mp4",
    ".mkv": "video/x-matroska",
}


def read_batch(survey_dir: Path) -> tuple[list[str], list[dict[str, str]]]:
    path = survey_dir / "batch.csv"
    if not path.is_file():
        raise UsageError("no batch.csv here", survey_dir, "run `s2w-eval survey build RUN --out DIR` first")
    with open(path, encoding="utf-8-sig", newline="") as fh:
        reader = csv.DictReader(fh)
        rows = list(reader)
        return list(reader.fieldnames or []), rows


class PreviewServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, survey_dir: Path, row: int, port: int = 0):
        self.survey_dir = Path(survey_dir)
        columns, rows = read_batch(self.survey_dir)
        if not rows:
            raise DataError("batch.csv has no task rows", self.survey_dir / "batch.csv")
        if not 1 <= row <= len(rows):
            raise UsageError(
                f"{row} is out of range", fix=f"choose a row between 1 and {len(rows)}", param="row"
            )
        self.row = row
        self.values = {k: (v or "") for k, v in rows[row - 1].items() if k is not None}
        page_path = self.survey_dir / "hit.html"
        if not page_path.is_file():
            raise UsageError("no hit.html here", self.survey_dir, "run `s2w-eval survey build` first")
        self.page = fill_template(page_path.read_text(encoding="utf-8"), self.values, str(page_path)).encode()
        self.submissions: list[dict[str, str]] = []
        self.lock = threading.Lock()
        try:
            super().__init__((HOST, port), _Handler)
        except OSError as exc:
            raise UsageError(
                f"cannot listen on {HOST}:{port} ({exc.strerror})", fix="choose another port", param="port"
            ) from exc

    @property
    def origin(self) -> str:
        return f"http://{HOST}:{self.server_address[1]}"

    @property
    def url(self) -> str:
        task = quote(self.values.get("task_id", f"row{self.row}"), safe="")
        return (
            f"{self.origin}/hit?assignmentId=PREVIEW_ASSIGNMENT&hitId=PREVIEW_HIT_{task}"
            f"&workerId=PREVIEW_WORKER&turkSubmitTo={quote(self.origin, safe='')}"
        )


class _Handler(BaseHTTPRequestHandler):
    server: PreviewServer
    server_version = "s2w-preview"

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def _host_ok(self) -> bool:
        host = (self.headers.get("Host") or "").rsplit(":", 1)[0].strip("[]")
        if host in (HOST, "localhost"):
            return True
        self.send_error(HTTPStatus.FORBIDDEN, "preview answers on 127.0.0.1 only")
        return False

    def _send(self, body: bytes, ctype: str, status: int = 200, extra: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def do_HEAD(self) -> None:  # noqa: N802
        self.do_GET()

    def do_GET(self) -> None:  # noqa: N802
        if not self._host_ok():
            return
        path = urlsplit(self.path).path
        if path == "/":
            self.send_response(HTTPStatus.FOUND)
            self.send_header("Location", self.server.url)
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif path == "/hit":
            self._send(self.server.page, "text/html; charset=utf-8")
        elif path == "/submissions.json":
            with self.server.lock:
                body = json.dumps(self.server.submissions, indent=2).encode()
            self._send(body, "application/json")
        elif path.startswith(f"/{MEDIA_DIR}/"):
            self._media(unquote(path[len(MEDIA_DIR) + 2 :]))
        else:
            self.send_error(HTTPStatus.NOT_FOUND)

    def _media(self, name: str) -> None:
        media_dir = (self.server.survey_dir / MEDIA_DIR).resolve()
        target = (media_dir / name).resolve()
        if "/" in name or "\\" in name or target.parent != media_dir or not target.is_file():
            self.send_error(HTTPStatus.NOT_FOUND)
            return
        data = target.read_bytes()
        ctype = (
            _TYPES.get(target.suffix.lower())
            or mimetypes.guess_type(target.name)[0]
            or "application/octet-stream"
        )
        rng = re.match(r"bytes=(\d*)-(\d*)$", self.headers.get("Range") or "")
        if rng and (rng.group(1) or rng.group(2)):
            size = len(data)
            if rng.group(1):
                start = int(rng.group(1))
                end = min(int(rng.group(2)), size - 1) if rng.group(2) else size - 1
            else:
                start, end = max(0, size - int(rng.group(2))), size - 1
            if start >= size or start > end:
                self.send_response(HTTPStatus.REQUESTED_RANGE_NOT_SATISFIABLE)
                self.send_header("Content-Range", f"bytes */{size}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self._send(
                data[start : end + 1],
                ctype,
                HTTPStatus.PARTIAL_CONTENT,
                {"Content-Range": f"bytes {start}-{end}/{size}", "Accept-Ranges": "bytes"},
            )
        else:
            self._send(data, ctype, extra={"Accept-Ranges": "bytes"})

    def do_POST(self) -> None:  # noqa: N802
        if not self._host_ok():
            return
        if urlsplit(self.path).path != "/mturk/externalSubmit":
            self.send_error(HTTPStatus.NOT_FOUND)
            return
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            self.send_error(HTTPStatus.REQUEST_ENTITY_TOO_LARGE)
            return
        fields = parse_qsl(self.rfile.read(length).decode("utf-8", "replace"), keep_blank_values=True)
        record = {"AssignmentId": "", **{f"Input.{k}": v for k, v in self.server.values.items()}}
        for k, v in fields:
            if k == "assignmentId":
                record["AssignmentId"] = v
            else:
                record[f"Answer.{k}"] = v
        with self.server.lock:
            self.server.submissions.append(record)
        rows = "\n".join(
            f"<tr><td>{html.escape(k)}</td><td>{html.escape(v)}</td></tr>"
            for k, v in record.items()
            if not k.startswith("Input.")
        )
        body = (
            "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>Submitted</title>"
            "<meta name='viewport' content='width=device-width, initial-scale=1'></head><body>"
            "<h1>Submitted</h1><p>The marketplace would record these columns:</p>"
            f"<table id='answers' border='1' cellpadding='4'><tr><th>column</th><th>value</th></tr>{rows}"
            "</table><p><a href='/'>Try again</a></p></body></html>"
        ).encode()
        self._send(body, "text/html; charset=utf-8")


def make_server(survey_dir: str | Path, row: int = 1, port: int = 0) -> PreviewServer:
    return PreviewServer(Path(survey_dir), row, port)


def serve_in_thread(server: PreviewServer) -> threading.Thread:
    t = threading.Thread(target=server.serve_forever, name="s2w-preview", daemon=True)
    t.start()
    return t
