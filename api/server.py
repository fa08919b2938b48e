"""The HTTP protocol `python -m api` gives uvicorn: its answer to a request it cannot parse
(a `Content-Length: abc`, a broken request line) is the API's error envelope."""

from __future__ import annotations

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from api.errors import envelope


class ApiHttpProtocol(HttpToolsProtocol):
    def send_400_response(self, msg: str) -> None:
        # uvicorn has logged its own line ("Invalid HTTP request received.") already.
        response = envelope(400, "bad_request", "invalid HTTP request")
        head = [b"HTTP/1.1 400 Bad Request\r\n"]
        for name, value in [*self.server_state.default_headers, *response.raw_headers]:
            head.append(name + b": " + value + b"\r\n")
        head.append(b"connection: close\r\n\r\n")
        self.transport.write(b"".join(head) + response.body)
        self.transport.close()
