#!/usr/bin/env python3
"""mariadb_strip_tls.py SOCKET PORTFILE LOGFILE: a man in the middle that
strips TLS from MariaDB, for tests of the clients' TLS settings.

It reads the greeting of the real server at SOCKET (a Unix socket), clears
CLIENT_SSL from its capability flags, and serves that greeting to whoever
connects to it on 127.0.0.1 (a free port, written to PORTFILE).  What each
client answers is logged, one line per connection, to LOGFILE:

  ssl-request          the client asked for TLS anyway (it refuses to go on
                       without it, or the server does not matter to it)
  plaintext-auth USER  the client sent its user name and password proof in
                       clear text: it fell back to plain text
  closed               the client hung up without a word: it refused

A client that verifies the server's certificate must hang up; one that
does not falls back to plain text in front of this server.
"""
import os
import socket
import struct
import sys

CLIENT_SSL = 0x0800


def read_packet(sock):
    head = b""
    while len(head) < 4:
        chunk = sock.recv(4 - len(head))
        if not chunk:
            return None
        head += chunk
    length = head[0] | head[1] << 8 | head[2] << 16
    body = b""
    while len(body) < length:
        chunk = sock.recv(length - len(body))
        if not chunk:
            return None
        body += chunk
    return head[3], body


def stripped_greeting(path):
    real = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    real.connect(path)
    seq, body = read_packet(real)
    real.close()
    # protocol version, server version (NUL-terminated), connection id (4),
    # auth data part 1 (8), filler (1), then the lower capability flags.
    at = body.index(b"\0", 1) + 1 + 4 + 8 + 1
    caps = struct.unpack_from("<H", body, at)[0] & ~CLIENT_SSL
    body = body[:at] + struct.pack("<H", caps) + body[at + 2:]
    return struct.pack("<I", len(body))[:3] + bytes([seq]) + body


def main():
    sock_path, port_file, log_file = sys.argv[1:4]
    greeting = stripped_greeting(sock_path)
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    with open(port_file + ".tmp", "w") as f:
        f.write("%d\n" % server.getsockname()[1])
    os.rename(port_file + ".tmp", port_file)
    while True:
        conn, _ = server.accept()
        conn.settimeout(10)
        try:
            conn.sendall(greeting)
            answer = read_packet(conn)
        except OSError:
            answer = None
        finally:
            conn.close()
        if answer is None:
            line = "closed"
        elif len(answer[1]) == 32:
            line = "ssl-request"
        else:
            # capabilities (4), max packet (4), charset (1), filler (23),
            # then the user name, NUL-terminated.
            user = answer[1][32:].split(b"\0", 1)[0].decode("ascii", "replace")
            line = "plaintext-auth " + user
        with open(log_file, "a") as f:
            f.write(line + "\n")


if __name__ == "__main__":
    main()
