#!/usr/bin/env python3
"""Build the seed corpora of the fuzz targets from the requests and paths the tests use.

Run from fuzz/: `python3 seeds/make_corpus.py OUT_DIR` writes OUT_DIR/<target>/<sha1> files;
`cargo fuzz cmin` then keeps the ones that add coverage (see README.md).

Seeds come from string literals in the parser's unit tests, the phase-2 integration tests and the
benchmarks (request heads: literals that contain `HTTP/1.`), and from the resolver's tests (paths:
literals that start with `/`). Literals with `{` are format strings and are skipped.
"""
import hashlib
import pathlib
import re
import sys

REPO = pathlib.Path(__file__).resolve().parents[2]
LITERAL = re.compile(r'(b?)"((?:[^"\\]|\\.)*)"', re.S)


def unescape(body):
    """Rust string escapes -> bytes (\\r \\n \\t \\0 \\\\ \\" \\xNN \\u{...}, line continuations)."""
    out = bytearray()
    i = 0
    while i < len(body):
        c = body[i]
        if c != "\\":
            out += c.encode()
            i += 1
            continue
        e = body[i + 1]
        i += 2
        if e in "rnt0\\\"'":
            out += {"r": b"\r", "n": b"\n", "t": b"\t", "0": b"\0"}.get(e, e.encode())
        elif e == "x":
            out.append(int(body[i : i + 2], 16))
            i += 2
        elif e == "u":
            end = body.index("}", i)
            out += chr(int(body[i + 1 : end], 16)).encode()
            i = end + 1
        elif e == "\n":
            while i < len(body) and body[i] in " \t\n":
                i += 1
    return bytes(out)


def literals(paths):
    for path in paths:
        for match in LITERAL.finditer(path.read_text()):
            if "{" in match.group(2):
                continue
            yield unescape(match.group(2))


def write(directory, seeds):
    directory.mkdir(parents=True, exist_ok=True)
    for seed in sorted(set(seeds)):
        (directory / hashlib.sha1(seed).hexdigest()).write_bytes(seed)
    print(directory, len(set(seeds)))


def main():
    out = pathlib.Path(sys.argv[1])
    sources = [REPO / "phase2/src/http/parser.rs", REPO / "phase2/benches/http.rs"]
    sources += sorted((REPO / "phase2/tests").glob("*.rs"))
    heads = [s for s in literals(sources) if b"HTTP/1." in s and len(s) < 4096]
    write(out / "differential", heads)
    # The parser target's first four bytes choose the head limit and the piece sizes: each head
    # once whole and once cut into small pieces.
    write(out / "parser", [b"\0\0\0\0" + h for h in heads] + [b"\0\1\3\7" + h for h in heads])
    paths = [
        s
        for s in literals([REPO / "phase2/src/resolve.rs", REPO / "phase2/src/beneath.rs"])
        if s.startswith(b"/") and len(s) < 512
    ]
    # The names of the fuzz target's own folder, links out of it among them.
    paths += [
        p.encode()
        for p in [
            "/out.txt", "/outdir/secret.txt", "/up/secret.txt", "/abs.txt", "/subin/out.txt",
            "/sub/out.txt", "/loop", "/dangling", "/deep/x/y/z.txt", "/with%20space.txt",
            "/caf%C3%A9.txt", "/100%25.txt", "/site/", "/sub", "/up/public/a.txt", "/in.txt",
        ]
    ]
    write(out / "resolve", paths)


if __name__ == "__main__":
    main()
