//! Invoice delivery channels (`paper`, `email`, `e-invoice`, `portal`, ...): how the
//! invoice reached the customer, known when it is issued. Names are compared trimmed
//! and in lower case and interned once per process into a one-byte code, so a
//! channel costs nothing per invoice beyond that byte.

use std::sync::RwLock;

/// Code of an invoice without a channel.
pub const NO_CHANNEL: u8 = 0;

/// Code shared by every name beyond the first 254 distinct ones.
pub const OTHER_CHANNEL: u8 = u8::MAX;

/// Name that [`OTHER_CHANNEL`] stands for.
pub const OTHER_CHANNEL_NAME: &str = "(other)";

static NAMES: RwLock<Vec<&'static str>> = RwLock::new(Vec::new());

/// The normalised form of a channel name: trimmed, lower case.
pub fn normalise_channel(name: &str) -> String {
    name.trim().to_lowercase()
}

/// The code of a channel name ([`NO_CHANNEL`] for an empty one), interned on first
/// sight; names after the 254th distinct one share [`OTHER_CHANNEL`].
pub fn channel_code(name: &str) -> u8 {
    let name = name.trim();
    if name.is_empty() {
        return NO_CHANNEL;
    }
    // Stored names are lower case: an ASCII name matches without allocating.
    if let Some(i) = NAMES.read().ok().and_then(|v| v.iter().position(|n| n.eq_ignore_ascii_case(name))) {
        return (i + 1) as u8;
    }
    let norm = normalise_channel(name);
    let mut v = NAMES.write().unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(i) = v.iter().position(|n| **n == norm) {
        return (i + 1) as u8;
    }
    if v.len() + 1 >= usize::from(OTHER_CHANNEL) {
        return OTHER_CHANNEL;
    }
    v.push(Box::leak(norm.into_boxed_str()));
    v.len() as u8
}

/// The name of a code (None for [`NO_CHANNEL`] or a code never handed out).
pub fn channel_name(code: u8) -> Option<&'static str> {
    match code {
        NO_CHANNEL => None,
        OTHER_CHANNEL => Some(OTHER_CHANNEL_NAME),
        c => NAMES.read().ok().and_then(|v| v.get(usize::from(c) - 1).copied()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_intern_to_stable_codes_whatever_their_case_and_spaces() {
        let a = channel_code("E-Invoice");
        assert_ne!(a, NO_CHANNEL);
        assert_eq!(channel_code("  e-invoice "), a);
        assert_eq!(channel_name(a), Some("e-invoice"));
        assert_ne!(channel_code("Paper"), a);
        assert_eq!(channel_code("   "), NO_CHANNEL);
        assert_eq!(channel_name(NO_CHANNEL), None);
    }
}
