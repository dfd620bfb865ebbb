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

mod aggregate;
mod az;
mod costs;
mod data_free;
mod gradient;
mod intrain;
mod jacobian;
mod naswot;
mod tenas;
mod vkdnw;

use std::collections::BTreeMap;

use super::kebab;
use super::passes::{PassKind, PassOutput, Reference, Request};
use super::records::ScoreRecord;
use crate::analysis::intrain::Score;
use crate::space::Cost;

/// What a proxy needs from scoring.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Needs {
    /// Only the architecture's costs (no pass).
    Costs,
    /// The InTrain pass: per-layer activation spectra and per-tensor gradient statistics.
    ForwardBackward,
    /// A pass of its own kind ([`PassKind`]), shared with the proxies whose pass has the same
    /// settings.
    Pass(PassKind),
    /// Its components' values on every architecture of a pool (a rank aggregate).
    Pool,
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
    /// (a cost proxy for an ONNX model, whose costs are not in a space's convention). A proxy
    /// of its own pass reads the value [`ProxyDef::reduce`] computed.
    fn value(&self, e: &Evidence) -> Option<f64> {
        e.computed.get(self.name()).copied()
    }
    /// The conventions its authors compute it under (proxies of their own pass).
    fn reference(&self) -> Reference {
        Reference::NasLib
    }
    /// What its gradient pass must output.
    fn requests(&self) -> &'static [Request] {
        &[]
    }
    /// Its value from its pass (proxies of their own pass); `None` when the pass lacks what it
    /// reads.
    fn reduce(&self, _out: &PassOutput) -> Option<f64> {
        None
    }
    /// The proxies it rank-aggregates over a pool (rank aggregates only).
    fn components(&self) -> &'static [&'static str] {
        &[]
    }
    /// Whether a rank aggregate sums `ln(rank / m)` (else the ranks).
    fn log_ranks(&self) -> bool {
        true
    }
}

/// What scoring measured of one target, from which proxies reduce their values.
#[derive(Debug, Clone, PartialEq)]
pub struct Evidence {
    /// The InTrain score and its components.
    pub score: Score,
    /// Loss of the pass.
    pub loss: f64,
    /// Costs of one sample (architectures of a space only).
    pub costs: Option<Cost>,
    /// The values computed by the proxies of their own passes, by name.
    pub computed: BTreeMap<String, f64>,
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
            computed: self.proxies.clone(),
        }
    }
}

/// The value of every registered proxy whose needs are met, by name.
pub fn values(e: &Evidence) -> BTreeMap<String, f64> {
    REGISTRY.iter().filter_map(|p| Some((p.name().to_string(), p.0.value(e)?))).collect()
}

/// Every proxy, in the order reports list them.
pub static REGISTRY: [Proxy; 31] = [
    Proxy(&aggregate::IntrainAgg),
    Proxy(&intrain::InTrain),
    Proxy(&intrain::Gamma),
    Proxy(&intrain::O),
    Proxy(&intrain::Additive),
    Proxy(&costs::Params),
    Proxy(&costs::Flops),
    Proxy(&costs::Macs),
    Proxy(&gradient::GradNorm),
    Proxy(&gradient::Snip),
    Proxy(&gradient::Plain),
    Proxy(&gradient::L2Norm),
    Proxy(&gradient::Fisher),
    Proxy(&gradient::Grasp),
    Proxy(&jacobian::Jacov),
    Proxy(&jacobian::EpeNas),
    Proxy(&naswot::Naswot),
    Proxy(&data_free::SynFlow),
    Proxy(&data_free::Zen),
    Proxy(&gradient::ZiCo),
    Proxy(&az::Expressivity),
    Proxy(&az::Progressivity),
    Proxy(&az::Trainability),
    Proxy(&vkdnw::Vkdnw),
    Proxy(&vkdnw::VkdnwSingle),
    Proxy(&data_free::MeCo),
    Proxy(&aggregate::AzNas),
    Proxy(&aggregate::VkdnwAgg),
    Proxy(&tenas::Ntk),
    Proxy(&tenas::LinearRegions),
    Proxy(&aggregate::TeNas),
];

