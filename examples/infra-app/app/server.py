"""The inventory service: answers stock counts over HTTP."""

import json
import os
from http.server import BaseHTTPRequestHandler, HTTPServer

STOCK = {"widget": 12, "gadget": 3}


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        item = self.path.strip("/")
        body = json.dumps({"item": item, "count": STOCK.get(item, 0)}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body)


if __name__ == "__main__":
    port = int(os.environ.get("PORT", "8080"))
    HTTPServer(("0.0.0.0", port), Handler).serve_forever()
