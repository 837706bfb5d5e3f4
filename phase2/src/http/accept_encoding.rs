//! `Accept-Encoding`: may this client be sent a gzip body? (stage 19, RFC 9110 §12.5.3)
//!
//! A client lists the content codings it can undo, each with an optional weight `q` from 0 to 1:
//!
//! ```text
//! Accept-Encoding: gzip, deflate, br           <- gzip is fine (q defaults to 1)
//! Accept-Encoding: br;q=1.0, gzip;q=0.5, *;q=0 <- gzip is fine, anything unlisted is not
//! Accept-Encoding: gzip;q=0                    <- "never send me gzip"
//! Accept-Encoding: *                           <- any coding, gzip included
//! ```
//!
//! The server sends gzip only when the client said so: `gzip` (or its old alias `x-gzip`) listed
//! with a weight above zero, or, when gzip is not named, `*` with a weight above zero. A request
//! without the header gets the body as it is: RFC 9110 would allow any coding then, but a client
//! that sends no `Accept-Encoding` (`curl` without `--compressed`, `nc`) usually cannot undo one,
//! and nginx does not compress for it either.
//!
//! Coding names are case-insensitive and spaces around the commas and semicolons are allowed. A
//! weight that is not a valid `qvalue` (`q=high`, `q=2`, `q=0.5555`) counts as 0: when in
//! doubt, do not compress, since an uncompressed body is always understood.

/// Does a request with these `Accept-Encoding` values (every such header, in order) accept a
/// gzip body?
pub fn accepts_gzip<'a>(values: impl IntoIterator<Item = &'a str>) -> bool {
    let mut gzip = None;
    let mut any = None;
    for value in values {
        for item in value.split(',') {
            let mut parts = item.split(';');
            let coding = parts.next().unwrap_or("").trim();
            if coding.is_empty() {
                continue;
            }
            let weight = weight(parts);
            if coding.eq_ignore_ascii_case("gzip") || coding.eq_ignore_ascii_case("x-gzip") {
                // Listed twice: the higher weight wins (a lenient reading of a broken list).
                gzip = Some(gzip.map_or(weight, |w: u16| w.max(weight)));
            } else if coding == "*" {
                any = Some(any.map_or(weight, |w: u16| w.max(weight)));
            }
        }
    }
    // A coding named outright overrides the wildcard.
    gzip.or(any).is_some_and(|weight| weight > 0)
}

/// The weight of one list member in thousandths: 1000 without a `q` parameter, 0 for an invalid
/// one. Other parameters are ignored.
fn weight<'a>(params: impl Iterator<Item = &'a str>) -> u16 {
    for param in params {
        let Some((name, value)) = param.split_once('=') else {
            continue;
        };
        if name.trim().eq_ignore_ascii_case("q") {
            return qvalue(value.trim()).unwrap_or(0);
        }
    }
    1000
}

/// A `qvalue` (`0`, `0.5`, `0.125`, `1`, `1.000`) in thousandths; `None` if it is not one.
fn qvalue(text: &str) -> Option<u16> {
    let (whole, fraction) = match text.split_once('.') {
        Some((whole, fraction)) => (whole, fraction),
        None => (text, ""),
    };
    if fraction.len() > 3 || !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let thousandths = format!("{fraction:0<3}").parse::<u16>().ok()?;
    match whole {
        "0" => Some(thousandths),
        "1" if thousandths == 0 => Some(1000),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accepts(value: &str) -> bool {
        accepts_gzip([value])
    }

    #[test]
    fn plain_lists() {
        assert!(accepts("gzip"));
        assert!(accepts("gzip, deflate"));
        assert!(accepts("deflate, gzip, br"));
        assert!(accepts("x-gzip"));
        assert!(!accepts("deflate, br"));
        assert!(!accepts(""));
        assert!(!accepts("identity"));
    }

    #[test]
    fn a_missing_header_refuses() {
        assert!(!accepts_gzip([]));
    }

    #[test]
    fn names_are_case_insensitive_and_spaces_are_allowed() {
        assert!(accepts("GZIP"));
        assert!(accepts("  Gzip ;  q=0.5 ,br"));
        assert!(accepts("br,gzip"));
        assert!(accepts("gzip ; Q = 1"));
    }

    #[test]
    fn a_zero_weight_refuses() {
        assert!(!accepts("gzip;q=0"));
        assert!(!accepts("gzip; q=0.000"));
        assert!(!accepts("deflate, gzip;q=0"));
        assert!(accepts("gzip;q=0.001"));
        assert!(accepts("gzip;q=1.000"));
    }

    #[test]
    fn the_wildcard_counts_only_when_gzip_is_not_named() {
        assert!(accepts("*"));
        assert!(accepts("br, *;q=0.1"));
        assert!(!accepts("*;q=0"));
        assert!(!accepts("gzip;q=0, *"));
        assert!(accepts("gzip;q=0.5, *;q=0"));
    }

    #[test]
    fn invalid_weights_count_as_zero() {
        for bad in [
            "q=", "q=high", "q=2", "q=1.5", "q=0.5555", "q=-1", "q=.5", "q=0.5x",
        ] {
            assert!(!accepts(&format!("gzip;{bad}")), "{bad}");
        }
        // A parameter that is not q does not change the weight.
        assert!(accepts("gzip;level=9"));
    }

    #[test]
    fn several_headers_are_one_list() {
        assert!(accepts_gzip(["deflate", "gzip"]));
        assert!(!accepts_gzip(["deflate", "br"]));
        assert!(!accepts_gzip(["*", "gzip;q=0"]));
    }

    #[test]
    fn qvalues() {
        assert_eq!(qvalue("0"), Some(0));
        assert_eq!(qvalue("0.5"), Some(500));
        assert_eq!(qvalue("0.125"), Some(125));
        assert_eq!(qvalue("1"), Some(1000));
        assert_eq!(qvalue("1."), Some(1000));
        assert_eq!(qvalue("1.001"), None);
        assert_eq!(qvalue("01"), None);
    }
}
