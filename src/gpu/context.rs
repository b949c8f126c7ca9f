//! The device: a wgpu device and queue ([`GpuContext`]) with what every kernel shares (the one
//! bind-group layout, the pipeline cache, error scopes) and the helpers' counters.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::error::{Error, Result};

/// How long a readback waits for the GPU before giving up with [`Error::Gpu`].
pub const DEFAULT_POLL_TIMEOUT: Duration = Duration::from_secs(120);

/// Invocations per workgroup of every kernel (`WG` in `shaders/common.wgsl`).
pub(crate) const WORKGROUP: u32 = 256;

/// The bindings every kernel shares, declared the same way in `shaders/common.wgsl` (the arena)
/// and in each kernel (its descriptor table).
pub(crate) struct KernelBindings<'a> {
    /// The whole arena buffer, read-write, as `array<u32>`.
    pub arena: &'a wgpu::Buffer,
    /// The dispatch's descriptor table: a range of the descriptor buffer, read-only.
    pub desc: wgpu::BufferBinding<'a>,
}

impl KernelBindings<'_> {
    const ARENA: u32 = 0;
    const DESC: u32 = 1;

    fn layout_entries() -> [wgpu::BindGroupLayoutEntry; 2] {
        let storage = |binding, read_only| wgpu::BindGroupLayoutEntry {
            binding,
            visibility: wgpu::ShaderStages::COMPUTE,
            ty: wgpu::BindingType::Buffer {
                ty: wgpu::BufferBindingType::Storage { read_only },
                has_dynamic_offset: false,
                min_binding_size: None,
            },
            count: None,
        };
        [storage(Self::ARENA, false), storage(Self::DESC, true)]
    }

    pub(super) fn bind_group(&self, ctx: &GpuContext) -> wgpu::BindGroup {
        ctx.inner
            .device
            .create_bind_group(&wgpu::BindGroupDescriptor {
                label: Some("vaerans kernel bindings"),
                layout: &ctx.inner.layout,
                entries: &[
                    wgpu::BindGroupEntry {
                        binding: Self::ARENA,
                        resource: self.arena.as_entire_binding(),
                    },
                    wgpu::BindGroupEntry {
                        binding: Self::DESC,
                        resource: wgpu::BindingResource::Buffer(self.desc.clone()),
                    },
                ],
            })
    }
}

/// A compute kernel: a WGSL file and one of its entry points.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Kernel {
    /// The shader file's stem (`"wavelet"`), for labels and the module cache.
    pub name: &'static str,
    /// The shader's own source (`include_str!`); `common.wgsl` is appended when compiled.
    pub source: &'static str,
    /// Entry point.
    pub entry: &'static str,
}

/// The bindings and helpers every kernel shares, appended to each kernel's source (the build
/// script validates them the same way).
pub(super) const COMMON_WGSL: &str = include_str!("../../shaders/common.wgsl");

/// Counters kept by the transfer and allocation helpers, for tests and reports.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct GpuStats {
    /// Host → GPU tensor uploads (each one `write_buffer_with` covering a whole batch).
    pub uploads: u64,
    /// GPU → host readbacks (each one staging copy and one `map_async`).
    pub readbacks: u64,
    /// Descriptor-table writes (one per submission, covering every dispatch in it).
    pub descriptor_writes: u64,
    /// `wgpu::Buffer`s created: arena, descriptor and staging buffers, at warm-up and on growth.
    pub buffers_created: u64,
    /// Compute dispatches recorded.
    pub dispatches: u64,
    /// Command-buffer submissions.
    pub submits: u64,
}

impl GpuStats {
    /// What happened between `earlier` and these counters.
    pub fn since(&self, earlier: &GpuStats) -> GpuStats {
        GpuStats {
            uploads: self.uploads - earlier.uploads,
            readbacks: self.readbacks - earlier.readbacks,
            descriptor_writes: self.descriptor_writes - earlier.descriptor_writes,
            buffers_created: self.buffers_created - earlier.buffers_created,
            dispatches: self.dispatches - earlier.dispatches,
            submits: self.submits - earlier.submits,
        }
    }
}

