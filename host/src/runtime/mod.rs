//! The WebAssembly runtime: one wasmtime engine, plugins compiled once into `InstancePre`s, and
//! a fresh, limited `Store` for every call.
//!
//! A trap, a panic or a limit hit inside a plugin becomes a [`CallFailure`]; the host and every
//! other call keep working.

mod bindings;
mod cache;
mod clocks;
pub mod content;
mod epoch;
mod features;
mod imports;
mod lanes;
mod limits;
mod precompile;
mod sanitize;
mod state;
mod throttle;

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::Semaphore;
use wasmtime::component::{Component, HasSelf, Linker};
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, Store, Trap};
use wasmtime_wasi::WasiCtxBuilder;
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;

pub use bindings::{falcon, files, host, mcp, tools};
pub use cache::{CompileCache, sha256_hex};
pub use limits::Limits;
pub use precompile::Precompiled;
pub use sanitize::log_safe;
pub use state::{CallInfo, FilesOp, FilesReply, ProgressSink, Services, truncate as truncate_str};
pub use throttle::{Record, RecordBudget};

use bindings::ToolGroupMcp;
use lanes::OnLane;
use limits::MemoryLimiter;
use state::CallState;

/// How often the epoch advances; CPU budgets are counted in these ticks.
const EPOCH_TICK: Duration = Duration::from_millis(10);
/// Calls (instances) alive at once across all plugins; the pool is sized for it.
const POOL_INSTANCES: u32 = 256;
/// Captured guest stdout/stderr per call.
const STDIO_CAPTURE: usize = 64 * 1024;
/// Deadline for `describe()` at load time.
const DESCRIBE_DEADLINE: Duration = Duration::from_secs(10);

/// Why a component could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The bytes are not a WebAssembly component (perhaps a core module, or truncated).
    #[error("not a valid WebAssembly component: {0}")]
    NotAComponent(String),
    /// The component does not implement `aerie:plugin/tool-group@0.2.0` or imports something
    /// the host does not provide.
    #[error("does not match the aerie:plugin/tool-group@0.2.0 world: {0}")]
    WrongWorld(String),
    /// `describe()` trapped or ran out of time.
    #[error("describe() failed: {0}")]
    Describe(String),
}

/// Why a call did not produce the plugin's own answer.
#[derive(Debug, thiserror::Error)]
pub enum CallFailure {
    /// The plugin returned an error of its own.
    #[error("{0:?}")]
    Tool(tools::CallError),
    /// The call ran past its wall-clock deadline.
    #[error("the tool did not finish within its {0} s deadline")]
    Deadline(u64),
    /// The call used up its CPU budget.
    #[error("the tool exceeded its CPU budget of {0} ms and was stopped")]
    Cpu(u64),
    /// The plugin tried to use more memory than allowed.
    #[error("the tool exceeded its memory limit of {0} MiB and was stopped")]
    Memory(u32),
    /// The plugin overflowed its stack (e.g. runaway recursion).
    #[error("the tool overflowed its stack and was stopped")]
    StackOverflow,
    /// The plugin panicked or trapped.
    #[error("the tool crashed: {0}")]
    Crashed(String),
    /// No slot became free before the deadline.
    #[error("plugin `{0}` is busy (all {1} call slots in use); retry shortly")]
    Busy(String, u32),
    /// Host-side failure setting up the call.
    #[error("internal error: {0}")]
    Internal(String),
    /// The plugin asked the client for input that comes in the client's next round
    /// ([`crate::client_input`]): the call stopped there.
    #[error("the tool waits for the client's input")]
    InputRequired,
}

/// Who a call runs for and what it may reach, moved into the call's store.
struct Caller {
    who: CallInfo,
    services: Arc<dyn Services>,
    progress: Option<ProgressSink>,
}

