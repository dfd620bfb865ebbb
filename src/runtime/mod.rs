//! ONNX Runtime: loading the library, creating sessions, running them. The only module that
//! touches the `ort` crate.
//!
//! The library is loaded once per process (ONNX Runtime allows one environment per process);
//! [`Runtime::new`] finds or fetches it ([`library`]) and decides the execution provider.

mod fetch;
pub mod library;
mod session;
mod staged;

use std::path::PathBuf;
use std::sync::{Mutex, OnceLock};

pub use library::{LibraryFlavor, LocatedLibrary, ORT_VERSION};
pub use session::Session;
pub use staged::StagedSession;

use crate::error::{Error, Result};

/// The execution provider the user asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Device {
    /// CPU only.
    #[default]
    Cpu,
    /// CUDA; fails loudly if the CUDA provider cannot be used.
    Cuda,
    /// CUDA when an NVIDIA driver and the CUDA provider work, else CPU (said on stderr).
    Auto,
}

impl std::str::FromStr for Device {
    type Err = Error;
    fn from_str(s: &str) -> Result<Device> {
        match s {
            "cpu" => Ok(Device::Cpu),
            "cuda" => Ok(Device::Cuda),
            "auto" => Ok(Device::Auto),
            _ => Err(Error::Usage(format!("unknown device '{s}' (expected cpu, cuda or auto)"))),
        }
    }
}

/// The provider sessions actually run on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Provider {
    /// ONNX Runtime's CPU provider.
    Cpu,
    /// ONNX Runtime's CUDA provider.
    Cuda,
}

/// Runs whose estimated peak is at least this large get their memory from the system allocator
/// instead of the shared arena (see [`Runtime::session_sized`]).
pub const LARGE_RUN_BYTES: u64 = 2 << 30;

/// Where a CPU session's memory comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Memory {
    /// The arena registered with the environment, shared by every session of the process.
    SharedArena,
    /// The system allocator, through no arena.
    SystemAllocator,
}

impl Memory {
    /// The allocator for a run estimated at `bytes` at its peak.
    fn for_run(bytes: u64) -> Memory {
        if bytes >= LARGE_RUN_BYTES { Memory::SystemAllocator } else { Memory::SharedArena }
    }
}

/// ONNX Runtime graph optimisation level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Optimization {
    /// No graph optimisation.
    Disabled,
    /// Basic (constant folding, redundant node elimination).
    Basic,
    /// Everything, including layout transformations (fastest).
    #[default]
    All,
}

/// How to set up ONNX Runtime.
#[derive(Debug, Clone, Default)]
pub struct RuntimeOptions {
    /// Requested device.
    pub device: Device,
    /// Intra-op threads; 0 lets ONNX Runtime decide (one per physical core).
    pub threads: usize,
    /// Explicit path of the ONNX Runtime library.
    pub ort_lib: Option<PathBuf>,
    /// Graph optimisation level.
    pub optimization: Optimization,
}

/// A loaded ONNX Runtime with a chosen execution provider.
#[derive(Clone)]
pub struct Runtime {
    env: ort::environment::Environment,
    /// The provider sessions run on.
    pub provider: Provider,
    /// The library in use.
    pub library: LocatedLibrary,
    /// A remark for the user about how the provider was chosen (printed on stderr by the CLI).
    pub note: Option<String>,
    threads: usize,
    optimization: Optimization,
    shared_arena: bool,
    /// Sessions of this runtime that run at once, which share the memory budget.
    concurrent: usize,
}

struct Loaded {
    env: ort::environment::Environment,
    library: LocatedLibrary,
    flavor: LibraryFlavor,
    /// Whether a CPU arena could be registered with the environment for all sessions to share.
    shared_arena: bool,
}

static LOADED: OnceLock<Loaded> = OnceLock::new();
static LOADING: Mutex<()> = Mutex::new(());

