//! Property tests for the request parser: it never panics, whatever it is fed, and it gives the
//! same answer however the input is split into pieces.

use phase2::http::{parse, Parse, ParseError, Request, RequestParser};
use proptest::prelude::*;

/// Valid heads covering every path through the machine (absolute form, query, bare LF, empty
/// values, leading blank lines, a body after the head).
const VALID: &[&[u8]] = &[
    b"GET /cat.jpg HTTP/1.1\r\nHost: c:8001\r\nUser-Agent: TestClient/1.0\r\nAccept: image/jpeg\r\nConnection: close\r\n\r\n",
    b"GET / HTTP/1.0\r\n\r\n",
    b"\r\nHEAD /a?b=c#d HTTP/1.1\nhost: x\n\n",
    b"POST http://Example.com:8080/p/q?x HTTP/1.1\r\nHost: e\r\nContent-Length: 4\r\n\r\nbody",
    b"OPTIONS https://a.b HTTP/1.0\r\nX-Empty:\r\nY:   spaced value \t\r\n\r\n",
    b"DELETE //x//y HTTP/1.1\r\nHost: h\r\nX_Token-1: \xc3\xa9\r\n\r\nGET /next HTTP/1.1\r\n",
    b"CONNECT http://h:1 HTTP/1.1\r\nHost: h:1\r\n\r\n",
    b"TRACE /%2e%2e/x HTTP/1.1\r\nHost: a\r\nContent-Length: 3, 3\r\n\r\n",
];

/// Feed `input` in the given pieces; return the outcome and the bytes the head took.
fn feed_pieces(input: &[u8], cuts: &[usize]) -> Result<Option<(Request, usize)>, ParseError> {
    let mut parser = RequestParser::new();
    let mut start = 0;
    let mut bounds: Vec<usize> = cuts.iter().map(|&c| c.min(input.len())).collect();
    bounds.sort_unstable();
    bounds.push(input.len());
    for end in bounds {
        if end < start {
            continue;
        }
        match parser.feed(&input[start..end])? {
            Parse::Partial => start = end,
            Parse::Complete { request, used } => {
                assert!(used <= end - start, "used more than it was given");
                return Ok(Some((request, start + used)));
            }
        }
    }
    Ok(None)
}

fn whole(input: &[u8]) -> Result<Option<(Request, usize)>, ParseError> {
    feed_pieces(input, &[])
}

#[test]
fn every_single_split_point_gives_the_same_parse() {
    for input in VALID {
        let expected = whole(input).unwrap().expect("complete");
        assert_eq!(expected.0.header_len, expected.1);
        for cut in 0..=input.len() {
            assert_eq!(
                feed_pieces(input, &[cut]).unwrap().as_ref(),
                Some(&expected),
                "split at {cut} of {:?}",
                String::from_utf8_lossy(input)
            );
        }
        // One byte at a time.
        let cuts: Vec<usize> = (0..input.len()).collect();
        assert_eq!(feed_pieces(input, &cuts).unwrap(), Some(expected));
    }
}

#[test]
fn every_split_point_gives_the_same_error() {
    let bad: &[&[u8]] = &[
        b"GET /index.html\r\nHost: c:8001\r\n\r\n",
        b"GOT /index.html HTTP/1.1\r\nHost: c:8001\r\n\r\n",
        b"GET /index.html HTTP/1.1\r\n\r\n",
        b"GET /index.html HTTX/2.0\r\nHost: c:8001\r\n\r\n",
        b"GET /index.html HTTP/1.1\r\nHost c:8001\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
    ];
    for input in bad {
        let expected = whole(input).unwrap_err();
        for cut in 0..=input.len() {
            assert_eq!(
                feed_pieces(input, &[cut]).unwrap_err(),
                expected,
                "split at {cut}"
            );
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    /// Any bytes at all: no panic, and a complete head never claims more than it was given.
    #[test]
    fn random_bytes_never_panic(input in proptest::collection::vec(any::<u8>(), 0..512)) {
        if let Ok(Parse::Complete { used, request }) = parse(&input) {
            prop_assert!(used <= input.len());
            prop_assert_eq!(used, request.header_len);
        }
    }

    /// Random bytes made mostly of HTTP-ish pieces, so the parser gets deep into its states.
    #[test]
    fn http_like_noise_never_panics(
        parts in proptest::collection::vec(
            prop_oneof![
                Just(&b"GET"[..]), Just(&b" "[..]), Just(&b"/"[..]), Just(&b"HTTP/1.1"[..]),
                Just(&b"\r\n"[..]), Just(&b"\n"[..]), Just(&b"Host: a"[..]), Just(&b":"[..]),
                Just(&b"http://"[..]), Just(&b"?"[..]), Just(&b"Content-Length: 9"[..]),
                Just(&b"\r"[..]), Just(&b"x"[..]), Just(&b"\0"[..]), Just(&b"\xff"[..]),
            ],
            0..40,
        ),
        cuts in proptest::collection::vec(0usize..400, 0..6),
    ) {
        let input: Vec<u8> = parts.concat();
        let all = whole(&input);
        let split = feed_pieces(&input, &cuts);
        prop_assert_eq!(all, split);
    }

    /// Mutations of valid requests (a byte changed, inserted or removed): no panic, and the
    /// answer does not depend on how the input is split.
    #[test]
    fn mutated_requests_split_anywhere_agree(
        which in 0..VALID.len(),
        at in any::<prop::sample::Index>(),
        byte in any::<u8>(),
        op in 0u8..3,
        cuts in proptest::collection::vec(0usize..300, 0..5),
    ) {
        let mut input = VALID[which].to_vec();
        let i = at.index(input.len());
        match op {
            0 => input[i] = byte,
            1 => input.insert(i, byte),
            _ => { input.remove(i); }
        }
        prop_assert_eq!(whole(&input), feed_pieces(&input, &cuts));
    }

    /// Valid requests with random splits give the parse of the whole.
    #[test]
    fn valid_requests_random_splits(
        which in 0..VALID.len(),
        cuts in proptest::collection::vec(0usize..300, 0..8),
    ) {
        let input = VALID[which];
        prop_assert_eq!(whole(input), feed_pieces(input, &cuts));
    }
}