/// The engine and linker shared by every plugin.
pub struct Runtime {
    engine: Engine,
    linker: Linker<CallState>,
    cache: Option<CompileCache>,
    pool: Arc<Semaphore>,
    /// Advances the epoch while a store runs; parked while the server is idle.
    ticker: epoch::Ticker,
}

/// A plugin compiled and linked, ready to instantiate.
pub struct Compiled {
    pre: wasmtime::component::InstancePre<CallState>,
    /// Where the `tools` export's functions are (every plugin has it).
    tools: tools::GuestIndices,
    /// Where the optional `mcp` export's functions are.
    mcp: Option<mcp::GuestIndices>,
}

/// What a plugin's `describe()` and `describe-features()` returned. Cached as JSON beside the
/// compiled artefact, so a warm start lists tools without compiling or running anything.
#[derive(serde::Serialize, serde::Deserialize)]
pub struct Description {
    /// `describe()`.
    pub descriptor: tools::Descriptor,
    /// `describe-features()`, when the plugin exports `mcp`.
    pub features: Option<mcp::Features>,
}

/// A plugin's code: compiled and linked at load, or, when its description came from the cache,
/// on its first call (usually a load of the cached artefact).
pub struct Code {
    compiled: tokio::sync::OnceCell<Compiled>,
    bytes: bytes::Bytes,
    digest: String,
}

impl Code {
    async fn get(&self, runtime: &Runtime) -> Result<&Compiled, CallFailure> {
        self.compiled
            .get_or_try_init(|| async { runtime.compile(&self.bytes, &self.digest) })
            .await
            .map_err(|e| CallFailure::Internal(format!("the plugin could not be compiled: {e}")))
    }
}

/// A plugin that can be called: its code, its limits, its call slots and its CPU lanes.
pub struct Instance {
    code: Code,
    limits: Limits,
    slots: Arc<Semaphore>,
    lanes: Arc<Semaphore>,
}

impl Instance {
    /// Its code.
    pub fn code(&self) -> &Code {
        &self.code
    }
}

impl Runtime {
    /// Build the engine (pooling allocator, epoch interruption) and the locked-down linker.
    /// `cache_dir` enables the on-disk compile cache.
    pub fn new(cache_dir: Option<&Path>) -> anyhow::Result<Runtime> {
        let engine = match Engine::new(&config(true)) {
            Ok(e) => e,
            Err(e) => {
                // Some sandboxes cap virtual memory below what the pool reserves.
                tracing::warn!(error = %e, "pooling allocator unavailable; using on-demand allocation");
                Engine::new(&config(false))?
            }
        };
        let mut linker = Linker::new(&engine);
        // WASI with an empty context: no preopens, no environment, no args, stdin closed, and
        // socket creation and name lookups denied (wasmtime-wasi's defaults). Rust's wasip2 std
        // imports these interfaces, so they must link, but they grant nothing.
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
        ToolGroupMcp::add_to_linker::<CallState, HasSelf<CallState>>(&mut linker, |s| s)?;
        let cache = match cache_dir {
            Some(dir) => match CompileCache::open(dir, &engine) {
                Ok(c) => Some(c),
                Err(e) => {
                    tracing::warn!(dir = %dir.display(), error = %e, "compile cache disabled");
                    None
                }
            },
            None => None,
        };
        let ticker = epoch::Ticker::start(&engine, EPOCH_TICK)?;
        Ok(Runtime {
            engine,
            ticker,
            linker,
            cache,
            pool: Arc::new(Semaphore::new(POOL_INSTANCES as usize)),
        })
    }

