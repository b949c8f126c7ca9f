//! Execution providers: which ONNX Runtime provider runs the VAE ([`ExecutionProvider`]), the
//! options that tune it ([`ProviderOptions`]), building sessions on it, and checking where a
//! graph's nodes actually ran ([`Placement`]).
//!
//! An explicit provider never falls back: when it cannot start, the error names the cause.
//! [`ExecutionProvider::Auto`] tries CUDA (when this build has it), then WebGPU on a hardware
//! adapter, then the CPU, and logs which it chose and why it passed over the others.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};

use ort::session::builder::SessionBuilder;
use ort::session::Session;

use super::runtime;
use crate::error::{Error, Result};

/// ONNX Runtime's name for its CPU provider.
pub const CPU_EP: &str = "CPUExecutionProvider";
/// ONNX Runtime's name for its CUDA provider.
pub const CUDA_EP: &str = "CUDAExecutionProvider";
/// ONNX Runtime's name for the WebGPU plugin provider.
pub const WEBGPU_EP: &str = "WebGpuExecutionProvider";

/// Which ONNX Runtime execution provider runs the VAE.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum ExecutionProvider {
    /// CUDA when this build has the `cuda` feature and the provider starts; else WebGPU when
    /// its plugin is installed and offers a hardware adapter; else the CPU. The choice, and why
    /// the others were passed over, is logged.
    #[default]
    Auto,
    /// The CPU provider.
    Cpu,
    /// CUDA (`onnxruntime-gpu`, the `cuda` feature); failing to start it is an error carrying
    /// the provider's reason.
    Cuda,
    /// WebGPU through ONNX Runtime's plugin provider (`onnxruntime-ep-webgpu`, on Vulkan, Metal
    /// or D3D12); failing to start it is an error naming the cause.
    WebGpu,
}

impl ExecutionProvider {
    /// ONNX Runtime's name for the provider (`None` for [`Auto`](Self::Auto), which is not one).
    pub fn ort_name(self) -> Option<&'static str> {
        match self {
            Self::Auto => None,
            Self::Cpu => Some(CPU_EP),
            Self::Cuda => Some(CUDA_EP),
            Self::WebGpu => Some(WEBGPU_EP),
        }
    }
}

impl std::str::FromStr for ExecutionProvider {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "auto" => Ok(Self::Auto),
            "cpu" => Ok(Self::Cpu),
            "cuda" => Ok(Self::Cuda),
            "webgpu" => Ok(Self::WebGpu),
            other => Err(Error::InvalidInput(format!(
                "unknown execution provider `{other}`; use auto, cpu, cuda or webgpu"
            ))),
        }
    }
}

impl std::fmt::Display for ExecutionProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Auto => "auto",
            Self::Cpu => "cpu",
            Self::Cuda => "cuda",
            Self::WebGpu => "webgpu",
        })
    }
}

/// How cuDNN picks each convolution's algorithm (ONNX Runtime's `cudnn_conv_algo_search`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum ConvSearch {
    /// Time every algorithm on the first run of each shape and keep the fastest: the fastest
    /// steady state, at the cost of a slow first batch per image size. ONNX Runtime's default.
    #[default]
    Exhaustive,
    /// cuDNN's heuristics: a fast first batch, usually close to the best.
    Heuristic,
    /// cuDNN's default algorithm, no search.
    Default,
}

impl std::str::FromStr for ConvSearch {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "exhaustive" => Ok(Self::Exhaustive),
            "heuristic" => Ok(Self::Heuristic),
            "default" => Ok(Self::Default),
            other => Err(Error::InvalidInput(format!(
                "unknown convolution search `{other}`; use exhaustive, heuristic or default"
            ))),
        }
    }
}

impl std::fmt::Display for ConvSearch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Exhaustive => "exhaustive",
            Self::Heuristic => "heuristic",
            Self::Default => "default",
        })
    }
}

