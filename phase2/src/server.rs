//! Starting a phase-2 server: bind the listeners, give each one an HTTP session factory, run.
//!
//! The stage binaries are a few lines each over these two functions; what differs between them
//! is where answers come from (a folder or a config) and the session [`Options`].

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::Path;
use std::sync::Arc;

use anyhow::Context as _;
use phase1::{Core, PortRole, StageProfile};

use crate::access_log::{AccessLog, Target};
use crate::balancer::Balancer;
use crate::config::{Config, Listener, RouteAction, Upstream};
use crate::metrics::Metrics;
use crate::session::{HttpSession, Options, Site, Telemetry};

/// Stages 14-15: every port in `ports` serves files from `public`.
pub fn run_folder(ports: &[u16], public: &Path, options: Options) -> anyhow::Result<()> {
    let mut core = Core::new(StageProfile::PIPES).context("cannot create the core")?;
    core.set_connection_logging(options.log_connections);
    core.set_pipe_threshold(options.pipe_threshold);
    core.set_eager_read(options.eager_read);
    let shown = std::fs::canonicalize(public).unwrap_or_else(|_| public.to_path_buf());
    if !shown.is_dir() {
        phase1::warn!(
            "{} is not a folder: every request will get 404",
            shown.display()
        );
    }
    phase1::info!("serving files from {}", shown.display());
    let site = Arc::new(Site::Folder(public.to_path_buf()));
    for &port in ports {
        let addr = SocketAddr::from(([0, 0, 0, 0], port));
        let factory = HttpSession::factory(site.clone(), options, None);
        core.listen(addr, PortRole::session(factory))
            .with_context(|| format!("cannot listen on {addr}"))?;
    }
    core.run().context("the event loop failed")
}

