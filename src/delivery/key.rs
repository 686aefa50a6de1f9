//! A row's identity: its content, not its position. A user who fixes failed rows in the
//! input and runs again sends exactly those; rows that moved or were re-sorted are still
//! recognised as delivered.

use std::fmt;

use xxhash_rust::xxh3::Xxh3;

/// 128-bit hash of (ticketId, message). XXH3 is a fixed, documented algorithm, so a journal
/// written by one build is read correctly by the next; 128 bits make an accidental
/// collision between two rows of a job practically impossible.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RowKey(pub u128);

impl RowKey {
    pub fn of(ticket_id: &str, message: &str) -> Self {
        let mut hasher = Xxh3::new();
        hasher.update(ticket_id.as_bytes());
        // The separator keeps ("ab", "c") and ("a", "bc") apart.
        hasher.update(&[0]);
        hasher.update(message.as_bytes());
        RowKey(hasher.digest128())
    }

    /// The key of the `n`-th repeat (n ≥ 1) of the same row, for inputs where duplicates
    /// were allowed on purpose: each copy is its own delivery.
    pub fn nth(self, n: u32) -> Self {
        let mut hasher = Xxh3::new();
        hasher.update(&self.0.to_le_bytes());
        hasher.update(&n.to_le_bytes());
        RowKey(hasher.digest128())
    }

    pub fn parse(hex: &str) -> Option<Self> {
        if hex.len() != 32 {
            return None;
        }
        u128::from_str_radix(hex, 16).ok().map(RowKey)
    }
}

impl fmt::Display for RowKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:032x}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn depends_on_both_fields_and_their_boundary() {
        let key = RowKey::of("tic_1", "Hello");
        assert_eq!(key, RowKey::of("tic_1", "Hello"));
        assert_ne!(key, RowKey::of("tic_2", "Hello"));
        assert_ne!(key, RowKey::of("tic_1", "Hello!"));
        assert_ne!(RowKey::of("ab", "c"), RowKey::of("a", "bc"));
        assert_ne!(key.nth(1), key);
        assert_ne!(key.nth(1), key.nth(2));
        assert_eq!(key.nth(1), RowKey::of("tic_1", "Hello").nth(1));
    }

    #[test]
    fn round_trips_as_hex_and_is_stable() {
        let key = RowKey::of("tic_1", "Hello");
        assert_eq!(RowKey::parse(&key.to_string()), Some(key));
        // A journal written today must be understood by every later build.
        assert_eq!(
            key.to_string(),
            format!("{:032x}", xxhash_rust::xxh3::xxh3_128(b"tic_1\0Hello"))
        );
        assert_eq!(RowKey::parse("xyz"), None);
    }
}