/// Options of the GPU providers; the CPU provider ignores them. Defaults are ONNX Runtime's.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct ProviderOptions {
    /// The CUDA device to run on (default 0).
    pub cuda_device: u32,
    /// How cuDNN picks convolution algorithms (default [`ConvSearch::Exhaustive`]).
    pub conv_search: ConvSearch,
    /// Whether CUDA may use TF32 tensor cores for f32 maths on Ampere and later (default
    /// true): several times faster convolutions, with a 10-bit mantissa inside them.
    pub tf32: bool,
    /// Threads one session call of the CPU provider uses (default `None`: ONNX Runtime's
    /// choice, one per physical core). A pipeline running several sessions side by side gives
    /// each a share of the cores.
    pub threads: Option<usize>,
}

impl Default for ProviderOptions {
    fn default() -> Self {
        Self {
            cuda_device: 0,
            conv_search: ConvSearch::Exhaustive,
            tf32: true,
            threads: None,
        }
    }
}

impl ProviderOptions {
    /// Sets [`cuda_device`](Self::cuda_device).
    pub fn with_cuda_device(mut self, device: u32) -> Self {
        self.cuda_device = device;
        self
    }

    /// Sets [`conv_search`](Self::conv_search).
    pub fn with_conv_search(mut self, search: ConvSearch) -> Self {
        self.conv_search = search;
        self
    }

    /// Sets [`tf32`](Self::tf32).
    pub fn with_tf32(mut self, tf32: bool) -> Self {
        self.tf32 = tf32;
        self
    }

    /// Sets [`threads`](Self::threads) (at least 1).
    pub fn with_threads(mut self, threads: usize) -> Self {
        self.threads = Some(threads.max(1));
        self
    }
}