    /// Compile (or load from cache) and link a component. Checks that it is a component and
    /// that it matches the `tool-group` world.
    pub fn compile(&self, bytes: &[u8], digest: &str) -> Result<Compiled, LoadError> {
        if !has_component_header(bytes) {
            return Err(LoadError::NotAComponent(
                "missing the component header (a core module, or a truncated or foreign file)"
                    .into(),
            ));
        }
        imports::check(bytes).map_err(LoadError::WrongWorld)?;
        let component = match &self.cache {
            Some(cache) => cache.load_or_compile(&self.engine, digest, bytes),
            None => Component::new(&self.engine, bytes),
        }
        .map_err(|e| LoadError::NotAComponent(format!("{e:#}")))?;
        let pre = self
            .linker
            .instantiate_pre(&component)
            .map_err(|e| LoadError::WrongWorld(format!("{e:#}")))?;
        let tools =
            tools::GuestIndices::new(&pre).map_err(|e| LoadError::WrongWorld(format!("{e:#}")))?;
        // Without the `mcp` export the plugin is of the plain `tool-group` world.
        let mcp = mcp::GuestIndices::new(&pre).ok();
        Ok(Compiled { pre, tools, mcp })
    }

    /// The description of the component `bytes` (SHA-256 `digest`) and its code. When the
    /// description is `known` (an embedded plugin's, taken at build time) or the compile cache
    /// has one recorded for these bytes, nothing is compiled or run now: the code is loaded on
    /// the first call. Otherwise the component is compiled, described and its description
    /// recorded.
    pub async fn load(
        &self,
        bytes: bytes::Bytes,
        digest: &str,
        known: Option<&str>,
        services: Arc<dyn Services>,
    ) -> Result<(Description, Code), LoadError> {
        let compiled = tokio::sync::OnceCell::new();
        let code = |compiled| Code {
            compiled,
            bytes: bytes.clone(),
            digest: digest.to_string(),
        };
        if let Some(json) = known {
            // Built into this binary with the component: wrong only if the build is.
            let d = serde_json::from_str(json)
                .map_err(|e| LoadError::Describe(format!("the built-in description: {e}")))?;
            return Ok((d, code(compiled)));
        }
        let cached = self.cache.as_ref().and_then(|c| {
            let json = c.load_description(digest)?;
            serde_json::from_slice(&json)
                .inspect_err(|e| tracing::warn!(error = %e, "cached description unreadable; describing the plugin again"))
                .ok()
        });
        if let Some(d) = cached {
            return Ok((d, code(compiled)));
        }
        let c = self.compile(&bytes, digest)?;
        let d = self.describe(&c, services).await?;
        // Compiled now; the bytes are read again only if the artefact must be rebuilt.
        release_pages(bytes.as_ptr(), bytes.len());
        if let Some(cache) = &self.cache {
            match serde_json::to_vec(&d) {
                Ok(json) => cache.store_description(digest, &json),
                Err(e) => tracing::warn!(error = %e, "description not cached"),
            }
        }
        let _ = compiled.set(c);
        Ok((d, code(compiled)))
    }

    /// Call `describe()` on a compiled plugin, and `describe-features()` when it exports `mcp`
    /// (in the same store).
    pub async fn describe(
        &self,
        compiled: &Compiled,
        services: Arc<dyn Services>,
    ) -> Result<Description, LoadError> {
        let who = CallInfo {
            plugin: "(loading)".into(),
            tool: "".into(),
        };
        let limits = Limits {
            deadline_secs: DESCRIBE_DEADLINE.as_secs(),
            ..Limits::default()
        };
        let deadline = Instant::now() + DESCRIBE_DEADLINE;
        let caller = Caller {
            who,
            services,
            progress: None,
        };
        let run = self.run(compiled, &limits, None, deadline, caller, |g, store| {
            Box::pin(async move {
                let descriptor = g.tools.call_describe(&mut *store).await?;
                let features = match &g.mcp {
                    Some(m) => Some(m.call_describe_features(&mut *store).await?),
                    None => None,
                };
                Ok(Description {
                    descriptor,
                    features,
                })
            })
        });
        let described = run.await.map_err(|e| LoadError::Describe(e.to_string()));
        let code = compiled.pre.component().image_range();
        release_pages(code.start, code.end as usize - code.start as usize);
        described
    }