#[derive(Default)]
pub(super) struct Counters {
    pub(super) uploads: AtomicU64,
    pub(super) readbacks: AtomicU64,
    pub(super) descriptor_writes: AtomicU64,
    pub(super) buffers_created: AtomicU64,
    pub(super) dispatches: AtomicU64,
    pub(super) submits: AtomicU64,
}

impl Counters {
    pub(super) fn bump(c: &AtomicU64) {
        c.fetch_add(1, Ordering::Relaxed);
    }
}

struct Inner {
    device: wgpu::Device,
    queue: wgpu::Queue,
    description: String,
    software: bool,
    layout: wgpu::BindGroupLayout,
    pipeline_layout: wgpu::PipelineLayout,
    modules: Mutex<HashMap<&'static str, wgpu::ShaderModule>>,
    pipelines: Mutex<HashMap<(&'static str, &'static str), wgpu::ComputePipeline>>,
    counters: Counters,
}

/// A wgpu device and queue with the kernels' shared layout and a pipeline cache.
///
/// Cheap to clone (shared). Created by the library with [`GpuContext::new`], or from a host
/// application's own device with [`GpuContext::from_wgpu`] (no second device).
#[derive(Clone)]
pub struct GpuContext {
    inner: Arc<Inner>,
    timeout: Duration,
    host_polls: bool,
}

impl std::fmt::Debug for GpuContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GpuContext")
            .field("adapter", &self.inner.description)
            .finish()
    }
}

fn describe(info: &wgpu::AdapterInfo) -> String {
    format!(
        "{} ({:?}, {:?}, driver {} {})",
        info.name, info.device_type, info.backend, info.driver, info.driver_info
    )
    .replace(" , ", " ")
}

const NO_ADAPTER_HELP: &str = "install a GPU driver with Vulkan support (on Debian without a GPU: \
     `apt-get install -y mesa-vulkan-drivers libvulkan1` for the lavapipe software adapter), \
     or run the latent stages on the CPU (Device::Cpu)";

