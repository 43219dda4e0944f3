//! The `aerie` command line.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

use aerie::auth::{CredentialSource, Secret};
use aerie::config::FileConfig;
use aerie::mcp::http::{ApiKeys, HttpOptions};
use aerie::server::{self, Options};
use anyhow::Context;
use clap::{Args, Parser, Subcommand, ValueEnum};

/// aerie — an MCP server for CrowdStrike Falcon with sandboxed WebAssembly tool groups.
///
/// Try it without a Falcon tenant:   aerie demo
/// Serve your tenant over stdio:     FALCON_CLIENT_ID=… FALCON_CLIENT_SECRET=… aerie serve
/// Serve over HTTP:                  aerie serve --transport http --port 8000
#[derive(Parser)]
#[command(name = "aerie", version, about, long_about, verbatim_doc_comment)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// Log level (error, warn, info, debug, trace) or a tracing filter. Logs go to stderr.
    #[arg(
        long,
        global = true,
        env = "AERIE_LOG",
        default_value = "info,rmcp=warn"
    )]
    log_level: String,
    /// Log format.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
}

#[derive(Clone, Copy, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Serve MCP against your Falcon tenant (stdio by default).
    Serve(ServeArgs),
    /// Serve MCP against the built-in Falcon simulator: no tenant or credentials needed.
    #[cfg(feature = "demo")]
    Demo(DemoArgs),
    /// Inspect plugins.
    #[command(subcommand)]
    Plugins(PluginsCmd),
    /// Author, sign and check plugins.
    #[command(subcommand)]
    Plugin(PluginCmd),
    /// Inspect configuration.
    #[command(subcommand)]
    Config(ConfigCmd),
    /// Inspect and clear the result cache (`[cache] backend = "sqlite:PATH"`).
    #[command(subcommand)]
    Cache(CacheCmd),
    /// See and decide the approvals a running server is waiting for (over its admin socket).
    Approvals(ApprovalsArgs),
}

#[derive(Subcommand)]
enum PluginsCmd {
    /// List plugins with their versions, tools, tiers and granted operations.
    List {
        #[command(flatten)]
        common: CommonArgs,
        /// Print the README's tool table (Markdown) instead.
        #[arg(long)]
        markdown: bool,
    },
    /// Compile every plugin into the compile cache now, so that each one's first call loads
    /// its code instead of compiling it (for images and fresh installs; a server also does
    /// this in the background once it serves).
    Compile {
        #[command(flatten)]
        common: CommonArgs,
    },
    /// Compile the embedded plugins with these SHA-256 digests into a compile cache and print
    /// what was done as JSON: what a server runs in a child process once it serves.
    #[command(hide = true)]
    PrecompileEmbedded {
        #[arg(long)]
        cache_dir: PathBuf,
        digests: Vec<String>,
    },
}