    /// Make a plugin callable under `limits`.
    pub fn instance(&self, code: Code, limits: Limits) -> Instance {
        let slots = Arc::new(Semaphore::new(limits.concurrency as usize));
        let lanes = Arc::new(Semaphore::new(limits.lanes()));
        Instance {
            code,
            limits,
            slots,
            lanes,
        }
    }

    /// Run `tool` with JSON `arguments` in a fresh store.
    pub async fn call(
        &self,
        instance: &Instance,
        who: CallInfo,
        services: Arc<dyn Services>,
        progress: Option<ProgressSink>,
        tool: &str,
        arguments: &str,
    ) -> Result<tools::Output, CallFailure> {
        let (tool, arguments) = (tool.to_string(), arguments.to_string());
        let deadline = Instant::now() + instance.limits.deadline();
        let caller = Caller {
            who,
            services,
            progress,
        };
        let result = self
            .invoke(instance, deadline, caller, move |g, store| {
                Box::pin(async move { g.tools.call_call(store, &tool, &arguments).await })
            })
            .await?;
        result.map_err(CallFailure::Tool)
    }

    /// Run `f` on a fresh instance of `instance` once one of its call slots is free, by
    /// `deadline` (which covers waiting for the slot as well as running).
    async fn invoke<R: Send>(
        &self,
        instance: &Instance,
        deadline: Instant,
        caller: Caller,
        f: impl for<'a> FnOnce(
            &'a Exports,
            &'a mut Store<CallState>,
        ) -> std::pin::Pin<
            Box<dyn Future<Output = wasmtime::Result<R>> + Send + 'a>,
        > + Send,
    ) -> Result<R, CallFailure> {
        let plugin = caller.who.plugin.to_string();
        let _slot =
            tokio::time::timeout_at(deadline.into(), instance.slots.clone().acquire_owned())
                .await
                .map_err(|_| CallFailure::Busy(plugin, instance.limits.concurrency))?
                .map_err(|e| CallFailure::Internal(e.to_string()))?;
        let compiled = instance.code.get(self).await?;
        self.run(
            compiled,
            &instance.limits,
            Some(instance.lanes.clone()),
            deadline,
            caller,
            f,
        )
        .await
    }

    /// Instantiate in a fresh store with all limits armed, run `f` (on one of `lanes` while the
    /// guest executes), and turn every way it can fail into a [`CallFailure`].
    #[allow(clippy::too_many_arguments)]
    async fn run<R: Send>(
        &self,
        compiled: &Compiled,
        limits: &Limits,
        lanes: Option<Arc<Semaphore>>,
        deadline: Instant,
        caller: Caller,
        f: impl for<'a> FnOnce(
            &'a Exports,
            &'a mut Store<CallState>,
        ) -> std::pin::Pin<
            Box<dyn Future<Output = wasmtime::Result<R>> + Send + 'a>,
        > + Send,
    ) -> Result<R, CallFailure> {
        let _pool = self
            .pool
            .clone()
            .acquire_owned()
            .await
            .map_err(|e| CallFailure::Internal(e.to_string()))?;
        // CPU budgets and yields count epoch ticks: keep the clock running while this store lives.
        let _ticking = self.ticker.running();
        let stdout = MemoryOutputPipe::new(STDIO_CAPTURE);
        let stderr = MemoryOutputPipe::new(STDIO_CAPTURE);
        // Clocks at millisecond resolution (see `clocks`); random from the OS CSPRNG, and a
        // fresh insecure seed per call, so HashMap seeds in the guest are unpredictable to
        // whoever shapes the data it hashes.
        let wasi = WasiCtxBuilder::new()
            .stdout(stdout.clone())
            .stderr(stderr.clone())
            .wall_clock(clocks::CoarseWallClock)
            .monotonic_clock(clocks::CoarseMonotonicClock::new())
            .build();
        let Caller {
            who,
            services,
            progress,
        } = caller;
        let records = Arc::new(throttle::RecordBudget::new(
            limits.log_lines,
            limits.audit_records,
        ));
        // Flushes the guest's stdio and reports what was dropped when the call ends in any
        // way, including when the caller gives up on it (cancellation drops this future).
        let _end = CallEnd {
            who: who.clone(),
            services: services.clone(),
            records: records.clone(),
            stdout: stdout.clone(),
            stderr: stderr.clone(),
        };
        let cpu_ticks = (limits.cpu_ms / EPOCH_TICK.as_millis() as u64).max(1);
        let state = CallState {
            wasi,
            table: Default::default(),
            limiter: MemoryLimiter::new((limits.memory_mib as usize) << 20),
            who,
            services,
            progress,
            progress_gate: Default::default(),
            records,
            deadline,
            cpu_ticks_left: cpu_ticks,
            cpu_exhausted: false,
        };
        let mut store = Store::new(&self.engine, state);
        store.limiter(|s| &mut s.limiter);
        store.set_epoch_deadline(1);
        // Each tick in which guest code ran costs one unit of the CPU budget; yielding at every
        // tick keeps a spinning plugin from starving other calls on the same worker thread.
        store.epoch_deadline_callback(|mut ctx| {
            let s = ctx.data_mut();
            if s.cpu_ticks_left == 0 {
                s.cpu_exhausted = true;
                return Ok(wasmtime::UpdateDeadline::Interrupt);
            }
            s.cpu_ticks_left -= 1;
            Ok(wasmtime::UpdateDeadline::Yield(1))
        });
        let guest = OnLane::new(lanes, async {
            let instance = compiled.pre.instantiate_async(&mut store).await?;
            let exports = Exports {
                tools: compiled.tools.load(&mut store, &instance)?,
                mcp: match &compiled.mcp {
                    Some(m) => Some(m.load(&mut store, &instance)?),
                    None => None,
                },
            };
            f(&exports, &mut store).await
        });
        let outcome = tokio::time::timeout_at(deadline.into(), guest).await;
        store.data_mut().flush_progress();
        let s = store.data();
        let ticks_used = cpu_ticks.saturating_sub(s.cpu_ticks_left);
        crate::metrics::plugin_call(
            &s.who.plugin,
            s.limiter.peak,
            EPOCH_TICK.saturating_mul(ticks_used.min(u32::MAX as u64) as u32),
        );
        match outcome {
            Err(_) => Err(CallFailure::Deadline(limits.deadline_secs)),
            Ok(Ok(r)) => Ok(r),
            Ok(Err(e)) => Err(classify(e, store.data(), limits, &stderr)),
        }
    }
}