fn load(lib: LocatedLibrary, flavor: LibraryFlavor) -> Result<&'static Loaded> {
    let _guard = LOADING.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(l) = LOADED.get() {
        if l.library.path != lib.path {
            return Err(Error::RuntimeLibrary(format!(
                "ONNX Runtime is already loaded from {} in this process; cannot also load {}",
                l.library.path.display(),
                lib.path.display()
            )));
        }
        return Ok(l);
    }
    if let Some(dir) = &lib.cuda_dir {
        ort::ep::cuda::preload_dylibs(Some(dir), Some(dir)).map_err(|e| Error::Provider {
            provider: "CUDA".into(),
            reason: format!("preloading CUDA libraries from {}: {e}", dir.display()),
        })?;
    }
    let builder = ort::init_from(&lib.path).map_err(|e| {
        let mut reason = format!("{e}");
        let mut src = std::error::Error::source(&e);
        while let Some(s) = src {
            reason = format!("{reason}: {s}");
            src = s.source();
        }
        Error::RuntimeLibrary(format!(
            "cannot load {} ({}): {reason}. Remedy: unset ORT_DYLIB_PATH and the explicit library path to let intrain fetch ONNX Runtime {ORT_VERSION}, or point them at libonnxruntime.so.{ORT_VERSION}",
            lib.path.display(),
            lib.origin
        ))
    })?;
    let env = builder
        .with_name("intrain")
        .build()
        .map_err(|e| Error::RuntimeLibrary(format!("{}: {e}", lib.path.display())))?;
    // The shared arena only saves time: without it each session keeps an arena of its own.
    let shared_arena = register_shared_arena(&env).is_ok();
    Ok(LOADED.get_or_init(|| Loaded { env, library: lib, flavor, shared_arena }))
}

/// Registers one CPU arena allocator with the environment; every CPU session uses it
/// (`session.use_env_allocators`). Memory that one session freed is then reused by the next
/// instead of being returned to the system and faulted in again, which is what batch scoring,
/// where each architecture gets its own session, spends system time on.
#[allow(unsafe_code)]
fn register_shared_arena(env: &ort::environment::Environment) -> Result<()> {
    use ort::AsPointer;
    use ort::memory::{AllocationDevice, AllocatorType, MemoryInfo, MemoryType};
    let fail = |e: ort::Error| Error::RuntimeLibrary(format!("registering a shared arena: {e}"));
    let info = MemoryInfo::new(AllocationDevice::CPU, 0, AllocatorType::Arena, MemoryType::Default)
        .map_err(fail)?;
    // SAFETY: both pointers come from live ONNX Runtime objects of the loaded library; a null
    // arena configuration asks for the defaults; the call copies what it needs.
    let status = unsafe {
        (ort::api().CreateAndRegisterAllocator)(env.ptr().cast_mut(), info.ptr(), std::ptr::null())
    };
    // SAFETY: `status` was just returned by an ONNX Runtime API call.
    unsafe { ort::Error::result_from_status(status) }.map_err(fail)
}

