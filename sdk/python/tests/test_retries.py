"""The SDK's retries: 503 and 429 are tried again (after Retry-After), a 400 is not."""

import http.server
import json
import threading
import time

import pytest
import lathe
from lathe._http import Http


def serve(statuses):
    hits = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            hits.append(time.monotonic())
            status = statuses[len(hits) - 1] if len(hits) <= len(statuses) else 200
            body = json.dumps({"ok": True} if status == 200 else {"status": status, "detail": "busy", "field": "x"}).encode()
            self.send_response(status)
            if status == 429:
                self.send_header("Retry-After", "1")
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, hits


def test_busy_answers_are_retried_honouring_retry_after():
    server, hits = serve([503, 429])
    try:
        h = Http(f"http://127.0.0.1:{server.server_port}", "tml-x")
        assert h.request("POST", "/anything", {}) == {"ok": True}
        assert len(hits) == 3
        assert hits[2] - hits[1] >= 0.9
    finally:
        server.shutdown()


def test_a_bad_request_is_not_retried_and_keeps_its_details():
    server, hits = serve([400])
    try:
        h = Http(f"http://127.0.0.1:{server.server_port}", "tml-x")
        with pytest.raises(lathe.APIStatusError) as e:
            h.request("POST", "/anything", {})
        assert len(hits) == 1
        assert e.value.status == 400 and e.value.field == "x" and e.value.problem["detail"] == "busy"
    finally:
        server.shutdown()
