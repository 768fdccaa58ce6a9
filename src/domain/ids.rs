//! Identifier newtypes. Ids are opaque non-empty strings from the source system.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Why a string is not a valid id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    /// The id is empty or only whitespace.
    #[error("{kind} cannot be empty")]
    Empty {
        /// Which id (`customer_id`, `invoice_id`).
        kind: &'static str,
    },
    /// The id is longer than [`MAX_ID_LEN`] bytes.
    #[error("{kind} is {len} bytes long, longer than the limit of {max}")]
    TooLong {
        /// Which id.
        kind: &'static str,
        /// Its length.
        len: usize,
        /// The limit.
        max: usize,
    },
}

/// Longest id accepted, in bytes.
pub const MAX_ID_LEN: usize = 256;

fn check(kind: &'static str, s: &str) -> Result<String, IdError> {
    let t = s.trim();
    if t.is_empty() {
        return Err(IdError::Empty { kind });
    }
    if t.len() > MAX_ID_LEN {
        return Err(IdError::TooLong { kind, len: t.len(), max: MAX_ID_LEN });
    }
    Ok(t.to_string())
}

macro_rules! id_type {
    ($name:ident, $kind:literal, $doc:literal) => {
        #[doc = $doc]
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// Parses a trimmed, non-empty id.
            ///
            /// # Errors
            /// [`IdError`] when the id is empty or too long.
            pub fn parse(s: &str) -> Result<Self, IdError> {
                check($kind, s).map(Self)
            }

            /// The id as a string slice.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl TryFrom<&str> for $name {
            type Error = IdError;
            fn try_from(s: &str) -> Result<Self, IdError> {
                Self::parse(s)
            }
        }
    };
}

id_type!(CustomerId, "customer_id", "A customer (bill-to account) id.");
id_type!(InvoiceId, "invoice_id", "An invoice (document) id, unique within a data directory.");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_id_is_rejected() {
        assert_eq!(CustomerId::parse("  "), Err(IdError::Empty { kind: "customer_id" }));
    }

    #[test]
    fn ids_are_trimmed_and_keep_leading_zeros() {
        assert_eq!(InvoiceId::parse(" 0042 ").unwrap().as_str(), "0042");
    }

    #[test]
    fn overlong_id_is_rejected() {
        let long = "x".repeat(MAX_ID_LEN + 1);
        assert!(matches!(InvoiceId::parse(&long), Err(IdError::TooLong { .. })));
    }
}