impl Runtime {
    /// Loads ONNX Runtime (finding or fetching it) and chooses the execution provider.
    pub fn new(opts: &RuntimeOptions) -> Result<Runtime> {
        let explicit = opts.ort_lib.as_deref();
        let (loaded, provider, note) = match opts.device {
            Device::Cpu => {
                let lib = match LOADED.get() {
                    Some(l) if explicit.is_none() => l.library.clone(),
                    _ => library::locate_or_fetch(explicit, LibraryFlavor::Cpu)?,
                };
                (load(lib, LibraryFlavor::Cpu)?, Provider::Cpu, None)
            }
            Device::Cuda => (Self::load_cuda(explicit)?, Provider::Cuda, None),
            Device::Auto => {
                if !library::nvidia_driver_present() {
                    let lib = library::locate_or_fetch(explicit, LibraryFlavor::Cpu)?;
                    (
                        load(lib, LibraryFlavor::Cpu)?,
                        Provider::Cpu,
                        Some(
                            "device auto: no NVIDIA driver found, using the CPU provider"
                                .to_string(),
                        ),
                    )
                } else {
                    match Self::load_cuda(explicit) {
                        Ok(l) => (
                            l,
                            Provider::Cuda,
                            Some("device auto: using the CUDA provider".to_string()),
                        ),
                        Err(e) => {
                            let lib = library::locate_or_fetch(explicit, LibraryFlavor::Cpu)?;
                            (
                                load(lib, LibraryFlavor::Cpu)?,
                                Provider::Cpu,
                                Some(format!(
                                    "device auto: CUDA unavailable ({e}); using the CPU provider"
                                )),
                            )
                        }
                    }
                }
            }
        };
        let note = match note {
            None if !loaded.shared_arena && provider == Provider::Cpu => Some(
                "the shared memory arena could not be registered; each session keeps its own"
                    .to_string(),
            ),
            other => other,
        };
        Ok(Runtime {
            env: loaded.env.clone(),
            provider,
            library: loaded.library.clone(),
            note,
            threads: opts.threads,
            optimization: opts.optimization,
            shared_arena: loaded.shared_arena,
            concurrent: 1,
        })
    }

