//! Stage 21's six timeouts: how long the server waits for each thing a peer may never do.
//!
//! A server that waits for ever can be held hostage by anyone who opens a connection and then
//! does nothing, or does it slowly: a "slowloris" client sends its request head one byte at a
//! time, a client stops reading its answer, an upstream accepts and never answers. Each of those
//! holds a descriptor, pipes and memory for as long as it likes, and a few hundred of them fill
//! the server. Each gets its own clock, because each is a different wait:
//!
//! | key | default | bounds |
//! |---|---|---|
//! | `client_header_timeout_ms` | 10 000 | the whole request head, from the accept (or the first byte of a later request) |
//! | `client_body_timeout_ms` | 10 000 | the gap between two reads of a body being forwarded |
//! | `keep_alive_timeout_ms` | 15 000 | an idle kept-alive connection between requests |
//! | `send_timeout_ms` | 30 000 | the gap between two writes the client takes, while bytes wait for it |
//! | `upstream_connect_timeout_ms` | 5 000 | connecting to an upstream |
//! | `upstream_timeout_ms` | 60 000 | the gap between two reads from an upstream, while an answer is due |
//!
//! All of them are extension keys (the course's config has none), integers in milliseconds at
//! the top level of the config; `0` turns one off. This file holds the values and reads them;
//! `session/timeouts.rs` arms and checks the timers.

use std::time::Duration;

use serde_json::Value;

/// The longest timeout accepted: one hour. Anything longer is more likely a value in the wrong
/// unit (seconds typed as milliseconds the other way round) than a wish.
pub const MAX_TIMEOUT_MS: u64 = 3_600_000;

/// The six timeouts. `Duration::ZERO` means off.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timeouts {
    /// `client_header_timeout_ms`: a total deadline for the request head. Trickling bytes does
    /// not extend it. On expiry: `408 Request Timeout` with `Connection: close`, then close.
    pub client_header: Duration,
    /// `client_body_timeout_ms`: the longest gap between two reads of a forwarded body. On
    /// expiry: close.
    pub client_body: Duration,
    /// `keep_alive_timeout_ms`: how long a kept connection may wait for its next request.
    /// Here `0` means no wait at all, so keep-alive itself is off.
    pub keep_alive: Duration,
    /// `send_timeout_ms`: the longest gap between two writes the client takes while bytes wait
    /// for it. On expiry: reset (RST), dropping everything queued.
    pub send: Duration,
    /// `upstream_connect_timeout_ms`: connecting to an upstream. On expiry: 504.
    pub upstream_connect: Duration,
    /// `upstream_timeout_ms`: the longest gap between two reads from an upstream while its answer
    /// is due. On expiry: 504 if the client has had nothing yet, else close.
    pub upstream: Duration,
}

impl Timeouts {
    /// The defaults of the contract (see the table in the module docs).
    pub const DEFAULT: Timeouts = Timeouts {
        client_header: Duration::from_secs(10),
        client_body: Duration::from_secs(10),
        keep_alive: Duration::from_secs(15),
        send: Duration::from_secs(30),
        upstream_connect: Duration::from_secs(5),
        upstream: Duration::from_secs(60),
    };

    /// The config keys, in the order of the table.
    pub const KEYS: [&'static str; 6] = [
        "client_header_timeout_ms",
        "client_body_timeout_ms",
        "keep_alive_timeout_ms",
        "send_timeout_ms",
        "upstream_connect_timeout_ms",
        "upstream_timeout_ms",
    ];

    fn slot(&mut self, key: &str) -> Option<&mut Duration> {
        Some(match key {
            "client_header_timeout_ms" => &mut self.client_header,
            "client_body_timeout_ms" => &mut self.client_body,
            "keep_alive_timeout_ms" => &mut self.keep_alive,
            "send_timeout_ms" => &mut self.send,
            "upstream_connect_timeout_ms" => &mut self.upstream_connect,
            "upstream_timeout_ms" => &mut self.upstream,
            _ => return None,
        })
    }