#[derive(Subcommand)]
enum PluginCmd {
    /// Scaffold a plugin (Rust, Python or JavaScript) with tests against the simulator.
    New {
        /// Plugin name (a-z, 0-9, _); also the project name and the tools' prefix.
        name: String,
        /// Directory to create it in.
        #[arg(long, default_value = ".")]
        dir: PathBuf,
        /// The language to write it in.
        #[arg(long, value_enum, default_value = "rust")]
        lang: aerie::scaffold::Lang,
        /// The author kit: aerie's sdk/ (Rust), kits/python or kits/js (default: in the
        /// source tree aerie was built from).
        #[arg(long)]
        sdk_path: Option<PathBuf>,
    },
    /// Run one tool of a component against the built-in simulator and print its result.
    /// Exits non-zero when the tool fails.
    #[cfg(feature = "demo")]
    Run {
        /// The component (.wasm).
        file: PathBuf,
        /// Tool name.
        tool: String,
        /// Arguments as a JSON object.
        #[arg(default_value = "{}")]
        args: String,
        /// Enable write tools.
        #[arg(long)]
        allow_writes: bool,
        /// `aerie.toml` to apply (policy, limits, plugin config).
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Create an Ed25519 signing key (KEY, owner-only) and its public key (KEY.pub).
    Keygen {
        /// Where to write the private key.
        #[arg(long, default_value = "aerie-signing.key")]
        out: PathBuf,
    },
    /// Sign a component: writes FILE.sig, a detached signature over its SHA-256.
    Sign {
        /// The component (.wasm).
        file: PathBuf,
        /// Private key from `aerie plugin keygen`.
        #[arg(long)]
        key: PathBuf,
    },
    /// Validate a component (world, descriptor, names, schemas, operations, signature) and
    /// print what it would be granted under the current policy.
    Check {
        /// The component (.wasm).
        file: PathBuf,
        #[command(flatten)]
        common: CommonArgs,
    },
    /// Publish a component and its signature (FILE.sig) to an OCI registry, after the checks of
    /// `plugin check`. Prints the digest to pin. Credentials: AERIE_OCI_USERNAME and
    /// AERIE_OCI_PASSWORD, else anonymous.
    Push {
        /// The component (.wasm).
        file: PathBuf,
        /// Where to: REGISTRY/REPOSITORY:TAG (plain HTTP only to a loopback registry).
        reference: String,
        /// Publish a component that has no signature file.
        #[arg(long)]
        unsigned: bool,
        #[command(flatten)]
        common: CommonArgs,
    },
    /// Fetch a plugin from an OCI registry into the plugins directory as NAME.wasm (and
    /// NAME.wasm.sig), refusing what the config's [signing] would refuse at load. A running
    /// server's hot swap picks it up.
    Pull {
        /// REGISTRY/REPOSITORY@sha256:DIGEST (pinned: what deployments should use) or :TAG.
        reference: String,
        /// The plugins directory [default: plugins_dir of the config].
        #[arg(long, env = "AERIE_PLUGINS_DIR")]
        plugins_dir: Option<PathBuf>,
        /// Config whose [signing] and max_component_mib apply (default: ./aerie.toml if present).
        #[arg(long, env = "AERIE_CONFIG")]
        config: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum CacheCmd {
    /// Entries and bytes of the result cache, in all and per plugin.
    Stats {
        /// Config file (default: ./aerie.toml if present).
        #[arg(long, env = "AERIE_CONFIG")]
        config: Option<PathBuf>,
        /// The running server's admin socket, for the memory backend (default: as configured).
        #[arg(long)]
        socket: Option<PathBuf>,
    },
    /// Remove cached results: all, or one plugin's.
    Clear {
        /// Config file (default: ./aerie.toml if present).
        #[arg(long, env = "AERIE_CONFIG")]
        config: Option<PathBuf>,
        /// Only this plugin's results.
        #[arg(long)]
        plugin: Option<String>,
        /// The running server's admin socket, for the memory backend (default: as configured).
        #[arg(long)]
        socket: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum ConfigCmd {
    /// Validate the config and credentials and print the effective policy per plugin.
    Check {
        #[command(flatten)]
        common: CommonArgs,
        #[command(flatten)]
        creds: CredArgs,
        /// Also fetch a Falcon token to prove the credentials work.
        #[arg(long)]
        login: bool,
    },
}

#[derive(Args)]
struct ApprovalsArgs {
    #[command(subcommand)]
    action: ApprovalsCmd,
    /// The server's admin socket [default: [approvals] socket in the config, else
    /// $XDG_RUNTIME_DIR/aerie/admin.sock, else <cache dir>/aerie/admin.sock].
    #[arg(long, global = true)]
    socket: Option<PathBuf>,
    /// Config file to read [approvals] socket from (default: ./aerie.toml if present).
    #[arg(long, global = true, env = "AERIE_CONFIG")]
    config: Option<PathBuf>,
    /// Print the server's JSON answer instead of text.
    #[arg(long, global = true)]
    json: bool,
}

#[derive(Subcommand)]
enum ApprovalsCmd {
    /// Approvals waiting or decided, with each call's preview.
    List,
    /// One approval in full: arguments and preview.
    Show {
        /// Approval id (ap-…).
        id: String,
    },
    /// Approve a pending call; the agent then runs it once with aerie_run_approved.
    Approve {
        /// Approval id (ap-…).
        id: String,
    },
    /// Deny a pending call.
    Deny {
        /// Approval id (ap-…).
        id: String,
        /// Why, for the agent and the audit log.
        #[arg(long)]
        reason: Option<String>,
    },
}

#[derive(Args)]
struct ServeArgs {
    #[command(flatten)]
    transport: TransportArgs,
    #[command(flatten)]
    common: CommonArgs,
    #[command(flatten)]
    creds: CredArgs,
    /// Fetch a Falcon token before serving, so bad credentials fail at start.
    #[arg(long)]
    auth_at_start: bool,
    /// Pull this plugin from an OCI registry into the plugins directory before serving, as
    /// `aerie plugin pull` does (repeatable; pin by digest). A failed pull stops start-up.
    #[arg(long = "pull", value_name = "REFERENCE")]
    pulls: Vec<String>,
}

#[cfg(feature = "demo")]
#[derive(Args)]
struct DemoArgs {
    #[command(flatten)]
    transport: TransportArgs,
    #[command(flatten)]
    common: CommonArgs,
    /// Seed of the simulated tenant.
    #[arg(long, default_value_t = 42)]
    seed: u64,
}

#[derive(Args, Clone)]
struct TransportArgs {
    /// Transport: stdio for a local client, http for streamable HTTP.
    #[arg(long, value_enum, default_value_t = Transport::Stdio)]
    transport: Transport,
    /// HTTP bind address. Anything but loopback requires API keys.
    #[arg(long, default_value = "127.0.0.1")]
    host: IpAddr,
    /// HTTP port.
    #[arg(long, default_value_t = 8000)]
    port: u16,
    /// API key clients must send (Authorization: Bearer KEY or X-API-Key). Repeatable.
    #[arg(
        long = "api-key",
        env = "AERIE_API_KEYS",
        value_delimiter = ',',
        hide_env_values = true
    )]
    api_keys: Vec<String>,
    /// Extra Host header value to accept (e.g. behind a reverse proxy). Repeatable.
    #[arg(long = "allowed-host")]
    allowed_hosts: Vec<String>,
    /// Browser Origin allowed to call (requests with any other Origin are refused). Repeatable.
    #[arg(long = "allowed-origin")]
    allowed_origins: Vec<String>,
    /// Seconds in-flight calls get to finish at shutdown (Ctrl-C/SIGTERM) before they are
    /// stopped; a second signal stops them at once [default: 10, or shutdown_grace_secs in
    /// aerie.toml; at most 600].
    #[arg(long, value_name = "SECS", value_parser = clap::value_parser!(u64).range(0..=600))]
    shutdown_grace_secs: Option<u64>,
}

#[derive(Clone, Copy, PartialEq, ValueEnum)]
enum Transport {
    Stdio,
    Http,
}

#[derive(Args, Clone)]
struct CommonArgs {
    /// Config file (default: ./aerie.toml if present).
    #[arg(long, env = "AERIE_CONFIG")]
    config: Option<PathBuf>,
    /// Directory of extra plugins (*.wasm); a plugin with an embedded plugin's name replaces it.
    #[arg(long, env = "AERIE_PLUGINS_DIR")]
    plugins_dir: Option<PathBuf>,
    /// Load only these plugins (comma-separated names).
    #[arg(long, value_delimiter = ',')]
    modules: Option<Vec<String>>,
    /// Enable write tools (containment, status changes, IOC and policy changes).
    #[arg(long)]
    allow_writes: bool,
    /// Directory for RTR uploads and downloads.
    #[arg(long)]
    files_dir: Option<PathBuf>,
    /// Compile cache directory (default: the user cache dir).
    #[arg(long)]
    cache_dir: Option<PathBuf>,
    /// Do not use the compile cache.
    #[arg(long)]
    no_cache: bool,
    /// Append an audit log (JSON Lines) here.
    #[arg(long)]
    audit_log: Option<PathBuf>,
    /// Do not load the embedded first-party plugins.
    #[arg(long)]
    no_embedded: bool,
    /// Profile (`[profiles.<name>]`) of callers that name none: stdio, and HTTP keys without one.
    #[arg(long, env = "AERIE_PROFILE")]
    profile: Option<String>,
    /// `full`: tools/list holds every allowed tool; `dynamic`: a few built-in tools that search,
    /// describe and call the catalogue by name.
    #[arg(long, value_enum, default_value_t = aerie::controls::ToolMode::Full)]
    tool_mode: aerie::controls::ToolMode,
    /// How destructive calls are approved (overrides [approvals] mode): elicit-or-queue, queue
    /// or off [default: elicit-or-queue].
    #[arg(long, env = "AERIE_APPROVALS", value_enum)]
    approvals: Option<aerie::controls::approvals::Mode>,
}

#[derive(Args, Clone)]
struct CredArgs {
    /// Falcon API client id.
    #[arg(long, env = "FALCON_CLIENT_ID")]
    client_id: Option<String>,
    /// Falcon API client secret (prefer the environment variable).
    #[arg(long, env = "FALCON_CLIENT_SECRET", hide_env_values = true)]
    client_secret: Option<String>,
    /// API base URL or region: US1, US2, EU1, USGOV1, USGOV2.
    #[arg(long, env = "FALCON_BASE_URL")]
    base_url: Option<String>,
    /// Child CID (MSSP / Flight Control).
    #[arg(long, env = "FALCON_MEMBER_CID")]
    member_cid: Option<String>,
    /// Credentials file (falcon_client_id, falcon_client_secret, base_url).
    #[arg(long, env = "FALCON_CREDENTIALS_FILE")]
    credentials_file: Option<PathBuf>,
}

impl CommonArgs {
    fn options(&self, credentials: Option<aerie::auth::Credentials>) -> anyhow::Result<Options> {
        let mut file = FileConfig::load(self.config.as_deref()).map_err(anyhow::Error::msg)?;
        if let Some(m) = self.approvals {
            file.approvals.mode = Some(m);
        }
        let cache_dir = if self.no_cache {
            None
        } else {
            self.cache_dir
                .clone()
                .or_else(|| file.cache_dir.clone())
                .or_else(server::default_cache_dir)
        };
        Ok(Options {
            allow_writes: self.allow_writes,
            modules: self.modules.clone(),
            plugins_dir: self
                .plugins_dir
                .clone()
                .or_else(|| file.plugins_dir.clone()),
            files_dir: self.files_dir.clone().or_else(|| file.files_dir.clone()),
            audit_log: self.audit_log.clone().or_else(|| file.audit_log.clone()),
            cache_dir,
            credentials,
            auth_at_start: false,
            embedded: !self.no_embedded,
            profile: self.profile.clone(),
            tool_mode: self.tool_mode,
            file,
        })
    }
}

impl CredArgs {
    /// Flags and environment, then the credentials file, then the config file.
    fn resolve(&self, file: &FileConfig) -> anyhow::Result<Option<aerie::auth::Credentials>> {
        let flags = CredentialSource {
            client_id: self.client_id.clone(),
            client_secret: self.client_secret.clone().map(Secret::new),
            base_url: self.base_url.clone(),
            member_cid: self.member_cid.clone(),
        };
        // The default file may be absent; a file the operator named must exist.
        if let Some(p) = &self.credentials_file
            && !p.is_file()
        {
            anyhow::bail!(
                "--credentials-file {}: no such file (or not a regular file)",
                p.display()
            );
        }
        let path = self
            .credentials_file
            .clone()
            .or_else(|| dirs::home_dir().map(|h| h.join(".config/falcon/credentials.json")));
        let from_file = match path {
            Some(p) => CredentialSource::from_file(&p).map_err(anyhow::Error::msg)?,
            None => CredentialSource::default(),
        };
        flags
            .or(from_file)
            .or(file.falcon.clone())
            .resolve()
            .map_err(anyhow::Error::msg)
    }
}

impl TransportArgs {
    fn http(&self, file: &FileConfig) -> anyhow::Result<HttpOptions> {
        Ok(HttpOptions {
            addr: SocketAddr::new(self.host, self.port),
            keys: ApiKeys::new(&self.api_keys, &file.http.api_keys).map_err(anyhow::Error::msg)?,
            allowed_hosts: self
                .allowed_hosts
                .iter()
                .chain(&file.http.allowed_hosts)
                .cloned()
                .collect(),
            allowed_origins: self
                .allowed_origins
                .iter()
                .chain(&file.http.allowed_origins)
                .cloned()
                .collect(),
            limits: Self::http_limits(&file.http),
            metrics: file.metrics.clone(),
        })
    }

    /// `[http]` bounds over their defaults.
    fn http_limits(f: &aerie::config::HttpFile) -> aerie::mcp::http::HttpLimits {
        let d = aerie::mcp::http::HttpLimits::default();
        let secs = |v: Option<u64>, default| v.map_or(default, std::time::Duration::from_secs);
        aerie::mcp::http::HttpLimits {
            max_sessions: f.max_sessions.unwrap_or(d.max_sessions),
            max_sessions_per_key: f.max_sessions_per_key.unwrap_or(d.max_sessions_per_key),
            session_idle: secs(f.session_idle_secs, d.session_idle),
            max_connections: f.max_connections.unwrap_or(d.max_connections),
            header_timeout: secs(f.header_timeout_secs, d.header_timeout),
        }
    }
}

fn init_logging(level: &str, format: LogFormat) {
    use std::io::IsTerminal;
    use tracing_subscriber::Layer;
    use tracing_subscriber::layer::SubscriberExt;
    let filter = tracing_subscriber::EnvFilter::try_new(level)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let operator_level = filter
        .max_level_hint()
        .unwrap_or(tracing::level_filters::LevelFilter::TRACE);
    let fmt = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false);
    let fmt = match format {
        LogFormat::Text => fmt.with_filter(filter).boxed(),
        LogFormat::Json => fmt.json().with_filter(filter).boxed(),
    };
    // MCP clients choose their own level (logging/setLevel), independent of the operator's:
    // aerie's own events at every level reach the forwarding layer, which applies the client's.
    let mcp = aerie::mcp::logging::McpLogLayer.with_filter(
        tracing_subscriber::filter::Targets::new().with_target("aerie", tracing::Level::TRACE),
    );
    let subscriber = tracing_subscriber::registry().with(fmt).with(mcp);
    tracing::subscriber::set_global_default(subscriber).expect("logging is set up once");
    // `log` records (wasmtime and Cranelift use `log`) at the operator's level only. `init()`
    // would take the level from the MCP layer (trace, for aerie's own events), and then every
    // debug line of Cranelift passes through the filters: that was 90% of a component's
    // compile time.
    use tracing_log::AsLog;
    tracing_log::LogTracer::init_with_filter(operator_level.as_log())
        .expect("logging is set up once");
}

async fn serve(transport: &TransportArgs, mut opts: Options) -> anyhow::Result<()> {
    if let Some(g) = transport.shutdown_grace_secs {
        opts.file.shutdown_grace_secs = Some(g);
    }
    let http = if transport.transport == Transport::Http {
        Some(transport.http(&opts.file)?)
    } else {
        None
    };
    // Fail before loading plugins, not after.
    if let Some(h) = &http {
        h.check()?;
    }
    let shutdown = server::shutdown_signal();
    let Some(app) = server::build_or_stop(opts, &shutdown).await? else {
        return Ok(());
    };
    match http {
        Some(h) => server::serve_http(app, h, shutdown).await,
        None => server::serve_stdio(app, shutdown).await,
    }
}

#[tokio::main]
async fn main() {
    let cli = Cli::parse();
    init_logging(&cli.log_level, cli.log_format);
    let code = match run(cli).await {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("error: {e:#}");
            1
        }
    };
    // Exit here rather than dropping the runtime: its drop would wait for the blocking thread
    // still reading stdin, so a signal could never end a stdio server.
    std::process::exit(code);
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve(a) => {
            let file = FileConfig::load(a.common.config.as_deref()).map_err(anyhow::Error::msg)?;
            let creds = a.creds.resolve(&file)?;
            let mut opts = a.common.options(creds)?;
            opts.auth_at_start = a.auth_at_start;
            if !a.pulls.is_empty() {
                let dir = opts
                    .plugins_dir
                    .clone()
                    .context("--pull needs a plugins directory: pass --plugins-dir")?;
                for r in &a.pulls {
                    // Logged, not printed: stdout may be the MCP transport.
                    let p = pull(r, &dir, &opts.file).await?;
                    tracing::info!(
                        plugin = %p.name,
                        manifest = %p.manifest_digest,
                        component = %p.component_digest,
                        signed = p.signed,
                        "pulled {} into {}",
                        p.pinned,
                        p.path.display()
                    );
                }
            }
            serve(&a.transport, opts).await
        }
        #[cfg(feature = "demo")]
        Command::Demo(a) => {
            let mut opts = a.common.options(None)?;
            if let Some(g) = a.transport.shutdown_grace_secs {
                opts.file.shutdown_grace_secs = Some(g);
            }
            let http = if a.transport.transport == Transport::Http {
                Some(a.transport.http(&opts.file)?)
            } else {
                None
            };
            aerie::demo::run(a.seed, opts, http).await
        }
        Command::Plugins(PluginsCmd::List { common, markdown }) => {
            let app = server::build(common.options(None)?).await?;
            if markdown {
                print!("{}", aerie::report::tools_markdown(&app));
            } else {
                print!("{}", aerie::report::plugins(&app));
            }
            Ok(())
        }
        Command::Plugins(PluginsCmd::Compile { common }) => {
            let opts = common.options(None)?;
            let dir = opts.cache_dir.clone();
            let app = server::build(opts).await?;
            let (Some(done), Some(dir)) = (app.precompile(), dir) else {
                anyhow::bail!(
                    "there is no compile cache to fill: drop --no-cache, or pass a writable --cache-dir"
                );
            };
            println!(
                "{} plugin(s) compiled into {}, {} already there",
                done.compiled,
                dir.display(),
                done.present
            );
            if !done.failed.is_empty() {
                let snapshot = app.registry.snapshot();
                let name = |digest: &str| {
                    snapshot
                        .plugins
                        .values()
                        .find(|p| p.digest == digest)
                        .map_or_else(|| format!("sha256:{}…", &digest[..16]), |p| p.name.clone())
                };
                let failed: Vec<_> = done
                    .failed
                    .iter()
                    .map(|(digest, e)| format!("{}: {e}", name(digest)))
                    .collect();
                anyhow::bail!("could not compile:\n  {}", failed.join("\n  "));
            }
            Ok(())
        }
        Command::Plugins(PluginsCmd::PrecompileEmbedded { cache_dir, digests }) => {
            let runtime = aerie::runtime::Runtime::new(Some(&cache_dir))?;
            let done = runtime.precompile_embedded(&digests)?;
            println!("{}", serde_json::to_string(&done)?);
            Ok(())
        }
        Command::Plugin(PluginCmd::New {
            name,
            dir,
            lang,
            sdk_path,
        }) => {
            let kit = sdk_path.or_else(|| lang.default_kit()).with_context(|| {
                format!(
                    "cannot find aerie's {lang:?} kit; pass --sdk-path to it in an aerie checkout"
                )
            })?;
            let created = aerie::scaffold::create(&name, &dir, lang, &kit)?;
            println!("created {}", created.display());
            println!(
                "next:\n  cd {}\n  AERIE={} {}",
                created.display(),
                std::env::current_exe()?.display(),
                lang.test_command()
            );
            Ok(())
        }
        #[cfg(feature = "demo")]
        Command::Plugin(PluginCmd::Run {
            file,
            tool,
            args,
            allow_writes,
            config,
        }) => {
            let args: serde_json::Value =
                serde_json::from_str(&args).context("arguments must be a JSON object")?;
            let toml = match config {
                Some(p) => std::fs::read_to_string(&p)
                    .with_context(|| format!("cannot read {}", p.display()))?,
                None => String::new(),
            };
            // The user's compile cache, as `serve` uses: a Python or JavaScript component
            // embeds its interpreter and takes seconds to compile the first time.
            let mut builder = aerie::testing::Harness::builder()
                .plugin_file(file)
                .allow_writes(allow_writes)
                .config(toml);
            if let Some(dir) = aerie::server::default_cache_dir() {
                builder = builder.cache_dir(dir);
            }
            let h = builder.start().await?;
            let out = h.call(&tool, args).await;
            let printed = serde_json::json!({"is_error": out.is_error, "text": out.text, "structured": out.structured});
            println!("{}", serde_json::to_string_pretty(&printed)?);
            h.sim.shutdown().await;
            if out.is_error {
                std::process::exit(1);
            }
            Ok(())
        }
        Command::Plugin(PluginCmd::Keygen { out }) => {
            let public = aerie::signing::keygen(&out)?;
            println!("private key: {} (keep it secret)", out.display());
            println!("public key:  {public}");
            println!("trust it in aerie.toml:\n  [signing]\n  trusted_keys = [\"{public}\"]");
            Ok(())
        }
        Command::Plugin(PluginCmd::Sign { file, key }) => {
            let sig = aerie::signing::sign(&file, &key)?;
            println!("wrote {}", sig.display());
            Ok(())
        }
        Command::Plugin(PluginCmd::Check { file, common }) => {
            let opts = common.options(None)?;
            match aerie::report::check_component(&file, opts).await? {
                (report, true) => {
                    print!("{report}");
                    Ok(())
                }
                (report, false) => anyhow::bail!("{report}"),
            }
        }
        Command::Plugin(PluginCmd::Push {
            file,
            reference,
            unsigned,
            common,
        }) => {
            let opts = common.options(None)?;
            let p = aerie::oci::push_file(&reference, &file, opts, unsigned).await?;
            println!(
                "pushed {} ({}) to {reference}",
                file.display(),
                if p.signed { "signed" } else { "unsigned" }
            );
            println!("  manifest  {}", p.manifest_digest);
            println!("  component {}", p.component_digest);
            println!("pin it: {}", p.pinned);
            Ok(())
        }
        Command::Plugin(PluginCmd::Pull {
            reference,
            plugins_dir,
            config,
        }) => {
            let file = FileConfig::load(config.as_deref()).map_err(anyhow::Error::msg)?;
            let dir = plugins_dir.or_else(|| file.plugins_dir.clone()).context(
                "no plugins directory: pass --plugins-dir or set plugins_dir in aerie.toml",
            )?;
            let p = pull(&reference, &dir, &file).await?;
            println!(
                "pulled {} {} ({}) into {}",
                p.name,
                p.version.as_deref().unwrap_or("(no version)"),
                if p.signed { "signed" } else { "unsigned" },
                p.path.display()
            );
            println!("  manifest  {}", p.manifest_digest);
            println!("  component {}", p.component_digest);
            println!("pin it: {}", p.pinned);
            Ok(())
        }
        Command::Cache(cmd) => {
            let (config, plugin, socket) = match &cmd {
                CacheCmd::Stats { config, socket } => (config, None, socket),
                CacheCmd::Clear {
                    config,
                    plugin,
                    socket,
                } => (config, Some(plugin.as_deref()), socket),
            };
            let file = FileConfig::load(config.as_deref()).map_err(anyhow::Error::msg)?;
            let memory = file.cache.backend().map_err(anyhow::Error::msg)?
                == aerie::controls::cache::Backend::Memory;
            let out = if memory {
                // The memory cache lives in the server: ask it over its admin socket.
                let socket = socket
                    .clone()
                    .or_else(|| aerie::admin::socket_path(file.approvals.socket.as_deref()))
                    .context(aerie::controls::cache::MEMORY_BACKEND)?;
                let request = match plugin {
                    None => serde_json::json!({"op": "cache_stats"}),
                    Some(p) => serde_json::json!({"op": "cache_clear", "plugin": p}),
                };
                let answer = aerie::admin::request(&socket, &request)
                    .await
                    .map_err(|e| {
                        anyhow::anyhow!("{e}\n({})", aerie::controls::cache::MEMORY_BACKEND)
                    })?;
                answer["text"].as_str().unwrap_or_default().to_string()
            } else {
                match plugin {
                    None => aerie::controls::cache::cli_stats(&file.cache).await,
                    Some(p) => aerie::controls::cache::cli_clear(&file.cache, p).await,
                }
                .map_err(anyhow::Error::msg)?
            };
            print!("{out}");
            Ok(())
        }
        Command::Approvals(a) => approvals(a).await,
        Command::Config(ConfigCmd::Check {
            common,
            creds,
            login,
        }) => {
            let file = FileConfig::load(common.config.as_deref()).map_err(anyhow::Error::msg)?;
            let creds = creds.resolve(&file).context("credentials")?;
            let mut opts = common.options(creds.clone())?;
            opts.auth_at_start = login;
            match &creds {
                Some(c) => println!("credentials: client id {} at {}", c.client_id, c.base_url),
                None => println!(
                    "credentials: none configured (set FALCON_CLIENT_ID and FALCON_CLIENT_SECRET)"
                ),
            }
            let app = server::build(opts).await?;
            if login {
                println!("login: ok (token issued)");
            }
            print!("{}", aerie::report::policy(&app));
            Ok(())
        }
    }
}

