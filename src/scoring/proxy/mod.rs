//! Proxies: training-free estimates of how well an architecture will train, as a typed
//! registry.
//!
//! A proxy is a [`ProxyDef`]: its name, a one-line description, what it needs from scoring
//! ([`Needs`]), and how it reduces the [`Evidence`] of a scored target (a fresh
//! [`super::ScoreOutput`] or a stored [`ScoreRecord`]) to one number. [`Proxy`] is the typed
//! handle used everywhere else (command lines, run files, reports): it parses from and prints
//! as the name, and only registered names exist. Adding a proxy is one file that defines a
//! `ProxyDef` and one line in [`REGISTRY`].

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

mod costs;
mod intrain;

use super::records::ScoreRecord;
use crate::analysis::intrain::Score;
use crate::space::Cost;

/// What a proxy needs from scoring.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Needs {
    /// Only the architecture's costs (no pass).
    Costs,
    /// One forward and backward pass: per-layer activation spectra and per-tensor gradient
    /// statistics.
    ForwardBackward,
}

/// The definition of a proxy.
pub trait ProxyDef: Sync {
    /// The name users type (`intrain`, `params`), lowercase with dashes.
    fn name(&self) -> &'static str;
    /// One line for `--help` and reports.
    fn about(&self) -> &'static str;
    /// What the proxy needs from scoring.
    fn needs(&self) -> Needs;
    /// The value for a scored target (higher is better); `None` when what it needs is missing
    /// (a cost proxy for an ONNX model, whose costs are not in a space's convention).
    fn value(&self, e: &Evidence) -> Option<f64>;
}

/// What scoring measured of one target, from which proxies reduce their values.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Evidence {
    /// The InTrain score and its components.
    pub score: Score,
    /// Loss of the pass.
    pub loss: f64,
    /// Costs of one sample (architectures of a space only).
    pub costs: Option<Cost>,
}

impl ScoreRecord {
    /// The evidence the record keeps.
    pub fn evidence(&self) -> Evidence {
        Evidence {
            score: Score {
                intrain: self.intrain,
                gamma: self.gamma,
                o: self.o,
                layers: self.layers,
                tensors: self.tensors,
                dead_layers: self.dead_layers,
                non_finite: self.non_finite,
            },
            loss: self.loss,
            costs: Some(Cost { params: self.params, macs: self.macs, flops: self.flops }),
        }
    }
}

/// The value of every registered proxy whose needs are met, by name.
pub fn values(e: &Evidence) -> std::collections::BTreeMap<String, f64> {
    REGISTRY.iter().filter_map(|p| Some((p.name().to_string(), p.0.value(e)?))).collect()
}

/// Every proxy, in the order reports list them.
pub static REGISTRY: [Proxy; 7] = [
    Proxy(&intrain::InTrain),
    Proxy(&intrain::Gamma),
    Proxy(&intrain::O),
    Proxy(&intrain::Additive),
    Proxy(&costs::Params),
    Proxy(&costs::Flops),
    Proxy(&costs::Macs),
];

/// A registered proxy (a handle on its [`ProxyDef`]).
#[derive(Clone, Copy)]
pub struct Proxy(&'static dyn ProxyDef);

impl Proxy {
    /// The proxy called `name`, if registered.
    pub fn named(name: &str) -> Option<Proxy> {
        REGISTRY.iter().copied().find(|p| p.name() == name)
    }

    /// Its name.
    pub fn name(self) -> &'static str {
        self.0.name()
    }

    /// Its one-line description.
    pub fn about(self) -> &'static str {
        self.0.about()
    }

    /// What it needs from scoring.
    pub fn needs(self) -> Needs {
        self.0.needs()
    }

    /// Its value for a stored record (NaN when undefined).
    pub fn value(self, r: &ScoreRecord) -> f64 {
        self.0.value(&r.evidence()).unwrap_or(f64::NAN)
    }

    /// Its value for any evidence (`None` when what it needs is missing).
    pub fn value_of(self, e: &Evidence) -> Option<f64> {
        self.0.value(e)
    }

    /// The registered names, comma-separated (for messages).
    pub fn names() -> String {
        REGISTRY.iter().map(|p| p.name()).collect::<Vec<_>>().join(", ")
    }
}

impl PartialEq for Proxy {
    fn eq(&self, other: &Proxy) -> bool {
        self.name() == other.name()
    }
}

impl Eq for Proxy {}

impl fmt::Debug for Proxy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Proxy({})", self.name())
    }
}

impl fmt::Display for Proxy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A name that is not a registered proxy.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown proxy '{0}' (known: {names})", names = Proxy::names())]
pub struct UnknownProxy(pub String);

impl FromStr for Proxy {
    type Err = UnknownProxy;

    fn from_str(s: &str) -> Result<Proxy, UnknownProxy> {
        Proxy::named(s.trim()).ok_or_else(|| UnknownProxy(s.to_string()))
    }
}

impl Serialize for Proxy {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

impl<'de> Deserialize<'de> for Proxy {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Proxy, D::Error> {
        let name = String::deserialize(d)?;
        name.parse().map_err(serde::de::Error::custom)
    }
}

impl clap::ValueEnum for Proxy {
    fn value_variants<'a>() -> &'a [Self] {
        &REGISTRY
    }

    fn to_possible_value(&self) -> Option<clap::builder::PossibleValue> {
        Some(clap::builder::PossibleValue::new(self.name()).help(self.about()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_round_trip() {
        let mut names: Vec<&str> = REGISTRY.iter().map(|p| p.name()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), REGISTRY.len());
        for p in REGISTRY {
            assert_eq!(p.name().parse::<Proxy>(), Ok(p));
            assert_eq!(serde_json::to_string(&p).ok(), Some(format!("\"{}\"", p.name())));
        }
        let e = "nope".parse::<Proxy>().expect_err("unknown");
        assert!(Proxy::named("o").is_some());
        assert!(e.to_string().contains("intrain, gamma, o, additive, params, flops, macs"));
    }

    #[test]
    fn additive_variant_is_gamma_over_log_layers_plus_o() {
        let r = ScoreRecord { gamma: 1.5, o: 2.25, layers: 18, params: 1000, ..Default::default() };
        let additive = Proxy::named("additive").expect("registered");
        assert!((additive.value(&r) - (1.5 / 19f64.ln() + 2.25)).abs() < 1e-12);
        assert_eq!(Proxy::named("params").map(|p| p.value(&r)), Some(1000.0));
    }
}