/// Keeps ONNX Runtime's multi-line reasons to one line.
fn one_line(e: impl std::fmt::Display) -> String {
    e.to_string()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// A session builder on the shared environment with full graph optimisation and the
/// options' thread count.
fn new_builder(opts: &ProviderOptions) -> Result<SessionBuilder> {
    let builder =
        Session::builder(runtime::environment()?).map_err(|e| Error::Runtime(e.to_string()))?;
    let builder = builder
        .with_optimization_level(ort::session::builder::GraphOptimizationLevel::Level3)
        .map_err(|e| Error::Runtime(format!("setting the optimisation level: {e}")))?;
    match opts.threads {
        Some(n) => builder
            .with_intra_threads(n)
            .map_err(|e| Error::Runtime(format!("setting {n} intra-op threads: {e}"))),
        None => Ok(builder),
    }
}

#[cfg(feature = "cuda")]
fn with_cuda(builder: SessionBuilder, opts: &ProviderOptions) -> Result<SessionBuilder> {
    use ort::ep::cuda::ConvAlgorithmSearch;
    let device = i32::try_from(opts.cuda_device).map_err(|_| {
        Error::InvalidInput(format!("CUDA device {} does not exist", opts.cuda_device))
    })?;
    let search = match opts.conv_search {
        ConvSearch::Exhaustive => ConvAlgorithmSearch::Exhaustive,
        ConvSearch::Heuristic => ConvAlgorithmSearch::Heuristic,
        ConvSearch::Default => ConvAlgorithmSearch::Default,
    };
    let cuda = ort::ep::CUDA::default()
        .with_device_id(device)
        .with_conv_algorithm_search(search)
        .with_tf32(opts.tf32)
        .build()
        .error_on_failure();
    builder.with_execution_providers([cuda]).map_err(|e| {
        Error::ExecutionProvider(format!(
            "CUDA could not start on device {device}: {}; it needs onnxruntime-gpu=={} (its \
             libonnxruntime_providers_cuda beside the ONNX Runtime library), the CUDA 13 \
             runtime and cuDNN 9 on the library search path, and an NVIDIA driver",
            one_line(e),
            runtime::ORT_VERSION
        ))
    })
}

#[cfg(not(feature = "cuda"))]
fn with_cuda(_builder: SessionBuilder, _opts: &ProviderOptions) -> Result<SessionBuilder> {
    Err(Error::ExecutionProvider(format!(
        "this build has no CUDA support; rebuild vaerans with its `cuda` feature and install \
         onnxruntime-gpu=={}",
        runtime::ORT_VERSION
    )))
}

/// Whether ONNX Runtime's WebGPU provider may offer software adapters in this process.
fn software_adapters_allowed() -> bool {
    std::env::var_os("ORT_WEBGPU_EP_ALLOW_SOFTWARE_ADAPTER").is_some_and(|v| v == "1")
}

/// The WebGPU provider found no adapter; `detail` is Dawn's word when it gave one.
fn no_webgpu_adapter(detail: Option<&str>) -> Error {
    let why = if software_adapters_allowed() {
        "it needs a Vulkan driver with a GPU (or Mesa 25 or later for the lavapipe software \
         adapter; Dawn refuses older Mesa)"
    } else {
        "it needs a Vulkan driver with a GPU; a software adapter (Mesa's lavapipe) is offered \
         only with ORT_WEBGPU_EP_ALLOW_SOFTWARE_ADAPTER=1"
    };
    let detail = detail.map(|d| format!(" ({d})")).unwrap_or_default();
    Error::ExecutionProvider(format!(
        "ONNX Runtime's WebGPU provider found no adapter{detail}: {why}"
    ))
}

/// A session that failed to build: the provider's failure (it starts only when the first
/// session is built) is an execution-provider error, anything else the graph's.
fn commit_error(e: impl std::fmt::Display, used: ExecutionProvider, what: &str) -> Error {
    let msg = one_line(e);
    if used == ExecutionProvider::Cpu || !msg.contains("Error creating execution provider") {
        return Error::Model(format!("ONNX Runtime cannot load the {what}: {msg}"));
    }
    // ONNX Runtime's message ends with the provider's own sentence, after a source location.
    let reason = msg
        .rsplit_once(" was false. ")
        .map(|(_, r)| r)
        .or_else(|| msg.rsplit_once(" : ").map(|(_, r)| r))
        .unwrap_or(&msg);
    if used == ExecutionProvider::WebGpu && reason.contains("adapter") {
        return no_webgpu_adapter(Some(reason));
    }
    Error::ExecutionProvider(format!("{used} could not start: {reason}"))
}

/// Registers the WebGPU plugin and returns a builder on its device. `hardware_only` passes
/// over a software adapter (Mesa's lavapipe, SwiftShader), for [`ExecutionProvider::Auto`].
fn with_webgpu(builder: SessionBuilder, hardware_only: bool) -> Result<SessionBuilder> {
    if hardware_only && software_adapters_allowed() {
        // With software adapters allowed the device may be one; the plugin does not say which
        // adapter it will pick, so only a process that leaves them out can trust it.
        return Err(Error::ExecutionProvider(
            "ORT_WEBGPU_EP_ALLOW_SOFTWARE_ADAPTER=1 is set, so its adapter may be a software one"
                .into(),
        ));
    }
    let env = runtime::webgpu_environment()?;
    // The provider takes one device and picks the physical adapter itself (the plugin's own
    // rule); several would be refused.
    let device = env
        .devices()
        .find(|d| d.ep().is_ok_and(|name| name == WEBGPU_EP));
    let Some(device) = device else {
        return Err(no_webgpu_adapter(None));
    };
    builder
        .with_devices([device], None)
        .map_err(|e| Error::ExecutionProvider(format!("WebGPU could not start: {}", one_line(e))))
}

/// A session builder with the provider registered, and the provider actually used.
fn builder_for(
    ep: ExecutionProvider,
    opts: &ProviderOptions,
) -> Result<(SessionBuilder, ExecutionProvider)> {
    let builder = new_builder(opts)?;
    match ep {
        ExecutionProvider::Cpu => Ok((builder, ExecutionProvider::Cpu)),
        ExecutionProvider::Cuda => with_cuda(builder, opts).map(|b| (b, ExecutionProvider::Cuda)),
        ExecutionProvider::WebGpu => {
            with_webgpu(builder, false).map(|b| (b, ExecutionProvider::WebGpu))
        }
        ExecutionProvider::Auto => {
            let mut passed = Vec::new();
            match with_cuda(builder, opts) {
                Ok(b) => {
                    tracing::info!("execution provider auto: using CUDA");
                    return Ok((b, ExecutionProvider::Cuda));
                }
                Err(Error::ExecutionProvider(why)) => passed.push(format!("not CUDA: {why}")),
                Err(e) => return Err(e),
            }
            match with_webgpu(new_builder(opts)?, true) {
                Ok(b) => {
                    tracing::info!(
                        "execution provider auto: using WebGPU ({})",
                        passed.join("; ")
                    );
                    return Ok((b, ExecutionProvider::WebGpu));
                }
                Err(Error::ExecutionProvider(why)) => passed.push(format!("not WebGPU: {why}")),
                Err(e) => return Err(e),
            }
            tracing::info!(
                "execution provider auto: using the CPU ({})",
                passed.join("; ")
            );
            Ok((new_builder(opts)?, ExecutionProvider::Cpu))
        }
    }
}

/// Held while a WebGPU session is built or runs. All of a process's WebGPU sessions share the
/// plugin's one Dawn device, and the plugin (0.4.0) crashed the process (SIGSEGV) when sessions
/// were built and run from several threads at once; one at a time, it runs correctly. WebGPU
/// work is queued on one GPU anyway, so this costs little. `Auto` may end on WebGPU, so its
/// session builds take the lock too; `None` for the other providers.
pub(crate) fn exclusive(ep: ExecutionProvider) -> Option<MutexGuard<'static, ()>> {
    static WEBGPU: Mutex<()> = Mutex::new(());
    matches!(ep, ExecutionProvider::WebGpu | ExecutionProvider::Auto)
        .then(|| WEBGPU.lock().unwrap_or_else(|p| p.into_inner()))
}