/// Stage 16 on: one listener per distinct config listener; the config answers every request.
/// With [`Options::workers`] (stage 23) the config's `workers` threads each run such a server
/// (see [`crate::workers`]); otherwise one event loop runs on this thread.
pub fn run_config(config: Config, options: Options) -> anyhow::Result<()> {
    describe(
        &config,
        options.load_balancing,
        options.workers,
        options.metrics,
    );
    describe_ip_lists(&config, options.ip_lists);
    describe_gzip(&config, options.gzip);
    if options.timeouts {
        let t = &config.timeouts;
        let ms = |d: std::time::Duration| match d.as_millis() {
            0 => "off".to_string(),
            n => format!("{n} ms"),
        };
        phase1::info!(
            "timeouts: header {}, body {}, send {}, upstream connect {}, upstream {}",
            ms(t.client_header),
            ms(t.client_body),
            ms(t.send),
            ms(t.upstream_connect),
            ms(t.upstream)
        );
    }
    let listeners = config
        .all_listeners()
        .into_iter()
        .map(|listener| {
            let addr = (listener.host.as_str(), listener.port)
                .to_socket_addrs()
                .ok()
                .and_then(|mut addrs| addrs.next())
                .with_context(|| format!("cannot resolve listener host {:?}", listener.host))?;
            Ok((addr, listener))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let workers = config.workers;
    // Stage 22: one set of counters (and one access log) for every worker.
    let telemetry = telemetry(&config, &options)?;
    // One site for every worker: the config is read-only, and whatever a route keeps that
    // changes (the load balancer's state) lives behind the route's own lock, shared too.
    let site = Arc::new(Site::Config(Arc::new(config)));
    let make_core = || -> anyhow::Result<Core> {
        let mut core = Core::new(StageProfile::PIPES).context("cannot create the core")?;
        core.set_connection_logging(options.log_connections);
        core.set_pipe_threshold(options.pipe_threshold);
        core.set_eager_read(options.eager_read);
        // The contract of the config stages: upstream names are resolved once, not per request.
        core.set_resolve_once(true);
        if let Some(telemetry) = &telemetry {
            telemetry.attach(&mut core, ACCESS_LOG_FLUSH);
        }
        Ok(core)
    };
    // The sessions of a worker count under its number (`phase1::logger::worker`, 0 without
    // workers); `make_ports` runs on the worker's own thread.
    let factory = |listener: &Listener| {
        let telemetry = telemetry.clone().map(|t| Telemetry {
            worker: phase1::logger::worker(),
            ..t
        });
        HttpSession::counted_factory(site.clone(), options, Some(listener.clone()), telemetry)
    };
    if options.workers {
        let addresses: Vec<_> = listeners.iter().map(|(addr, _)| *addr).collect();
        let make_ports = || {
            listeners
                .iter()
                .map(|(addr, listener)| (*addr, PortRole::session(factory(listener))))
                .collect()
        };
        return crate::workers::run(workers, options.accept, &addresses, make_core, make_ports);
    }
    let mut core = make_core()?;
    for (addr, listener) in listeners {
        let factory = factory(&listener);
        core.listen(addr, PortRole::session(factory))
            .with_context(|| format!("cannot listen on {listener}"))?;
    }
    core.run().context("the event loop failed")
}

/// Stage 22: the shared metrics and the access log, made once for every worker (each core is
/// then hooked to them with [`Telemetry::attach`]). `None` before stage 22.
fn telemetry(config: &Config, options: &Options) -> anyhow::Result<Option<Telemetry>> {
    if !options.metrics {
        if config.access_log.is_some() {
            phase1::debug!("\"access_log\" is set: this stage writes no log (stage 22 does)");
        }
        return Ok(None);
    }
    let workers = options.workers.then_some(config.workers);
    let metrics = Arc::new(Metrics::new(config, workers));
    let access_log = match &config.access_log {
        None => None,
        Some(target) => {
            let log = AccessLog::open(target).with_context(|| match target {
                Target::Stdout => "cannot write the access log to stdout".to_string(),
                Target::File(path) => format!("cannot open the access log {}", path.display()),
            })?;
            match target {
                Target::Stdout => phase1::info!("access log (combined format) on stdout"),
                Target::File(path) => {
                    phase1::info!("access log (combined format) in {}", path.display())
                }
            }
            Some(Arc::new(log))
        }
    };
    Ok(Some(Telemetry {
        metrics,
        access_log,
        worker: 0,
    }))
}

/// How often the access log's buffer is written out.
pub const ACCESS_LOG_FLUSH: std::time::Duration = std::time::Duration::from_secs(1);

/// The `main` of every config-driven stage (16-23): without a config path, the course's usage
/// line and exit status 2; otherwise start the logger, load the config and run it with the
/// stage's `options`. `binary` is the name the usage line shows.
pub fn run_stage(
    binary: &str,
    config: Option<std::path::PathBuf>,
    options: Options,
) -> anyhow::Result<()> {
    let Some(path) = config else {
        eprintln!("No config file path given\nUsage: {binary} <CONFIG>");
        std::process::exit(2);
    };
    phase1::logger::init();
    let config = load_config(&path)?;
    run_config(config, options)
}

/// Read a config file, saying which file failed and why.
pub fn load_config(path: &Path) -> anyhow::Result<Config> {
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    phase1::info!("reading config {}", absolute.display());
    Ok(Config::load(&absolute)?)
}

/// Log where a proxy route sends requests, resolving each upstream name once at start so that
/// a name that does not resolve is reported now rather than at the first request.
fn describe_upstreams(
    at: &str,
    req_path: &str,
    upstreams: &[Upstream],
    balancer: &Balancer,
    load_balancing: bool,
) {
    let names: Vec<String> = upstreams.iter().map(Upstream::to_string).collect();
    if load_balancing && upstreams.len() > 1 {
        phase1::info!(
            "http://{at}{req_path} balances ({}, failed upstreams skipped for {} ms) over {}",
            balancer.strategy(),
            balancer.fail_timeout().as_millis(),
            names.join(", ")
        );
    } else {
        phase1::info!("http://{at}{req_path} proxies to {}", names[0]);
        if upstreams.len() > 1 {
            phase1::info!(
                "  (the other {} upstreams are for load balancing, stage 20)",
                upstreams.len() - 1
            );
        }
    }
    let used = if load_balancing { names.len() } else { 1 };
    for name in &names[..used] {
        match phase1::upstream::resolve(name) {
            Ok(address) if address.to_string() != *name => {
                phase1::info!("  upstream {name} is {address}")
            }
            Ok(_) => {}
            Err(error) => phase1::warn!("upstream {name} does not resolve now: {error}"),
        }
    }
}

/// Log what each route does, so a user sees where files come from.
fn describe(config: &Config, load_balancing: bool, workers: bool, metrics: bool) {
    if !workers && config.workers > 1 {
        phase1::info!(
            "\"workers\": {} is a stage-23 setting; this server runs one event loop",
            config.workers
        );
    }
    for server in &config.servers {
        let at = server
            .listeners
            .first()
            .map(|l| l.to_string())
            .unwrap_or_default();
        for route in &server.routes {
            match &route.action {
                RouteAction::FileServe(files) => {
                    let dir = &files.dir_path;
                    let shown = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.clone());
                    phase1::info!(
                        "http://{at}{} serves files from {}",
                        route.req_path,
                        shown.display()
                    );
                    if !shown.is_dir() {
                        phase1::warn!(
                            "{} is not a folder: those requests will get 404",
                            shown.display()
                        );
                    }
                }
                RouteAction::ReverseProxy {
                    upstreams,
                    balancer,
                } => describe_upstreams(&at, &route.req_path, upstreams, balancer, load_balancing),
                RouteAction::Redirect { status, url } => {
                    phase1::info!(
                        "http://{at}{} redirects ({}) to {url}",
                        route.req_path,
                        status.as_u16()
                    )
                }
                RouteAction::Metrics if metrics => {
                    phase1::info!("http://{at}{} answers the metrics", route.req_path)
                }
                RouteAction::Metrics => phase1::warn!(
                    "http://{at}{} is a metrics route: this stage answers 404 there (stage 22 counts)",
                    route.req_path
                ),
            }
        }
        if server.routes.is_empty() {
            phase1::info!("http://{at} has no routes: every request gets 404");
        }
    }
}

/// Log what each route with `gzip_enable` compresses (stage 19). The stages before 19 read the
/// keys (the grader's config has them) and send every body as it is: a DEBUG line says so.
fn describe_gzip(config: &Config, enforced: bool) {
    for server in &config.servers {
        let at = server
            .listeners
            .first()
            .map(|l| l.to_string())
            .unwrap_or_default();
        for route in &server.routes {
            let RouteAction::FileServe(files) = &route.action else {
                continue;
            };
            let gzip = &files.gzip;
            if !gzip.enable {
                continue;
            }
            if !enforced {
                phase1::debug!(
                    "http://{at}{} has gzip_enable: this stage ignores it (stage 19 compresses)",
                    route.req_path
                );
                continue;
            }
            phase1::info!(
                "http://{at}{} compresses (gzip level {}) bodies of {} bytes or more of type {}",
                route.req_path,
                gzip.level,
                gzip.min_length,
                gzip.types.join(", ")
            );
        }
    }
}

/// Log who each route with IP lists lets in (stage 18), or that this stage ignores the lists.
fn describe_ip_lists(config: &Config, enforced: bool) {
    let join = |list: &[crate::ip_filter::IpRange]| {
        list.iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    };
    for server in &config.servers {
        let at = server
            .listeners
            .first()
            .map(|l| l.to_string())
            .unwrap_or_default();
        for route in server.routes.iter().filter(|r| !r.ip_lists.is_empty()) {
            let lists = &route.ip_lists;
            if !enforced {
                phase1::warn!(
                    "http://{at}{} has ip_whitelist/ip_blacklist: this stage ignores them (stage 18 enforces them)",
                    route.req_path
                );
                continue;
            }
            let rule = match (lists.whitelist.is_empty(), lists.blacklist.is_empty()) {
                (true, _) => format!("answers 403 to {}", join(&lists.blacklist)),
                (false, true) => format!(
                    "admits only {}; 403 for everyone else",
                    join(&lists.whitelist)
                ),
                (false, false) => format!(
                    "admits only {} except {}; 403 for everyone else",
                    join(&lists.whitelist),
                    join(&lists.blacklist)
                ),
            };
            phase1::info!("http://{at}{} {rule}", route.req_path);
        }
    }
}