/// `aerie plugin pull` and `serve --pull`: fetch into `dir` under the config's [signing].
async fn pull(
    reference: &str,
    dir: &std::path::Path,
    file: &FileConfig,
) -> anyhow::Result<aerie::oci::Pulled> {
    aerie::oci::pull(reference, dir, &file.signing, file.max_component_bytes())
        .await
        .map_err(anyhow::Error::msg)
}

/// `aerie approvals …`: one request to the running server's admin socket.
async fn approvals(a: ApprovalsArgs) -> anyhow::Result<()> {
    let socket = match a.socket {
        Some(s) => s,
        None => {
            let file = FileConfig::load(a.config.as_deref()).map_err(anyhow::Error::msg)?;
            aerie::admin::socket_path(file.approvals.socket.as_deref()).context(
                "no runtime or cache directory for the default admin socket; pass --socket",
            )?
        }
    };
    let request = match &a.action {
        ApprovalsCmd::List => serde_json::json!({"op": "list"}),
        ApprovalsCmd::Show { id } => serde_json::json!({"op": "show", "id": id}),
        ApprovalsCmd::Approve { id } => serde_json::json!({"op": "approve", "id": id}),
        ApprovalsCmd::Deny { id, reason } => {
            serde_json::json!({"op": "deny", "id": id, "reason": reason})
        }
    };
    let answer = aerie::admin::request(&socket, &request)
        .await
        .map_err(anyhow::Error::msg)?;
    if a.json {
        println!("{answer}");
        return Ok(());
    }
    match &a.action {
        ApprovalsCmd::List => {
            let list = answer["approvals"].as_array().cloned().unwrap_or_default();
            if list.is_empty() {
                println!("no approvals waiting");
            }
            for item in &list {
                println!("{}", aerie::admin::render_line(item));
            }
        }
        ApprovalsCmd::Show { .. } => print!("{}", aerie::admin::render_full(&answer["approval"])),
        ApprovalsCmd::Approve { id } => {
            println!("approved {id}: the agent can now run it once with aerie_run_approved")
        }
        ApprovalsCmd::Deny { id, .. } => println!("denied {id}"),
    }
    Ok(())
}