    /// Read the six keys from the config's top-level object, each defaulting when absent.
    /// An error is `(key, message)`; the config reader adds the file.
    pub fn from_json(top: &serde_json::Map<String, Value>) -> Result<Timeouts, (String, String)> {
        let mut timeouts = Timeouts::DEFAULT;
        for key in Timeouts::KEYS {
            let Some(value) = top.get(key) else {
                continue;
            };
            let duration = parse_ms(value).map_err(|message| (key.to_string(), message))?;
            if let Some(slot) = timeouts.slot(key) {
                *slot = duration;
            }
        }
        Ok(timeouts)
    }
}

impl Default for Timeouts {
    fn default() -> Timeouts {
        Timeouts::DEFAULT
    }
}

/// `Some(duration)` if the timeout is on, `None` if it is `0` (off).
pub fn enabled(duration: Duration) -> Option<Duration> {
    (!duration.is_zero()).then_some(duration)
}

/// One value: a whole number of milliseconds from 0 to [`MAX_TIMEOUT_MS`].
fn parse_ms(value: &Value) -> Result<Duration, String> {
    let shown = value.to_string();
    match value {
        Value::Number(number) => {
            if let Some(ms) = number.as_u64() {
                if ms <= MAX_TIMEOUT_MS {
                    Ok(Duration::from_millis(ms))
                } else {
                    Err(format!(
                        "{shown} is more than one hour ({MAX_TIMEOUT_MS} ms); write milliseconds"
                    ))
                }
            } else if number.as_i64().is_some() {
                Err(format!(
                    "{shown} is negative; use 0 to turn the timeout off"
                ))
            } else {
                let hint = match number.as_f64() {
                    Some(seconds) if seconds > 0.0 && seconds * 1000.0 <= MAX_TIMEOUT_MS as f64 => {
                        format!(
                            " (the unit is ms: {seconds} s is {})",
                            (seconds * 1000.0).round()
                        )
                    }
                    _ => String::new(),
                };
                Err(format!(
                    "{shown} is not a whole number of milliseconds{hint}"
                ))
            }
        }
        _ => Err(format!(
            "{shown} is not a number of milliseconds (write an integer such as 10000)"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(json: &str) -> Result<Timeouts, (String, String)> {
        let value: Value = serde_json::from_str(json).unwrap();
        Timeouts::from_json(value.as_object().unwrap())
    }

    #[test]
    fn absent_keys_take_the_defaults_and_zero_turns_one_off() {
        assert_eq!(read("{}").unwrap(), Timeouts::DEFAULT);
        let t = read(r#"{"send_timeout_ms": 0, "client_header_timeout_ms": 1000}"#).unwrap();
        assert_eq!(t.send, Duration::ZERO);
        assert_eq!(enabled(t.send), None);
        assert_eq!(t.client_header, Duration::from_secs(1));
        assert_eq!(enabled(t.client_header), Some(Duration::from_secs(1)));
        assert_eq!(t.upstream, Timeouts::DEFAULT.upstream);
        let t = read(r#"{"upstream_timeout_ms": 3600000}"#).unwrap();
        assert_eq!(t.upstream, Duration::from_secs(3600));
    }

    #[test]
    fn bad_values_name_their_key_and_say_why() {
        for (value, why) in [
            ("-1", "negative"),
            ("1.5", "whole number"),
            ("1000.0", "whole number"),
            ("3600001", "more than one hour"),
            ("\"10s\"", "not a number"),
            ("null", "not a number"),
            ("true", "not a number"),
        ] {
            for key in Timeouts::KEYS {
                let (at, message) = read(&format!("{{\"{key}\": {value}}}")).unwrap_err();
                assert_eq!(at, key);
                assert!(message.contains(why), "{value}: {message}");
            }
        }
    }
}
