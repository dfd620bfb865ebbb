//! What `intrain export` records in a model's ONNX metadata (`metadata_props`), so that scoring
//! the exported file later measures the same layers as scoring the architecture in its space.

use std::collections::BTreeMap;

/// Key of the scored layers: a JSON array of tensor names, the grammar's layers in order.
pub const LAYERS: &str = "intrain.layers";
/// Key of the space's name.
pub const SPACE: &str = "intrain.space";
/// Key of the architecture string.
pub const ARCH: &str = "intrain.arch";
/// Key of the input resolution the file was built at.
pub const RESOLUTION: &str = "intrain.resolution";
/// Key of the seed of the file's Kaiming-normal weights.
pub const SEED: &str = "intrain.seed";

/// The metadata of an exported architecture.
pub fn export_metadata(
    space: &str,
    arch: &str,
    layers: &[String],
    resolution: usize,
    seed: u64,
) -> BTreeMap<String, String> {
    let mut m = BTreeMap::new();
    m.insert(LAYERS.to_string(), serde_json::to_string(layers).unwrap_or_default());
    m.insert(SPACE.to_string(), space.to_string());
    m.insert(ARCH.to_string(), arch.to_string());
    m.insert(RESOLUTION.to_string(), resolution.to_string());
    m.insert(SEED.to_string(), seed.to_string());
    m
}

/// The grammar's layers recorded in a model's metadata, if any (and well-formed).
pub fn layers_from_metadata(metadata: &BTreeMap<String, String>) -> Option<Vec<String>> {
    serde_json::from_str(metadata.get(LAYERS)?).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layers_round_trip_and_malformed_values_are_ignored() {
        let layers = vec!["stem".to_string(), "stage1/cell0/out, odd".to_string()];
        let m = export_metadata("s", "a", &layers, 32, 3);
        assert_eq!(layers_from_metadata(&m), Some(layers));
        let mut bad = m.clone();
        bad.insert(LAYERS.to_string(), "not json".into());
        assert_eq!(layers_from_metadata(&bad), None);
        assert_eq!(layers_from_metadata(&BTreeMap::new()), None);
    }
}
