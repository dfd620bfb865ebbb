//! Amounts of parameters or FLOPs as people write them: `450M`, `1.2G`, `4e5`, `3T`.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A non-negative finite count with an optional K/M/G/T suffix (powers of 1000), e.g. a budget's
/// maximum FLOPs. Serialised as a plain number.
#[derive(
    Debug, Clone, Copy, PartialEq, PartialOrd, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(transparent)]
pub struct Amount(f64);

impl Amount {
    /// An amount from a number; `None` unless finite and non-negative.
    pub fn new(value: f64) -> Option<Amount> {
        (value.is_finite() && value >= 0.0).then_some(Amount(value))
    }

    /// The number.
    pub fn value(self) -> f64 {
        self.0
    }
}

/// Why a text is not an amount.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("'{0}' is not an amount like 450M, 1.2G, 4e5 or 3T")]
pub struct AmountError(String);

impl FromStr for Amount {
    type Err = AmountError;

    fn from_str(s: &str) -> Result<Amount, AmountError> {
        let t = s.trim();
        let (num, mult) = match t.char_indices().last() {
            Some((i, c)) if "kKmMgGtT".contains(c) => {
                let m = match c.to_ascii_uppercase() {
                    'K' => 1e3,
                    'M' => 1e6,
                    'G' => 1e9,
                    _ => 1e12,
                };
                (&t[..i], m)
            }
            _ => (t, 1.0),
        };
        num.parse::<f64>()
            .ok()
            .and_then(|v| Amount::new(v * mult))
            .ok_or_else(|| AmountError(s.to_string()))
    }
}

impl fmt::Display for Amount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suffixes_are_powers_of_1000() {
        let v = |s: &str| s.parse::<Amount>().map(Amount::value);
        assert_eq!(v("450M"), Ok(450e6));
        assert_eq!(v("1.5k"), Ok(1500.0));
        assert_eq!(v("2G"), Ok(2e9));
        assert_eq!(v("3T"), Ok(3e12));
        assert_eq!(v(" 4e5 "), Ok(4e5));
        assert!(v("-1").is_err() && v("M").is_err() && v("1X").is_err() && v("inf").is_err());
    }
}
