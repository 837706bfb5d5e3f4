//! Stage 18: the IP allow and deny lists of a route (`ip_whitelist`, `ip_blacklist`).
//!
//! A route may say who is allowed to use it. The course's rule is "the whitelist minus the
//! blacklist": a client passes if the whitelist is empty or names it, and the blacklist does not
//! name it. [`IpLists::allows`] is that rule, written as one predicate.
//!
//! The course compares the client's dotted address with each entry as a string. This module
//! parses every entry once, when the config is loaded, into an [`IpRange`], for three reasons:
//!
//! - a typo (`"127.0.0.l"`) is a config error naming its JSON path, instead of an entry that
//!   silently never matches;
//! - one address has many spellings (`::1`, `0:0:0:0:0:0:0:1`), and the peer of a socket that
//!   listens on `::` arrives as `::ffff:127.0.0.2`, the IPv4-mapped IPv6 form of `127.0.0.2`.
//!   Comparing numbers, with mapped addresses turned back into IPv4, makes them all equal;
//! - an **extension** of ours: an entry may be a CIDR block (`"10.0.0.0/8"`, `"fe80::/10"`),
//!   the form nginx's `allow` and `deny` take, so a whole network is one entry.
//!
//! A plain address is the block of just that address (`/32` for IPv4, `/128` for IPv6), so
//! matching is the same test for both: do the first `prefix` bits agree?

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

/// One entry of a list: an address, or a block of addresses sharing their first `prefix` bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpRange {
    /// The first address of the block (its host bits are zero). IPv4-mapped IPv6 entries are
    /// stored as IPv4.
    network: IpAddr,
    /// How many leading bits a client's address must share with `network`: 0-32 for IPv4,
    /// 0-128 for IPv6.
    prefix: u8,
}

impl IpRange {
    /// True if `ip` is inside the block. An IPv4-mapped IPv6 address is compared as the IPv4
    /// address it carries; an IPv4 block never matches an IPv6 address, nor the other way round.
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.network, canonical(ip)) {
            (IpAddr::V4(network), IpAddr::V4(ip)) => {
                let mask = mask_v4(self.prefix);
                u32::from(ip) & mask == u32::from(network)
            }
            (IpAddr::V6(network), IpAddr::V6(ip)) => {
                let mask = mask_v6(self.prefix);
                u128::from(ip) & mask == u128::from(network)
            }
            _ => false,
        }
    }

    /// The block's leading bits.
    pub fn prefix(&self) -> u8 {
        self.prefix
    }

    /// The block's first address.
    pub fn network(&self) -> IpAddr {
        self.network
    }
}

impl fmt::Display for IpRange {
    /// An address alone when the block is one address, `network/prefix` otherwise.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let whole = match self.network {
            IpAddr::V4(_) => 32,
            IpAddr::V6(_) => 128,
        };
        if self.prefix == whole {
            write!(f, "{}", self.network)
        } else {
            write!(f, "{}/{}", self.network, self.prefix)
        }
    }
}

/// Why an entry is not an address or a block; the text says what was expected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadEntry(String);

impl fmt::Display for BadEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for BadEntry {}

impl FromStr for IpRange {
    type Err = BadEntry;

    /// `"127.0.0.1"`, `"::1"`, `"10.0.0.0/8"`, `"2001:db8::/32"`. Host bits below the prefix
    /// (`"10.1.2.3/8"`) are ignored, as nginx ignores them: the block is `10.0.0.0/8`.
    fn from_str(text: &str) -> Result<IpRange, BadEntry> {
        let (address, prefix) = match text.split_once('/') {
            Some((address, prefix)) => (address, Some(prefix)),
            None => (text, None),
        };
        let address: IpAddr = address.parse().map_err(|_| {
            BadEntry(format!(
                "{text:?} is not an IP address or a CIDR block (e.g. \"127.0.0.1\", \"::1\", \"10.0.0.0/8\")"
            ))
        })?;
        let whole: u8 = match address {
            IpAddr::V4(_) => 32,
            IpAddr::V6(_) => 128,
        };
        let prefix = match prefix {
            None => whole,
            Some(digits) => digits
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= whole && digits.bytes().all(|b| b.is_ascii_digit()))
                .ok_or_else(|| {
                    BadEntry(format!(
                        "{text:?}: the prefix length after '/' must be a number from 0 to {whole}"
                    ))
                })?,
        };
        Ok(IpRange::new(address, prefix))
    }
}

impl IpRange {
    /// The block of `address` with `prefix` leading bits (at most the address's width), host
    /// bits cleared. An IPv4-mapped IPv6 block of at least 96 bits becomes the IPv4 block.
    fn new(address: IpAddr, prefix: u8) -> IpRange {
        if let IpAddr::V6(v6) = address {
            if let Some(v4) = v6.to_ipv4_mapped().filter(|_| prefix >= 96) {
                return IpRange::new(IpAddr::V4(v4), prefix - 96);
            }
        }
        match address {
            IpAddr::V4(v4) => {
                let prefix = prefix.min(32);
                IpRange {
                    network: IpAddr::V4(Ipv4Addr::from(u32::from(v4) & mask_v4(prefix))),
                    prefix,
                }
            }
            IpAddr::V6(v6) => {
                let prefix = prefix.min(128);
                IpRange {
                    network: IpAddr::V6(Ipv6Addr::from(u128::from(v6) & mask_v6(prefix))),
                    prefix,
                }
            }
        }
    }
}

/// A route's two lists, parsed. Both empty (the default) lets everyone in.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IpLists {
    /// When not empty, only these clients may use the route.
    pub whitelist: Vec<IpRange>,
    /// These clients may never use the route, even if whitelisted.
    pub blacklist: Vec<IpRange>,
}

