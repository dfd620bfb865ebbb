//! The one place that parses YAML (`serde_norway`, a maintained fork of the deprecated
//! `serde_yaml`), so the parser can be swapped here alone.

use serde::de::DeserializeOwned;

use crate::error::{Error, Result};

/// Parses YAML text into `T`; `origin` names the file in errors. Enum choices are written as
/// one-key maps (`relu_conv_bn: {kernel: 3}`) or plain strings (`zero`), not YAML tags.
pub fn parse<T: DeserializeOwned>(text: &str, origin: &str) -> Result<T> {
    let de = serde_norway::Deserializer::from_str(text);
    serde_norway::with::singleton_map_recursive::deserialize(de)
        .map_err(|e| Error::Spec(format!("{origin}: {e}")))
}
