//! Micro-benchmarks of the two pieces of HTTP every request goes through: the request parser and
//! the response head.
//!
//! `cargo xtask bench` measures the whole server under load, where the kernel, the network stack
//! and the scheduler dominate; these isolate the code the course has students write by hand, so a
//! change to the parser's state machine or to the head builder shows up here even when it is lost
//! in the noise of a wrk run. Run them with `cargo bench -p phase2` (criterion keeps the previous
//! run and reports the change).
//!
//! The inputs are fixed: a browser's GET head (about 500 bytes, the common case for a page), the
//! tiny head curl sends, and the same browser head fed one byte at a time (the worst case the
//! resumable parser must survive: every call returns `Partial` until the last byte).

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use phase2::http::{parse, Parse, RequestParser, Response, StatusCode};

/// A typical head from a desktop browser.
const BROWSER_GET: &[u8] = b"GET /docs/index.html?lang=en HTTP/1.1\r\n\
Host: localhost:8001\r\n\
Connection: keep-alive\r\n\
sec-ch-ua: \"Chromium\";v=\"124\", \"Not-A.Brand\";v=\"99\"\r\n\
sec-ch-ua-mobile: ?0\r\n\
sec-ch-ua-platform: \"Linux\"\r\n\
Upgrade-Insecure-Requests: 1\r\n\
User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36\r\n\
Accept: text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8\r\n\
Sec-Fetch-Site: none\r\n\
Sec-Fetch-Mode: navigate\r\n\
Sec-Fetch-User: ?1\r\n\
Sec-Fetch-Dest: document\r\n\
Accept-Encoding: gzip, deflate, br\r\n\
Accept-Language: en-US,en;q=0.9\r\n\
\r\n";

/// What `curl http://localhost:8001/sample.txt` sends.
const CURL_GET: &[u8] =
    b"GET /sample.txt HTTP/1.1\r\nHost: localhost:8001\r\nUser-Agent: curl/7.88.1\r\nAccept: */*\r\n\r\n";

/// Panics (in the benchmark only) unless `result` is a complete request: a benchmark of a parser
/// that quietly fails would measure the error path.
fn expect_complete(result: Result<Parse, phase2::http::ParseError>) -> Parse {
    match result {
        Ok(parse @ Parse::Complete { .. }) => parse,
        other => panic!("the benchmark input did not parse: {other:?}"),
    }
}

fn parser(c: &mut Criterion) {
    let mut group = c.benchmark_group("parser");
    for (name, input) in [("browser GET", BROWSER_GET), ("curl GET", CURL_GET)] {
        group.throughput(Throughput::Bytes(input.len() as u64));
        group.bench_function(name, |b| {
            b.iter(|| expect_complete(parse(black_box(input))))
        });
    }
    group.throughput(Throughput::Bytes(BROWSER_GET.len() as u64));
    group.bench_function("browser GET, one byte at a time", |b| {
        b.iter(|| {
            let mut parser = RequestParser::new();
            let (last, head) = BROWSER_GET.split_last().expect("the input is not empty");
            for byte in head.chunks(1) {
                match parser.feed(black_box(byte)) {
                    Ok(Parse::Partial) => {}
                    other => panic!("the head ended early: {other:?}"),
                }
            }
            expect_complete(parser.feed(std::slice::from_ref(black_box(last))))
        })
    });
    group.finish();
}

fn response_head(c: &mut Criterion) {
    let mut group = c.benchmark_group("response head");
    group.bench_function("200 file head", |b| {
        b.iter(|| {
            let mut response = Response::new(black_box(StatusCode::OK));
            response.set_header("Content-Type", "text/plain");
            response.set_content_length(black_box(1024));
            response.remove_header("Connection");
            response.serialize_head()
        })
    });
    group.bench_function("404 error page", |b| {
        b.iter(|| Response::error(black_box(StatusCode::NOT_FOUND)).serialize(true))
    });
    group.finish();
}

criterion_group!(benches, parser, response_head);
criterion_main!(benches);
