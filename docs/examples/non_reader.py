#!/usr/bin/env python3
"""A client that asks for a big file and then stops reading.

Sends GET PATH (default /big.bin) to 127.0.0.1:PORT (default 8001) and reads nothing for WAIT
seconds (default 10), so the server's socket buffer, and then whatever it queues, fills up and
stays full. Then it reads what reached it and says how the connection ended: a server with a
send timeout has reset it (RST); one without it is still sending.

    python3 docs/examples/non_reader.py [PATH] [PORT] [WAIT]
"""

import socket
import sys
import time

PATH = sys.argv[1] if len(sys.argv) > 1 else "/big.bin"
PORT = int(sys.argv[2]) if len(sys.argv) > 2 else 8001
WAIT = float(sys.argv[3]) if len(sys.argv) > 3 else 10

s = socket.create_connection(("127.0.0.1", PORT))
s.sendall(f"GET {PATH} HTTP/1.1\r\nHost: localhost\r\n\r\n".encode())
print(f"asked for {PATH}; not reading for {WAIT:g} s", flush=True)
time.sleep(WAIT)
s.settimeout(2)
got = 0
try:
    while True:
        data = s.recv(1 << 20)
        if not data:
            print(f"read {got} bytes, then the server closed the connection")
            break
        got += len(data)
except ConnectionResetError:
    print(f"read {got} bytes, then: connection reset by the server")
except socket.timeout:
    print(f"read {got} bytes; the server is still sending (no send timeout)")