    fn load_cuda(explicit: Option<&std::path::Path>) -> Result<&'static Loaded> {
        use ort::ep::ExecutionProvider;
        if !library::nvidia_driver_present() {
            return Err(Error::Provider {
                provider: "CUDA".into(),
                reason: "no NVIDIA driver found on this machine (/proc/driver/nvidia, libcuda.so.1); use the CPU provider".into(),
            });
        }
        let lib = library::locate_or_fetch(explicit, LibraryFlavor::Cuda)?;
        let loaded = load(lib, LibraryFlavor::Cuda)?;
        let available = ort::ep::CUDA::is_available().unwrap_or(false);
        if !available
            || loaded.flavor == LibraryFlavor::Cpu
                && explicit.is_none()
                && loaded.library.origin != "ORT_DYLIB_PATH"
        {
            return Err(Error::Provider {
                provider: "CUDA".into(),
                reason: format!(
                    "the ONNX Runtime library at {} was built without CUDA; use the onnxruntime-gpu build (unset ORT_DYLIB_PATH to let intrain fetch it)",
                    loaded.library.path.display()
                ),
            });
        }
        Ok(loaded)
    }

    /// Creates a session from ONNX model bytes, its CPU memory from the shared arena.
    pub fn session(&self, model: &[u8]) -> Result<Session> {
        self.session_with(model, Memory::SharedArena)
    }

    /// Creates a session for a model whose run was estimated at `estimate`: from the shared
    /// arena, or from the system allocator for a run of [`LARGE_RUN_BYTES`] or more. The arena
    /// keeps what one run freed for the next, which saves the page faults of many small runs
    /// (batch scoring), but its chunks grow by powers of two and stay mapped: for one large run
    /// (ImageNet-size inputs) the system allocator's peak is lower (standard MobileNetV2 at
    /// batch 64, 224x224: 6.3 GiB against 7.1 GiB) at the same speed.
    pub fn session_sized(
        &self,
        model: &[u8],
        estimate: &crate::ir::memory::MemoryEstimate,
    ) -> Result<Session> {
        self.session_with(model, Memory::for_run(estimate.total()))
    }

    fn session_with(&self, model: &[u8], memory: Memory) -> Result<Session> {
        use ort::session::builder::GraphOptimizationLevel as L;
        let rt = |e: ort::Error| Error::Runtime(e.to_string());
        let mut b = ort::session::Session::builder(&self.env).map_err(rt)?;
        let level = match self.optimization {
            Optimization::Disabled => L::Disable,
            Optimization::Basic => L::Level1,
            Optimization::All => L::All,
        };
        let conv =
            |e: ort::Error<ort::session::builder::SessionBuilder>| Error::Runtime(e.to_string());
        b = b.with_optimization_level(level).map_err(conv)?;
        b = b.with_inter_threads(1).map_err(conv)?;
        if self.provider == Provider::Cpu {
            match memory {
                // The arena registered with the environment: memory stays mapped from one
                // session to the next.
                Memory::SharedArena if self.shared_arena => {
                    b = b.with_env_allocators().map_err(conv)?;
                }
                Memory::SharedArena => {}
                Memory::SystemAllocator => {
                    let cpu = ort::ep::CPU::default().with_arena_allocator(false).build();
                    b = b.with_execution_providers([cpu]).map_err(conv)?;
                }
            }
        }
        if self.threads > 0 {
            b = b.with_intra_threads(self.threads).map_err(conv)?;
        }
        if let Some(prefix) = std::env::var_os("INTRAIN_ORT_PROFILE").filter(|p| !p.is_empty()) {
            // ONNX Runtime writes a Chrome-trace JSON per session (for performance work).
            b = b.with_profiling(std::path::PathBuf::from(prefix)).map_err(conv)?;
        }
        if self.provider == Provider::Cuda {
            b = b
                .with_execution_providers([ort::ep::CUDA::default().build().error_on_failure()])
                .map_err(|e| Error::Provider { provider: "CUDA".into(), reason: e.to_string() })?;
        }
        let inner = b.commit_from_memory(model).map_err(rt)?;
        Ok(Session::new(inner))
    }

    /// The same runtime for `jobs` sessions that run at once: its intra-op threads (one per
    /// logical CPU when unset) divided between them, at least one each, and the memory budget
    /// of [`Runtime::session_for`] too.
    pub fn split(&self, jobs: usize) -> Runtime {
        let total = match self.threads {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        };
        Runtime { threads: (total / jobs.max(1)).max(1), concurrent: jobs.max(1), ..self.clone() }
    }

    /// A session for `g`, after checking (CPU provider only) that one run of it fits in memory
    /// ([`crate::limits::Limits::check_memory`]): a network that cannot fit is refused before
    /// ONNX Runtime spends time on it. On CUDA the estimate is made but not checked.
    pub fn session_for(&self, g: &crate::ir::Graph) -> Result<Session> {
        self.session_checked(g).map(|(s, _)| s)
    }

    /// [`Runtime::session_for`], with the memory estimate it checked.
    pub fn session_checked(
        &self,
        g: &crate::ir::Graph,
    ) -> Result<(Session, crate::ir::memory::MemoryEstimate)> {
        let estimate = self.check_memory(g)?;
        Ok((self.session_sized(&crate::onnx::to_bytes(g), &estimate)?, estimate))
    }

    /// The memory one run of `g` needs, estimated and (CPU provider only) checked against the
    /// memory budget of this runtime's share of the jobs.
    pub fn check_memory(&self, g: &crate::ir::Graph) -> Result<crate::ir::memory::MemoryEstimate> {
        if self.provider == Provider::Cpu {
            crate::limits::Limits::current().check_memory(g, self.concurrent)
        } else {
            Ok(crate::ir::memory::estimate(g))
        }
    }

    /// One line describing the runtime (provider, library, threads).
    pub fn describe(&self) -> String {
        format!(
            "ONNX Runtime {ORT_VERSION} ({:?} provider, {} threads) from {} [{}]",
            self.provider,
            if self.threads == 0 { "default".to_string() } else { self.threads.to_string() },
            self.library.path.display(),
            self.library.origin
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_large_runs_leave_the_shared_arena() {
        assert_eq!(Memory::for_run(1536 << 20), Memory::SharedArena);
        assert_eq!(Memory::for_run(LARGE_RUN_BYTES - 1), Memory::SharedArena);
        assert_eq!(Memory::for_run(LARGE_RUN_BYTES), Memory::SystemAllocator);
        assert_eq!(Memory::for_run(5 << 30), Memory::SystemAllocator);
    }
}