/// The exports of one instance: `tools` always, `mcp` when the plugin offers it.
struct Exports {
    tools: tools::Guest,
    mcp: Option<mcp::Guest>,
}

/// Turn a trap into the failure a model can understand.
fn classify(
    e: wasmtime::Error,
    state: &CallState,
    limits: &Limits,
    stderr: &MemoryOutputPipe,
) -> CallFailure {
    if state.limiter.hit {
        return CallFailure::Memory(limits.memory_mib);
    }
    if state.cpu_exhausted {
        return CallFailure::Cpu(limits.cpu_ms);
    }
    if e.downcast_ref::<crate::client_input::Pending>().is_some() {
        return CallFailure::InputRequired;
    }
    match e.downcast_ref::<Trap>() {
        Some(Trap::StackOverflow) => CallFailure::StackOverflow,
        Some(Trap::Interrupt) => CallFailure::Cpu(limits.cpu_ms),
        // Rust guests keep their call stack in linear memory; overflowing it runs off the
        // bottom of memory rather than hitting wasmtime's native stack guard.
        Some(Trap::MemoryOutOfBounds) => CallFailure::Crashed(
            "out-of-bounds memory access (typically runaway recursion overflowing the plugin's stack)".into(),
        ),
        _ => {
            // A Rust guest prints its panic message to stderr before trapping.
            let err = String::from_utf8_lossy(&stderr.contents()).to_string();
            let lines: Vec<&str> = err.lines().collect();
            let detail = match lines.iter().position(|l| l.contains("panicked at ")) {
                // The message follows the "panicked at <location>:" line.
                Some(i) => format!("panic: {}", lines[i + 1..].iter().take(3).copied().collect::<Vec<_>>().join(" ").trim()),
                None => e.root_cause().to_string(),
            };
            CallFailure::Crashed(sanitize::log_safe(&detail, 500).into_owned())
        }
    }
}