/// Opens a model held in memory with the requested provider; returns the session and the
/// provider it runs on.
pub(crate) fn open_session(
    bytes: &[u8],
    ep: ExecutionProvider,
    opts: &ProviderOptions,
    what: &str,
) -> Result<(Session, ExecutionProvider)> {
    let _one_at_a_time = exclusive(ep);
    let (mut builder, used) = builder_for(ep, opts)?;
    let session = builder
        .commit_from_memory(bytes)
        .map_err(|e| commit_error(e, used, what))?;
    Ok((session, used))
}

/// How many of a graph's nodes ran on each execution provider, by ONNX Runtime's provider
/// names ([`CPU_EP`], [`CUDA_EP`], [`WEBGPU_EP`]): read from ONNX Runtime's own profile of one
/// run, so it is where the nodes ran, not where they were meant to.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Placement(pub BTreeMap<String, usize>);

impl Placement {
    /// Nodes in all.
    pub fn total(&self) -> usize {
        self.0.values().sum()
    }

    /// Nodes that ran on `provider` (an ONNX Runtime provider name).
    pub fn on(&self, provider: &str) -> usize {
        self.0.get(provider).copied().unwrap_or(0)
    }

    /// Reads the node events of an ONNX Runtime profile (Chrome trace JSON): each node counts
    /// once, under the provider its kernel ran on.
    fn from_profile(json: &str) -> Result<Self> {
        let events: Vec<serde_json::Value> = serde_json::from_str(json)
            .map_err(|e| Error::Runtime(format!("unreadable ONNX Runtime profile: {e}")))?;
        let mut nodes = BTreeMap::new();
        for ev in &events {
            if ev["cat"] != "Node" {
                continue;
            }
            let (Some(name), Some(provider)) =
                (ev["name"].as_str(), ev["args"]["provider"].as_str())
            else {
                continue;
            };
            if let Some(node) = name.strip_suffix("_kernel_time") {
                nodes.insert(node.to_string(), provider.to_string());
            }
        }
        let mut out = BTreeMap::new();
        for provider in nodes.into_values() {
            *out.entry(provider).or_insert(0) += 1;
        }
        Ok(Self(out))
    }
}

impl std::fmt::Display for Placement {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let parts: Vec<String> = self.0.iter().map(|(p, n)| format!("{n} on {p}")).collect();
        write!(f, "{} nodes: {}", self.total(), parts.join(", "))
    }
}