impl GpuContext {
    /// Opens the best adapter the way wgpu's own helpers choose it: `WGPU_BACKEND` picks the
    /// backends (default: Vulkan, Metal, DX12), `WGPU_ADAPTER_NAME` an adapter by name
    /// (a substring, case-insensitive), `WGPU_POWER_PREF` the preference (default high
    /// performance). The device gets the adapter's own limits.
    pub fn new() -> Result<Self> {
        let backends = wgpu::Backends::from_env().unwrap_or(wgpu::Backends::PRIMARY);
        let mut desc = wgpu::InstanceDescriptor::new_without_display_handle_from_env();
        desc.backends = backends;
        let instance = wgpu::Instance::new(desc);
        let adapter = match std::env::var("WGPU_ADAPTER_NAME") {
            Ok(wanted) if !wanted.is_empty() => {
                let wanted = wanted.to_lowercase();
                let adapters = pollster::block_on(instance.enumerate_adapters(backends));
                let names: Vec<String> = adapters.iter().map(|a| a.get_info().name).collect();
                adapters
                    .into_iter()
                    .find(|a| a.get_info().name.to_lowercase().contains(&wanted))
                    .ok_or_else(|| {
                        Error::NoGpu(format!(
                            "no adapter's name contains WGPU_ADAPTER_NAME=`{wanted}` \
                             (found: {}); unset it or pick one of those",
                            if names.is_empty() {
                                "none".to_string()
                            } else {
                                names.join(", ")
                            }
                        ))
                    })?
            }
            _ => pollster::block_on(
                instance.request_adapter(&wgpu::RequestAdapterOptions {
                    power_preference: wgpu::PowerPreference::from_env()
                        .unwrap_or(wgpu::PowerPreference::HighPerformance),
                    ..Default::default()
                }),
            )
            .map_err(|e| Error::NoGpu(format!("no GPU adapter ({e}); {NO_ADAPTER_HELP}")))?,
        };
        let info = adapter.get_info();
        let (device, queue) = pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor {
            label: Some("vaerans"),
            required_limits: adapter.limits(),
            memory_hints: wgpu::MemoryHints::Performance,
            ..Default::default()
        }))
        .map_err(|e| Error::Gpu(format!("cannot open a device on {}: {e}", info.name)))?;
        // Our own device: report errors nobody captured instead of wgpu's default panic. Every
        // operation of ours runs inside an error scope, so this is a backstop.
        device.on_uncaptured_error(Arc::new(|e| {
            tracing::error!("uncaptured wgpu error: {e}");
        }));
        let software = info.device_type == wgpu::DeviceType::Cpu;
        Ok(Self::build(device, queue, describe(&info), software))
    }

    /// Uses a host application's device and queue (graphics tools embedding the codec): no
    /// second device is created. The device's limits bound the arena (see
    /// [`max_arena_bytes`](Self::max_arena_bytes)); its error handler is left alone, and
    /// vaerans captures its own errors with error scopes.
    pub fn from_wgpu(device: wgpu::Device, queue: wgpu::Queue) -> Self {
        Self::build(
            device,
            queue,
            "host-provided wgpu device".to_string(),
            false,
        )
    }

    fn build(
        device: wgpu::Device,
        queue: wgpu::Queue,
        description: String,
        software: bool,
    ) -> Self {
        let layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
            label: Some("vaerans kernel bindings"),
            entries: &KernelBindings::layout_entries(),
        });
        let pipeline_layout = device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
            label: Some("vaerans kernels"),
            bind_group_layouts: &[Some(&layout)],
            immediate_size: 0,
        });
        Self {
            inner: Arc::new(Inner {
                device,
                queue,
                description,
                software,
                layout,
                pipeline_layout,
                modules: Mutex::new(HashMap::new()),
                pipelines: Mutex::new(HashMap::new()),
                counters: Counters::default(),
            }),
            timeout: DEFAULT_POLL_TIMEOUT,
            host_polls: false,
        }
    }

    /// The adapter's name, type, backend and driver.
    pub fn adapter_description(&self) -> &str {
        &self.inner.description
    }

    /// True for a software adapter (lavapipe, WARP): correct, but slower than the CPU path.
    pub fn is_software(&self) -> bool {
        self.inner.software
    }

    /// The wgpu device.
    pub fn device(&self) -> &wgpu::Device {
        &self.inner.device
    }

    /// The wgpu queue.
    pub fn queue(&self) -> &wgpu::Queue {
        &self.inner.queue
    }

    /// The largest arena this device can bind as one storage buffer (and at most 4 GiB, the
    /// kernels' 32-bit byte addressing).
    pub fn max_arena_bytes(&self) -> u64 {
        let l = self.inner.device.limits();
        // Binding sizes are multiples of 4; keep the arena a multiple of the offset alignment.
        let align = u64::from(l.min_storage_buffer_offset_alignment.max(4));
        // Kernels address symbols by u32 byte index: at most 4 GiB.
        let most = l
            .max_storage_buffer_binding_size
            .min(l.max_buffer_size)
            .min(u64::from(u32::MAX));
        (most / align) * align
    }

    /// Alignment of every arena allocation: the device's `min_storage_buffer_offset_alignment`
    /// (at least 4, the copy alignment).
    pub fn alignment(&self) -> u64 {
        u64::from(
            self.inner
                .device
                .limits()
                .min_storage_buffer_offset_alignment
                .max(4),
        )
    }

    /// Most workgroups per grid dimension.
    pub(crate) fn max_groups(&self) -> u32 {
        self.inner
            .device
            .limits()
            .max_compute_workgroups_per_dimension
            .max(1)
    }

    /// The helpers' counters so far (shared by every arena on this context).
    pub fn stats(&self) -> GpuStats {
        let c = &self.inner.counters;
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        GpuStats {
            uploads: get(&c.uploads),
            readbacks: get(&c.readbacks),
            descriptor_writes: get(&c.descriptor_writes),
            buffers_created: get(&c.buffers_created),
            dispatches: get(&c.dispatches),
            submits: get(&c.submits),
        }
    }

    /// Runs `f` inside validation and out-of-memory error scopes and turns a captured error into
    /// [`Error::Gpu`] naming `what`.
    pub(crate) fn scoped<T>(&self, what: &str, f: impl FnOnce() -> T) -> Result<T> {
        let device = &self.inner.device;
        let oom = device.push_error_scope(wgpu::ErrorFilter::OutOfMemory);
        let validation = device.push_error_scope(wgpu::ErrorFilter::Validation);
        let out = f();
        let v = pollster::block_on(validation.pop());
        let o = pollster::block_on(oom.pop());
        match v.or(o) {
            None => Ok(out),
            Some(e) => Err(Error::Gpu(format!("{what}: {e}"))),
        }
    }

    /// Creates a buffer (counted in [`GpuStats::buffers_created`]).
    pub(crate) fn create_buffer(
        &self,
        label: &str,
        size: u64,
        usage: wgpu::BufferUsages,
    ) -> Result<wgpu::Buffer> {
        Counters::bump(&self.inner.counters.buffers_created);
        self.scoped(&format!("creating the {size}-byte {label} buffer"), || {
            self.inner.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some(label),
                size,
                usage,
                mapped_at_creation: false,
            })
        })
    }

    /// The compute pipeline of a kernel, compiled on first use and cached.
    pub(crate) fn pipeline(&self, k: &Kernel) -> Result<wgpu::ComputePipeline> {
        let mut pipelines = self
            .inner
            .pipelines
            .lock()
            .map_err(|_| Error::Gpu("pipeline cache poisoned by an earlier panic".into()))?;
        if let Some(p) = pipelines.get(&(k.name, k.entry)) {
            return Ok(p.clone());
        }
        let module = {
            let mut modules = self
                .inner
                .modules
                .lock()
                .map_err(|_| Error::Gpu("shader cache poisoned by an earlier panic".into()))?;
            match modules.get(k.name) {
                Some(m) => m.clone(),
                None => {
                    let source = format!("{}\n{COMMON_WGSL}", k.source);
                    let m = self.scoped(&format!("compiling shaders/{}.wgsl", k.name), || {
                        self.inner
                            .device
                            .create_shader_module(wgpu::ShaderModuleDescriptor {
                                label: Some(k.name),
                                source: wgpu::ShaderSource::Wgsl(source.into()),
                            })
                    })?;
                    modules.insert(k.name, m.clone());
                    m
                }
            }
        };
        let p = self.scoped(
            &format!("building the {}::{} pipeline", k.name, k.entry),
            || {
                self.inner
                    .device
                    .create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                        label: Some(k.entry),
                        layout: Some(&self.inner.pipeline_layout),
                        module: &module,
                        entry_point: Some(k.entry),
                        compilation_options: Default::default(),
                        cache: None,
                    })
            },
        )?;
        pipelines.insert((k.name, k.entry), p.clone());
        Ok(p)
    }

    pub(super) fn counters(&self) -> &Counters {
        &self.inner.counters
    }

    pub(super) fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Whether the host drives the device (see [`with_host_polling`](Self::with_host_polling)).
    pub fn host_polls(&self) -> bool {
        self.host_polls
    }

    /// The same device, driven by the host: vaerans never calls [`wgpu::Device::poll`] on it.
    /// A readback waits, at most the poll timeout, for its `map_async` callback, which the
    /// host's own `poll` fires. For hosts that run their own event loop and poll the device
    /// every frame; pair it with [`Codec::compress_async`](crate::Codec::compress_async), so the
    /// wait happens on the codec's worker thread, never on the host's. If the host does not
    /// poll, a readback fails with [`Error::Gpu`] once the timeout has passed.
    pub fn with_host_polling(mut self, on: bool) -> Self {
        self.host_polls = on;
        self
    }

    /// The same device with another bound on how long a readback waits for the GPU (default
    /// [`DEFAULT_POLL_TIMEOUT`]); past it the readback fails with [`Error::Gpu`].
    pub fn with_poll_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }
}