/// What happens when a call ends, however it ends: the guest's stdout and stderr go to the log
/// (escaped, within the call's log allowance), and whatever the allowances dropped is said once.
struct CallEnd {
    who: CallInfo,
    services: Arc<dyn Services>,
    records: Arc<throttle::RecordBudget>,
    stdout: MemoryOutputPipe,
    stderr: MemoryOutputPipe,
}

impl Drop for CallEnd {
    fn drop(&mut self) {
        let plugin = &*self.who.plugin;
        for (stream, pipe) in [("stdout", &self.stdout), ("stderr", &self.stderr)] {
            let bytes = pipe.contents();
            for line in String::from_utf8_lossy(&bytes)
                .lines()
                .filter(|l| !l.is_empty())
            {
                if self.records.admit(throttle::Record::Log) {
                    tracing::info!(%plugin, stream, "{}", sanitize::log_safe(line, 2048));
                }
            }
        }
        for (kind, count) in self.records.drops() {
            tracing::warn!(
                %plugin,
                dropped = count,
                "plugin {plugin}: {count} further {} dropped this call",
                kind.noun()
            );
            self.services.dropped(&self.who, kind, count);
        }
    }
}

/// Hand the pages of a range (compiled code, component bytes) back to the kernel once
/// loading has read them.
///
/// Loading and `describe()` fault in nearly all of a plugin's code and bytes (page-cache
/// fault-around maps 64 KiB at a time), most of which no tool call touches again.
/// `MADV_PAGEOUT` only reclaims: clean file pages are dropped and fault back in from the page
/// cache when needed; written pages (relocations) are anonymous, and without swap they stay.
/// Contents never change, so a neighbour sharing the first or last page is unaffected too.
fn release_pages(start: *const u8, len: usize) {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: `sysconf` has no preconditions.
        let page = usize::try_from(unsafe { libc::sysconf(libc::_SC_PAGESIZE) }).unwrap_or(4096);
        let first = start as usize & !(page - 1);
        let len = len + (start as usize - first);
        // SAFETY: the range is mapped memory the caller holds; MADV_PAGEOUT changes residency,
        // never contents. A failure (an old kernel) only leaves the pages resident.
        unsafe {
            libc::madvise(first as *mut libc::c_void, len, libc::MADV_PAGEOUT);
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = (start, len);
}

/// A component starts with the wasm magic and a layer-1 version field.
fn has_component_header(bytes: &[u8]) -> bool {
    bytes.len() >= 8 && bytes[..4] == *b"\0asm" && bytes[6..8] == [1, 0]
}

fn config(pooling: bool) -> Config {
    let mut cfg = Config::new();
    cfg.wasm_component_model(true);
    cfg.epoch_interruption(true);
    cfg.memory_init_cow(true);
    if pooling {
        let mut pool = PoolingAllocationConfig::default();
        pool.total_component_instances(POOL_INSTANCES);
        pool.total_core_instances(POOL_INSTANCES * 4);
        pool.total_memories(POOL_INSTANCES * 2);
        pool.total_tables(POOL_INSTANCES * 4);
        pool.total_stacks(POOL_INSTANCES);
        pool.max_memory_size((Limits::MAX_MEMORY_MIB as usize) << 20);
        pool.max_unused_warm_slots(32);
        cfg.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    }
    cfg
}