impl IpLists {
    /// The course's rule: (the whitelist is empty or matches `client`) and the blacklist does
    /// not match it.
    pub fn allows(&self, client: IpAddr) -> bool {
        let client = canonical(client);
        let whitelisted =
            self.whitelist.is_empty() || self.whitelist.iter().any(|r| r.contains(client));
        let blacklisted = self.blacklist.iter().any(|r| r.contains(client));
        whitelisted && !blacklisted
    }

    /// True if the route restricts nobody.
    pub fn is_empty(&self) -> bool {
        self.whitelist.is_empty() && self.blacklist.is_empty()
    }
}

/// `ip` with an IPv4-mapped IPv6 address (`::ffff:a.b.c.d`) turned into the IPv4 address.
pub fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    }
}

/// The IPv4 netmask of `prefix` leading one bits (`/0` is no bit at all).
fn mask_v4(prefix: u8) -> u32 {
    u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0)
}

/// The IPv6 netmask of `prefix` leading one bits.
fn mask_v6(prefix: u8) -> u128 {
    u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn range(text: &str) -> IpRange {
        text.parse().unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    fn lists(white: &[&str], black: &[&str]) -> IpLists {
        IpLists {
            whitelist: white.iter().map(|t| range(t)).collect(),
            blacklist: black.iter().map(|t| range(t)).collect(),
        }
    }

    #[test]
    fn addresses_and_blocks_parse() {
        assert_eq!(range("127.0.0.1").to_string(), "127.0.0.1");
        assert_eq!(range("127.0.0.1").prefix(), 32);
        assert_eq!(range("::1").prefix(), 128);
        assert_eq!(range("0:0:0:0:0:0:0:1"), range("::1"));
        assert_eq!(range("10.0.0.0/8").to_string(), "10.0.0.0/8");
        assert_eq!(range("10.1.2.3/8").to_string(), "10.0.0.0/8");
        assert_eq!(range("2001:db8::1/32").to_string(), "2001:db8::/32");
        assert_eq!(range("0.0.0.0/0").to_string(), "0.0.0.0/0");
        assert_eq!(range("::ffff:10.0.0.7"), range("10.0.0.7"));
        assert_eq!(range("::ffff:10.0.0.0/104"), range("10.0.0.0/8"));
    }

    #[test]
    fn bad_entries_say_what_was_expected() {
        for bad in [
            "",
            "localhost",
            "127.0.0.l",
            "127.0.0",
            "256.0.0.1",
            " 127.0.0.1",
            "10.0.0.0/33",
            "10.0.0.0/",
            "10.0.0.0/-1",
            "10.0.0.0/+8",
            "::1/129",
            "10.0.0.0/8/8",
            "*",
        ] {
            let error = bad.parse::<IpRange>().unwrap_err().to_string();
            assert!(error.contains(&format!("{bad:?}")), "{bad}: {error}");
        }
    }

    #[test]
    fn blocks_match_their_addresses_only() {
        let block = range("192.168.1.0/24");
        assert!(block.contains(ip("192.168.1.0")));
        assert!(block.contains(ip("192.168.1.255")));
        assert!(!block.contains(ip("192.168.2.1")));
        assert!(range("0.0.0.0/0").contains(ip("8.8.8.8")));
        assert!(!range("0.0.0.0/0").contains(ip("::1")));
        assert!(range("::/0").contains(ip("2001:db8::1")));
        assert!(range("fe80::/10").contains(ip("febf::1")));
        assert!(!range("fe80::/10").contains(ip("fec0::1")));
        assert!(range("127.0.0.1").contains(ip("127.0.0.1")));
        assert!(!range("127.0.0.1").contains(ip("127.0.0.2")));
        // The course's example puts 0.0.0.0 in a whitelist: it is an address, not "anyone".
        assert!(!range("0.0.0.0").contains(ip("127.0.0.1")));
    }

    #[test]
    fn mapped_clients_are_compared_as_ipv4() {
        assert!(range("127.0.0.2").contains(ip("::ffff:127.0.0.2")));
        assert!(range("127.0.0.0/8").contains(ip("::ffff:127.9.9.9")));
        assert!(!range("::1").contains(ip("127.0.0.1")));
        assert!(!lists(&[], &["127.0.0.2"]).allows(ip("::ffff:127.0.0.2")));
    }

    #[test]
    fn whitelist_minus_blacklist() {
        let open = IpLists::default();
        assert!(open.is_empty());
        assert!(open.allows(ip("203.0.113.9")));

        let white = lists(&["127.0.0.1"], &[]);
        assert!(white.allows(ip("127.0.0.1")));
        assert!(!white.allows(ip("127.0.0.2")));

        let black = lists(&[], &["127.0.0.2"]);
        assert!(black.allows(ip("127.0.0.1")));
        assert!(!black.allows(ip("127.0.0.2")));

        // The course's milestone: whitelisted and blacklisted at once is denied.
        let both = lists(&["127.0.0.1", "127.0.0.2"], &["127.0.0.2"]);
        assert!(both.allows(ip("127.0.0.1")));
        assert!(!both.allows(ip("127.0.0.2")));
        assert!(!both.allows(ip("127.0.0.3")));

        let network_but_one = lists(&["10.0.0.0/8"], &["10.0.0.13"]);
        assert!(network_but_one.allows(ip("10.200.0.1")));
        assert!(!network_but_one.allows(ip("10.0.0.13")));
        assert!(!network_but_one.allows(ip("11.0.0.1")));
    }
}
