//! Typed errors of the library.
//!
//! Every message names what it is about: the file, the node (name and op type), the attribute, the
//! input. The CLI prints them on one line and exits with code 2.

use std::path::PathBuf;

/// Result type of the library.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in intrain's library.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    // === Files ===
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// An error inside a file: wraps another error with the file's path.
    #[error("{path}: {inner}")]
    InFile {
        /// The file.
        path: PathBuf,
        /// What went wrong in it.
        inner: Box<Error>,
    },

    // === ONNX models ===
    /// The bytes are not a valid ONNX protobuf model.
    #[error("not a valid ONNX model: {0}")]
    Decode(String),
    /// The model's structure is invalid (dangling input, duplicate name, cycle, ...).
    #[error("invalid model: {0}")]
    InvalidModel(String),
    /// The model's opset is outside what we support.
    #[error(
        "opset {found} of domain '{domain}' is not supported (supported: {min} to {max}, the opsets ONNX Runtime 1.31 runs)"
    )]
    Opset {
        /// Domain ("" is the default ONNX domain).
        domain: String,
        /// Version found in the model.
        found: i64,
        /// Oldest supported.
        min: i64,
        /// Newest supported.
        max: i64,
    },
    /// A node uses an op we do not support.
    #[error("node '{node}': unsupported op '{op}'{}", domain_suffix(.domain))]
    UnsupportedOp {
        /// Node name.
        node: String,
        /// op_type.
        op: String,
        /// Domain of the op, "" for the default.
        domain: String,
    },
    /// A node attribute we do not support (unknown name, wrong kind or value).
    #[error("node '{node}' ({op}): attribute '{attr}': {reason}")]
    UnsupportedAttribute {
        /// Node name.
        node: String,
        /// op_type.
        op: String,
        /// Attribute name.
        attr: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A node whose inputs do not fit together (shapes, dtypes, arity, non-constant shape input).
    #[error("node '{node}' ({op}): {reason}")]
    Node {
        /// Node name.
        node: String,
        /// op_type.
        op: String,
        /// What is wrong.
        reason: String,
    },
    /// A graph input has a dimension without a value and none was given.
    #[error(
        "input '{input}' has dynamic dimension '{dim}' (axis {axis}) and no value was given for it"
    )]
    DynamicDim {
        /// Input name.
        input: String,
        /// Symbolic name of the dimension (or `?` if unnamed).
        dim: String,
        /// Axis index.
        axis: usize,
    },
    /// A graph input without a shape, and none was given.
    #[error("input '{input}' has no shape and none was given")]
    NoInputShape {
        /// Input name.
        input: String,
    },
    /// A data type we cannot handle.
    #[error("{what}: unsupported data type {dtype}")]
    UnsupportedDType {
        /// Which tensor.
        what: String,
        /// Name of the ONNX data type.
        dtype: String,
    },

    // === Arrays (.npy) ===
    /// A `.npy` array that cannot be read or does not fit.
    #[error("npy: {0}")]
    Npy(String),

    // === ONNX Runtime ===
    /// The ONNX Runtime shared library could not be found, fetched or loaded.
    #[error("ONNX Runtime library: {0}")]
    RuntimeLibrary(String),
    /// The ONNX Runtime library path given explicitly names no file.
    #[error("ONNX Runtime library: {}: no such file", .0.display())]
    NoLibraryFile(PathBuf),
    /// The requested execution provider could not be used.
    #[error("execution provider {provider}: {reason}")]
    Provider {
        /// Provider name.
        provider: String,
        /// Why.
        reason: String,
    },
    /// ONNX Runtime failed to create a session or run a model.
    #[error("ONNX Runtime: {0}")]
    Runtime(String),

    // === Scoring ===
    /// Scoring one architecture of a space failed.
    #[error("architecture {arch}: {source}")]
    Arch {
        /// The architecture, in its string form.
        arch: String,
        /// What went wrong.
        source: Box<Error>,
    },
    /// No layer counts under the layer rule (a model without activations, say).
    #[error("no layer counts under the default rule; name the layers explicitly")]
    NoLayers,
    /// No architecture of a space meets a budget's limit.
    #[error("{reason}")]
    OverBudget {
        /// Which limit: `flops` or `params`.
        limit: &'static str,
        /// What the cheapest architecture costs.
        reason: String,
    },
    /// A scoring setting does not apply to the target (e.g. an input resolution for an ONNX
    /// model, whose input shape is its own).
    #[error("{0}")]
    Protocol(String),

    // === Files of intrain's own formats and benchmark tables ===
    /// The content of a data file does not fit (a record file, a search history or run file, a
    /// ground-truth table, a cell or architecture list); the message names the file and line.
    #[error("{0}")]
    Data(String),
    /// A search space or check policy is invalid; the message names the file and YAML path.
    #[error("{0}")]
    Spec(String),
    /// An architecture string that does not parse, or an architecture not of the space.
    #[error("{0}")]
    ArchString(String),

    // === Passes, searches, experiments ===
    /// The inputs, labels or tensor names given for a pass do not fit the model.
    #[error("{0}")]
    Input(String),
    /// Settings of a search or an experiment that cannot work (an empty elite, a budget no
    /// architecture meets, fewer architectures than samples asked for, a history of another
    /// search).
    #[error("{0}")]
    Settings(String),
    /// A proxy cannot be computed on this model: it reads something the model does not have
    /// (ReLU codes on a GELU-only network, features before a global pooling).
    #[error("{0}")]
    NotApplicable(String),
    /// A chart that cannot be drawn or encoded.
    #[error("plot: {0}")]
    Plot(String),

    // === Resource limits ===
    /// Something over one of the [`crate::limits::Limits`]; the message names the flag that
    /// raises it.
    #[error("{what}, over the limit of {max} (raise it with --{flag})")]
    Limit {
        /// What is over the limit, and by how much.
        what: String,
        /// The limit, for people.
        max: String,
        /// The CLI flag that sets the limit, without its dashes.
        flag: &'static str,
    },
    /// A run whose estimated peak memory is over [`crate::limits::Limits::memory_bytes`] (or
    /// over the memory available), refused before its session is made.
    #[error("{what}, over the limit of {limit}{hint}; raise the limit with --max-memory")]
    OverMemory {
        /// The estimate and its parts.
        what: String,
        /// The limit, for people.
        limit: String,
        /// What would fit (`; about batch N would fit (--batch N)`), or nothing.
        hint: String,
    },
    /// An external-data file the model names that intrain refuses to read (a link, a special
    /// file, a path out of the model's folder).
    #[error("tensor '{tensor}': external data '{location}': {reason}")]
    ExternalData {
        /// The tensor.
        tensor: String,
        /// The location the model gives.
        location: String,
        /// Why it is refused.
        reason: String,
    },

    // === Usage ===
    /// An invalid argument given by the caller.
    #[error("{0}")]
    Usage(String),
}

fn domain_suffix(domain: &str) -> String {
    if domain.is_empty() || domain == "ai.onnx" {
        String::new()
    } else {
        format!(" of domain '{domain}'")
    }
}

impl Error {
    /// Wraps this error with the path of the file it came from.
    pub fn in_file(self, path: impl Into<PathBuf>) -> Error {
        Error::InFile { path: path.into(), inner: Box::new(self) }
    }

    /// Wraps this error with the architecture it came from.
    pub fn in_arch(self, arch: impl Into<String>) -> Error {
        Error::Arch { arch: arch.into(), source: Box::new(self) }
    }

    /// A node-level error.
    pub fn node(node: &str, op: impl ToString, reason: impl Into<String>) -> Error {
        Error::Node { node: node.to_string(), op: op.to_string(), reason: reason.into() }
    }
}