/// Runs graph `bytes` once on `ep` with ONNX Runtime's profiler on, feeding zeros of `shape`
/// to `input`, and reports where its nodes ran.
pub(crate) fn profile_placement(
    bytes: &[u8],
    ep: ExecutionProvider,
    opts: &ProviderOptions,
    input: &str,
    shape: [usize; 4],
) -> Result<Placement> {
    static RUN: AtomicU64 = AtomicU64::new(0);
    let prefix: PathBuf = std::env::temp_dir().join(format!(
        "vaerans-profile-{}-{}",
        std::process::id(),
        RUN.fetch_add(1, Ordering::Relaxed)
    ));
    let _one_at_a_time = exclusive(ep);
    let (builder, used) = builder_for(ep, opts)?;
    let mut session = builder
        .with_profiling(&prefix)
        .map_err(|e| Error::Runtime(format!("turning on the profiler: {e}")))?
        .commit_from_memory(bytes)
        .map_err(|e| commit_error(e, used, "graph"))?;
    let zeros = vec![0f32; shape.iter().product()];
    let value = ort::value::TensorRef::from_array_view((shape, zeros.as_slice()))
        .map_err(|e| Error::Runtime(format!("profile input: {e}")))?;
    session
        .run(ort::inputs![input => value])
        .map_err(|e| Error::Runtime(format!("profiled run failed: {e}")))?;
    let file = session
        .end_profiling()
        .map_err(|e| Error::Runtime(format!("ending the profile: {e}")))?;
    let json = std::fs::read_to_string(&file).map_err(|e| Error::io(&file, e));
    let _ = std::fs::remove_file(&file);
    Placement::from_profile(&json?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn provider_names_parse() {
        assert_eq!(
            "CUDA".parse::<ExecutionProvider>().unwrap(),
            ExecutionProvider::Cuda
        );
        assert_eq!(
            "WebGPU".parse::<ExecutionProvider>().unwrap(),
            ExecutionProvider::WebGpu
        );
        assert_eq!(
            "auto".parse::<ExecutionProvider>().unwrap(),
            ExecutionProvider::Auto
        );
        assert!("tpu".parse::<ExecutionProvider>().is_err());
        for ep in [
            ExecutionProvider::Auto,
            ExecutionProvider::Cpu,
            ExecutionProvider::Cuda,
            ExecutionProvider::WebGpu,
        ] {
            assert_eq!(ep.to_string().parse::<ExecutionProvider>().unwrap(), ep);
        }
        assert_eq!(
            "heuristic".parse::<ConvSearch>().unwrap(),
            ConvSearch::Heuristic
        );
        assert!("fastest".parse::<ConvSearch>().is_err());
    }

    #[test]
    fn a_profile_counts_each_node_once_under_its_provider() {
        let json = r#"[
            {"cat":"Session","name":"model_run","args":{}},
            {"cat":"Node","name":"conv1_fence_before","args":{"op_name":"Conv"}},
            {"cat":"Node","name":"conv1_kernel_time","args":{"op_name":"Conv","provider":"WebGpuExecutionProvider"}},
            {"cat":"Node","name":"conv1_kernel_time","args":{"op_name":"Conv","provider":"WebGpuExecutionProvider"}},
            {"cat":"Node","name":"shape_kernel_time","args":{"op_name":"Shape","provider":"CPUExecutionProvider"}},
            {"cat":"Node","name":"act_kernel_time","args":{"op_name":"Relu","provider":"WebGpuExecutionProvider"}}
        ]"#;
        let p = Placement::from_profile(json).unwrap();
        assert_eq!(p.total(), 3);
        assert_eq!(p.on(WEBGPU_EP), 2);
        assert_eq!(p.on(CPU_EP), 1);
        assert_eq!(
            p.to_string(),
            "3 nodes: 1 on CPUExecutionProvider, 2 on WebGpuExecutionProvider"
        );
        assert!(Placement::from_profile("not json").is_err());
    }
}