/// A registered proxy as `intrain proxies` lists it.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct ProxyInfo {
    /// The name users type.
    pub name: String,
    /// What it measures.
    pub about: String,
    /// Where its value comes from: `costs`, `intrain` (InTrain's pass), `pool` (a rank
    /// aggregate of other proxies over the scored pool) or its own pass kind (`gradient`,
    /// `grasp`, `input-jacobian`, `synflow`, `zen`, `two-batches`, `az-nas`, `vkdnw`, `meco`, `ntk`).
    pub pass: String,
    /// Its authors' conventions for its pass (`naslib`, `zen-nas`, `az-nas`, `meco`, `te-nas`), for
    /// proxies of their own pass.
    pub reference: Option<String>,
}

/// Every registered proxy, described.
pub fn catalogue() -> Vec<ProxyInfo> {
    REGISTRY
        .iter()
        .map(|p| ProxyInfo {
            name: p.name().to_string(),
            about: p.about().to_string(),
            pass: match p.needs() {
                Needs::Costs => "costs".to_string(),
                Needs::ForwardBackward => "intrain".to_string(),
                Needs::Pool => "pool".to_string(),
                Needs::Pass(kind) => kebab(&kind),
            },
            reference: p.pass().map(|_| kebab(&p.reference())),
        })
        .collect()
}

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

    /// The kind of its own pass, if it has one (not InTrain's pass, not the costs).
    pub fn pass(self) -> Option<PassKind> {
        match self.0.needs() {
            Needs::Pass(kind) => Some(kind),
            _ => None,
        }
    }

    /// Its authors' conventions.
    pub fn reference(self) -> Reference {
        self.0.reference()
    }

    /// What its gradient pass must output.
    pub fn requests(self) -> &'static [Request] {
        self.0.requests()
    }

    /// Its value from its pass.
    pub fn reduce(self, out: &PassOutput) -> Option<f64> {
        self.0.reduce(out)
    }

    /// The proxies it rank-aggregates (empty unless it is a rank aggregate).
    pub fn components(self) -> Vec<Proxy> {
        self.0.components().iter().filter_map(|n| Proxy::named(n)).collect()
    }

    /// What scoring computes for it: its components for a rank aggregate, else itself.
    pub fn scored(self) -> Vec<Proxy> {
        match self.0.needs() {
            Needs::Pool => self.components(),
            _ => vec![self],
        }
    }

    /// Its values on a pool of records, in order: a rank aggregate's sum of `ln(rank / m)` (or
    /// of the ranks) of its components over the pool, else each record's own value (NaN when
    /// undefined).
    pub fn pool_values(self, records: &[&ScoreRecord]) -> Vec<f64> {
        self.pool_values_without(records, None)
    }

    /// [`Proxy::pool_values`] of a rank aggregate with one component left out (an ablation).
    pub fn pool_values_without(
        self,
        records: &[&ScoreRecord],
        left_out: Option<Proxy>,
    ) -> Vec<f64> {
        if self.0.needs() != Needs::Pool {
            return records.iter().map(|r| self.value(r)).collect();
        }
        let m = records.len().max(1) as f64;
        let mut total = vec![0f64; records.len()];
        for c in self.components().into_iter().filter(|&c| Some(c) != left_out) {
            let values: Vec<f64> = records.iter().map(|r| c.value(r)).collect();
            for (t, rank) in total.iter_mut().zip(aggregate::average_ranks(&values)) {
                *t += if self.0.log_ranks() { (rank / m).ln() } else { rank };
            }
        }
        total
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

/// A comma-separated list of proxies, or `all` (every registered proxy), as command lines take
/// them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxyList(pub Vec<Proxy>);

impl FromStr for ProxyList {
    type Err = UnknownProxy;

    fn from_str(s: &str) -> Result<ProxyList, UnknownProxy> {
        if s.trim() == "all" {
            return Ok(ProxyList(REGISTRY.to_vec()));
        }
        let mut out: Vec<Proxy> = Vec::new();
        for name in s.split(',').filter(|n| !n.trim().is_empty()) {
            let p: Proxy = name.parse()?;
            if !out.contains(&p) {
                out.push(p);
            }
        }
        Ok(ProxyList(out))
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
    fn rank_aggregates_sum_log_ranks_of_their_components_over_the_pool() {
        let record = |e: f64, p: f64, t: f64, flops: u64| ScoreRecord {
            flops,
            proxies: [("az-expressivity", e), ("az-progressivity", p), ("az-trainability", t)]
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect(),
            ..Default::default()
        };
        let pool =
            [record(1.0, 3.0, 1.0, 10), record(2.0, 2.0, 1.0, 20), record(3.0, 1.0, 2.0, 30)];
        let refs: Vec<&ScoreRecord> = pool.iter().collect();
        let az = Proxy::named("az-nas").expect("registered");
        assert!(az.value(&pool[0]).is_nan(), "no value without a pool");
        let l = |r: f64| (r / 3.0).ln();
        let want = [
            l(1.0) + l(3.0) + l(1.5) + l(1.0),
            l(2.0) + l(2.0) + l(1.5) + l(2.0),
            l(3.0) + l(1.0) + l(3.0) + l(3.0),
        ];
        for (got, want) in az.pool_values(&refs).iter().zip(want) {
            assert!((got - want).abs() < 1e-12, "{got} vs {want}");
        }
        let names: Vec<&str> = az.scored().iter().map(|p| p.name()).collect();
        assert_eq!(names, ["az-expressivity", "az-progressivity", "az-trainability", "flops"]);
        // Leaving a component out drops its term.
        let flops = Proxy::named("flops").expect("registered");
        let without = az.pool_values_without(&refs, Some(flops));
        for ((got, all), f) in without.iter().zip(az.pool_values(&refs)).zip([1.0, 2.0, 3.0]) {
            assert!((got - (all - l(f))).abs() < 1e-12, "{got} vs {all} - ln({f}/3)");
        }
    }

    #[test]
    fn intrain_agg_sums_log_ranks_of_flops_gamma_o_and_az_progressivity_and_trainability() {
        let record = |flops: u64, gamma: f64, o: f64, p: f64, t: f64| ScoreRecord {
            flops,
            gamma,
            o,
            proxies: [("az-progressivity", p), ("az-trainability", t)]
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect(),
            ..Default::default()
        };
        let pool = [
            record(30, 1.0, 5.0, f64::NAN, 0.5),
            record(10, 2.0, 4.0, 1.0, 0.5),
            record(20, 3.0, 6.0, 2.0, 0.1),
            record(40, 4.0, 3.0, 3.0, 0.9),
        ];
        let refs: Vec<&ScoreRecord> = pool.iter().collect();
        let agg = Proxy::named("intrain-agg").expect("registered");
        let l = |r: f64| (r / 4.0).ln();
        // Ranks: FLOPs 3 1 2 4; gamma 1 2 3 4; o 3 2 4 1; progressivity (NaN last) 1 2 3 4;
        // trainability (tie) 2.5 2.5 1 4.
        let want = [
            l(3.0) + l(1.0) + l(3.0) + l(1.0) + l(2.5),
            l(1.0) + l(2.0) + l(2.0) + l(2.0) + l(2.5),
            l(2.0) + l(3.0) + l(4.0) + l(3.0) + l(1.0),
            l(4.0) + l(4.0) + l(1.0) + l(4.0) + l(4.0),
        ];
        for (got, want) in agg.pool_values(&refs).iter().zip(want) {
            assert!((got - want).abs() < 1e-12, "{got} vs {want}");
        }
        let scored: Vec<&str> = agg.scored().iter().map(|p| p.name()).collect();
        assert_eq!(scored, ["flops", "gamma", "o", "az-progressivity", "az-trainability"]);
        // Only the AZ-NAS pass runs beside InTrain's: no images, no per-class or per-sample pass.
        let passes: Vec<_> = agg.scored().iter().filter_map(|p| p.pass()).collect();
        assert!(passes.iter().all(|&k| k == passes[0]) && passes.len() == 2, "{passes:?}");
    }

    #[test]
    fn additive_variant_is_gamma_over_log_layers_plus_o() {
        let r = ScoreRecord { gamma: 1.5, o: 2.25, layers: 18, params: 1000, ..Default::default() };
        let additive = Proxy::named("additive").expect("registered");
        assert!((additive.value(&r) - (1.5 / 19f64.ln() + 2.25)).abs() < 1e-12);
        assert_eq!(Proxy::named("params").map(|p| p.value(&r)), Some(1000.0));
    }
}
