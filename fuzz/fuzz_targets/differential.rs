//! Fuzz target `differential`: our parser against `httparse`, the parser under hyper.
//!
//! Whenever both accept a complete head from the same bytes, they must agree on the method, the
//! request target, the version, every header (name and value, in order) and where the head ends.
//!
//! Only heads that both accept are compared, because ours is deliberately stricter and refuses
//! what `httparse` lets through for its caller to judge: methods other than the course's eight,
//! HTTP/1.1 without exactly one non-empty `Host`, a bad or conflicting `Content-Length`, an
//! unknown `Transfer-Encoding` or one next to a `Content-Length`, and non-ASCII bytes in the
//! target. `httparse` refuses some heads ours takes (several spaces between the parts of the
//! request line, more headers than its array holds); those are not compared either.
//!
//! Two representations differ on purpose and are mapped before comparing: our header values are
//! Rust strings, so bytes that are not UTF-8 become U+FFFD (`httparse` keeps the raw bytes); and
//! our values have trailing blanks trimmed (RFC 9110 §5.5), which `httparse` also does.

#![no_main]

use libfuzzer_sys::fuzz_target;
use phase2::http::{parse, Parse};

fuzz_target!(|data: &[u8]| {
    let Ok(Parse::Complete { request, used }) = parse(data) else {
        return;
    };
    let mut fields = [httparse::EMPTY_HEADER; 128];
    let mut theirs = httparse::Request::new(&mut fields);
    let Ok(httparse::Status::Complete(their_used)) = theirs.parse(data) else {
        return;
    };

    assert_eq!(theirs.method, Some(request.method.as_str()), "method");
    assert_eq!(theirs.path, Some(request.uri.as_str()), "target");
    let version = match request.http_version.as_str() {
        "1.0" => 0,
        "1.1" => 1,
        other => panic!("version {other:?}"),
    };
    assert_eq!(theirs.version, Some(version), "version");
    assert_eq!(theirs.headers.len(), request.headers.len(), "header count");
    for (their, our) in theirs.headers.iter().zip(request.headers.iter()) {
        assert_eq!(their.name, our.name, "header name");
        let their_value = String::from_utf8_lossy(their.value);
        assert_eq!(their_value, our.value, "value of {}", our.name);
    }
    assert_eq!(their_used, used, "end of the head");
});
