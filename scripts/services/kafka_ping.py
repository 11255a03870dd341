#!/usr/bin/env python3
"""Asks a Kafka-protocol broker for its API versions (ApiVersions v0, api key 18).

Usage: kafka_ping.py HOST:PORT [TIMEOUT_SECONDS]
Exits 0 and prints how many APIs the broker offers when it answers with error code 0;
exits 1 with the reason otherwise. Standard library only.
"""
import socket
import struct
import sys


def ping(host: str, port: int, timeout: float) -> int:
    client_id = b"bosun-services"
    correlation_id = 0x0B05
    body = struct.pack(">hhih", 18, 0, correlation_id, len(client_id)) + client_id
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.settimeout(timeout)
        sock.sendall(struct.pack(">i", len(body)) + body)
        header = _read_exactly(sock, 4)
        (size,) = struct.unpack(">i", header)
        payload = _read_exactly(sock, size)
    got_correlation, error_code, count = struct.unpack(">ihi", payload[:10])
    if got_correlation != correlation_id:
        raise RuntimeError(f"correlation id {got_correlation} != {correlation_id}")
    if error_code != 0:
        raise RuntimeError(f"ApiVersions error code {error_code}")
    return count


def _read_exactly(sock: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise RuntimeError("connection closed before a full response")
        data += chunk
    return data


def main() -> int:
    if len(sys.argv) < 2:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    host, _, port = sys.argv[1].rpartition(":")
    timeout = float(sys.argv[2]) if len(sys.argv) > 2 else 3.0
    try:
        count = ping(host or "127.0.0.1", int(port), timeout)
    except (OSError, RuntimeError, struct.error) as err:
        print(f"no Kafka answer from {sys.argv[1]}: {err}", file=sys.stderr)
        return 1
    print(f"Kafka ApiVersions answered by {sys.argv[1]}: {count} APIs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
