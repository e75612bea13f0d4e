//! Bringing a sandbox up and down, and the fault tools (stop/start,
//! isolate/heal) that tests use on its nodes.

use std::io::Read;
use std::net::{Ipv4Addr, SocketAddrV4, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::docker::{self, docker};
use crate::error::{Error, Result};
use crate::image::{self, ImageVariant};
use crate::inventory::{self, NodeEndpoint};
use crate::keys;
use crate::state::{NodeState, SandboxPaths, SandboxState, write_file};
use crate::topology::{self, NodeSpec, Subnet24};

/// Docker label carrying the sandbox name on every container and network.
pub const LABEL: &str = "org.drover.sandbox";
/// Docker label carrying a node's hostname on its container.
pub const NODE_LABEL: &str = "org.drover.node";
/// How often `docker run` is retried when the chosen port was taken meanwhile.
const PORT_ATTEMPTS: usize = 8;

/// How to bring a sandbox up.
#[derive(Debug, Clone)]
pub struct UpOptions {
    /// Sandbox name (docker objects are `drover-<name>*`).
    pub name: String,
    /// Number of nodes: meta plus `nodes - 1` others (4 = Pigsty's sandbox).
    pub nodes: usize,
    /// Node image variant.
    pub variant: ImageVariant,
    /// Network to use; default: 10.10.10.0/24 for `pigsty`, else a free 10.10.x.0/24.
    pub subnet: Option<Subnet24>,
    /// Rebuild the node image even if the current recipe's image exists.
    pub rebuild_image: bool,
    /// Repository root (holds `sandbox/image/`).
    pub repo_root: PathBuf,
    /// Where sandboxes keep their files (`<repo>/.sandbox` by default).
    pub state_root: PathBuf,
    /// How long to wait for every node to answer on SSH.
    pub ready_timeout: Duration,
    /// Light nodes: sshd alone as the container's process (no systemd, no services), a few
    /// MB each, so a hundred and more fit on a small machine (for scale benchmarks).
    pub light: bool,
}

impl UpOptions {
    /// Defaults for sandbox `name` in the repository at `repo_root`: 4 nodes,
    /// python3 image, files under `<repo_root>/.sandbox`.
    pub fn new(name: &str, repo_root: &Path) -> UpOptions {
        UpOptions {
            name: name.to_owned(),
            nodes: 4,
            variant: ImageVariant::WithPython,
            subnet: None,
            rebuild_image: false,
            repo_root: repo_root.to_path_buf(),
            state_root: default_state_root(repo_root),
            ready_timeout: Duration::from_secs(180),
            light: false,
        }
    }
}

/// The packed package cache for the nodes' local repo:
/// `<repo_root>/.cache/sandbox/repo` (`$DROVER_CACHE_DIR/repo` if set).
pub fn package_cache(repo_root: &Path) -> PathBuf {
    let base = std::env::var_os("DROVER_CACHE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root.join(".cache").join("sandbox"));
    absolute(&base.join("repo"))
}

/// `<repo_root>/.sandbox`.
pub fn default_state_root(repo_root: &Path) -> PathBuf {
    repo_root.join(".sandbox")
}

/// Timings of an `up`, for the report and benchmarks.
#[derive(Debug, Clone, Default)]
pub struct UpTimings {
    /// Image check or build.
    pub image: Duration,
    /// Whether the image was built.
    pub image_built: bool,
    /// Creating network and containers.
    pub start: Duration,
    /// Waiting until every node answered over SSH.
    pub ready: Duration,
}

/// Live state of one node as `status` reports it.
#[derive(Debug, Clone)]
pub struct NodeStatus {
    /// The node.
    pub node: NodeState,
    /// Docker's state: `running`, `exited`, ... or `missing`.
    pub state: String,
    /// Whether it is attached to the sandbox network (false after `isolate`).
    pub connected: bool,
    /// Memory in use as docker reports it (e.g. `41.2MiB`), when running.
    pub memory: Option<String>,
}

/// A sandbox that is up.
#[derive(Debug, Clone)]
pub struct Sandbox {
    paths: SandboxPaths,
    state: SandboxState,
}

/// How [`Sandbox::stop`] stops a node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Power {
    /// A power failure: every process is killed at once.
    Off,
    /// An orderly shutdown (systemd stops the units).
    Shutdown,
}

impl Sandbox {
    /// Brings sandbox `opts.name` up: builds the image if needed, creates
    /// the network and nodes, writes SSH material and inventories, and waits
    /// until every node answers over SSH with its hostname. If the sandbox is
    /// already up with the same size, it is kept (stopped nodes are started,
    /// isolated ones reconnected). Anything created by a failed `up` is
    /// removed again.
    pub fn up(opts: &UpOptions) -> Result<(Sandbox, UpTimings)> {
        topology::validate_name(&opts.name)?;
        topology::nodes(&opts.name, opts.nodes, Subnet24::PIGSTY)?;
        docker::ensure_available()?;
        if !opts.light {
            check_inotify_instances(opts.nodes)?;
        }
        let mut timings = UpTimings::default();
        if let Some(existing) = Self::already_up(opts)? {
            return Ok((existing, timings));
        }
        Self::remove_objects(&opts.name)?;

        let t = Instant::now();
        let image = image::ensure_image(&opts.repo_root, opts.variant, opts.rebuild_image)?;
        timings.image = t.elapsed();
        timings.image_built = image.built;

        let t = Instant::now();
        let paths = SandboxPaths::new(&opts.state_root, &opts.name);
        let created = Self::create(opts, &paths, &image.tag);
        let sandbox = match created {
            Ok(s) => s,
            Err(e) => {
                // Leave nothing behind; the first error is the one to report.
                let _ = Self::down(&opts.state_root, &opts.name);
                return Err(e);
            }
        };
        timings.start = t.elapsed();

        let t = Instant::now();
        if let Err(e) = sandbox.wait_ready_all(opts.ready_timeout) {
            let _ = Self::down(&opts.state_root, &opts.name);
            return Err(e);
        }
        timings.ready = t.elapsed();
        Ok((sandbox, timings))
    }

    fn already_up(opts: &UpOptions) -> Result<Option<Sandbox>> {
        let Ok(sandbox) = Self::open(&opts.state_root, &opts.name) else {
            return Ok(None);
        };
        if sandbox.state.nodes.len() != opts.nodes || sandbox.state.variant != opts.variant {
            return Err(Error::Invalid(format!(
                "sandbox `{}` is up with {} nodes ({} image); run `drover sandbox down --name {}` first",
                opts.name,
                sandbox.state.nodes.len(),
                sandbox.state.variant,
                opts.name
            )));
        }
        // Nodes stopped or isolated by the fault tools come back; a node
        // whose container is gone means the sandbox must be recreated.
        let status = sandbox.node_states(false)?;
        if status.iter().any(|s| s.state == "missing") {
            return Ok(None);
        }
        for s in &status {
            if s.state != "running" {
                docker(["start", &s.node.spec.container])?;
            }
            if !s.connected {
                let ip = s.node.spec.address.to_string();
                docker([
                    "network",
                    "connect",
                    "--ip",
                    &ip,
                    &sandbox.state.network,
                    &s.node.spec.container,
                ])?;
            }
        }
        sandbox.wait_ready_all(opts.ready_timeout)?;
        Ok(Some(sandbox))
    }

    fn create(opts: &UpOptions, paths: &SandboxPaths, image: &str) -> Result<Sandbox> {
        if paths.dir.exists() {
            std::fs::remove_dir_all(&paths.dir).map_err(Error::io(&paths.dir))?;
        }
        std::fs::create_dir_all(&paths.dir).map_err(Error::io(&paths.dir))?;
        keys::generate_ed25519(&paths.key(), &format!("drover-sandbox-{}", opts.name))?;

        let network = topology::network_name(&opts.name);
        let subnet = create_network(&opts.name, &network, opts.subnet)?;
        let specs = topology::nodes(&opts.name, opts.nodes, subnet)?;
        let hosts: Vec<String> = specs
            .iter()
            .map(|n| format!("--add-host={}:{}", n.hostname, n.address))
            .collect();

        let mut nodes = Vec::with_capacity(specs.len());
        let mut known_hosts = String::new();
        for spec in specs {
            let host_key = paths.host_key(&spec.hostname);
            if let Some(dir) = host_key.parent() {
                std::fs::create_dir_all(dir).map_err(Error::io(dir))?;
            }
            keys::generate_ed25519(&host_key, &format!("root@{}", spec.hostname))?;
            let ssh_port = run_node(opts, paths, &network, image, &spec, &hosts)?;
            let body = keys::public_key_body(&keys::pub_path(&host_key))?;
            known_hosts.push_str(&keys::known_hosts_line(
                ssh_port,
                &[spec.hostname.clone(), spec.address.to_string()],
                &body,
            ));
            nodes.push(NodeState { spec, ssh_port });
        }
        let state = SandboxState {
            name: opts.name.clone(),
            network,
            subnet,
            image: image.to_owned(),
            variant: opts.variant,
            nodes,
            package_cache: package_cache(&opts.repo_root),
        };
        write_file(&paths.known_hosts(), &known_hosts)?;
        let sandbox = Sandbox {
            paths: paths.clone(),
            state,
        };
        sandbox.write_generated_files()?;
        paths.save(&sandbox.state)?;
        Ok(sandbox)
    }

    fn write_generated_files(&self) -> Result<()> {
        let endpoints: Vec<NodeEndpoint<'_>> = self
            .state
            .nodes
            .iter()
            .map(|n| NodeEndpoint {
                hostname: &n.spec.hostname,
                address: n.spec.address.to_string(),
                port: n.ssh_port,
            })
            .collect();
        let key = absolute(&self.paths.key());
        let known_hosts = absolute(&self.paths.known_hosts());
        write_file(
            &self.paths.ssh_config(),
            &inventory::ssh_config(&endpoints, &key, &known_hosts),
        )?;
        write_file(
            &self.paths.connection_inventory(),
            &inventory::connection_inventory(
                &self.state.name,
                &endpoints,
                &key,
                &known_hosts,
                &self.state.package_cache,
            ),
        )?;
        write_file(
            &self.paths.inventory(),
            &inventory::sandbox_inventory(self.state.subnet),
        )
    }

    /// Opens sandbox `name` from its state under `state_root`.
    pub fn open(state_root: &Path, name: &str) -> Result<Sandbox> {
        topology::validate_name(name)?;
        let paths = SandboxPaths::new(state_root, name);
        let state = paths.load(name)?;
        Ok(Sandbox { paths, state })
    }

    /// Removes every container and the network of sandbox `name` (found by
    /// label, so this works without state files) and its files. Returns the
    /// names of the docker objects removed.
    pub fn down(state_root: &Path, name: &str) -> Result<Vec<String>> {
        topology::validate_name(name)?;
        docker::ensure_available()?;
        let removed = Self::remove_objects(name)?;
        let dir = SandboxPaths::new(state_root, name).dir;
        if dir.exists() {
            std::fs::remove_dir_all(&dir).map_err(Error::io(&dir))?;
        }
        Ok(removed)
    }

    /// Names of all sandboxes that have docker objects on this engine.
    pub fn list() -> Result<Vec<String>> {
        let mut names: Vec<String> = Vec::new();
        for (kind, fmt) in [("ps", "--all"), ("network", "ls")] {
            let mut args = if kind == "ps" {
                vec!["ps", fmt]
            } else {
                vec!["network", "ls"]
            };
            let filter = format!("label={LABEL}");
            let format = format!("{{{{.Label \"{LABEL}\"}}}}");
            args.extend(["--filter", &filter, "--format", &format]);
            for line in docker(args)?.lines() {
                let n = line.trim();
                if !n.is_empty() && !names.iter().any(|x| x == n) {
                    names.push(n.to_owned());
                }
            }
        }
        names.sort();
        Ok(names)
    }

    fn remove_objects(name: &str) -> Result<Vec<String>> {
        let mut removed = docker::containers_with_label(LABEL, name)?;
        if !removed.is_empty() {
            let mut args = vec![
                "rm".to_owned(),
                "--force".to_owned(),
                "--volumes".to_owned(),
            ];
            args.extend(removed.iter().cloned());
            docker(args)?;
        }
        for net in docker::networks_with_label(LABEL, name)? {
            docker(["network", "rm", &net])?;
            removed.push(net);
        }
        Ok(removed)
    }

    /// The sandbox's name.
    pub fn name(&self) -> &str {
        &self.state.name
    }
    /// The recorded state (network, subnet, image, nodes and ports).
    pub fn state(&self) -> &SandboxState {
        &self.state
    }
    /// Paths of the generated files.
    pub fn paths(&self) -> &SandboxPaths {
        &self.paths
    }
    /// The nodes, meta first.
    pub fn nodes(&self) -> &[NodeState] {
        &self.state.nodes
    }

    /// Finds a node by hostname (`meta`, `node-1`), address or container name.
    pub fn node(&self, query: &str) -> Result<&NodeState> {
        self.state
            .nodes
            .iter()
            .find(|n| {
                n.spec.hostname == query
                    || n.spec.address.to_string() == query
                    || n.spec.container == query
            })
            .ok_or_else(|| {
                let names: Vec<&str> = self
                    .state
                    .nodes
                    .iter()
                    .map(|n| n.spec.hostname.as_str())
                    .collect();
                let hint = drover_diag::did_you_mean(query, names.iter().copied())
                    .map(|h| format!(" ({h})"))
                    .unwrap_or_default();
                Error::UnknownNode {
                    sandbox: self.state.name.clone(),
                    node: query.to_owned(),
                    hint,
                    known: names.join(", "),
                }
            })
    }

    /// An `ssh` command (not yet run) that logs in to `node` through its
    /// loopback port with strict host-key checking; append a remote command
    /// with `.arg(..)`.
    pub fn ssh_command(&self, node: &str) -> Result<Command> {
        let node = self.node(node)?;
        let mut cmd = Command::new("ssh");
        cmd.arg("-F")
            .arg(absolute(&self.paths.ssh_config()))
            .arg(&node.spec.hostname);
        Ok(cmd)
    }

    /// Runs the shell `script` on `node` as the login user and returns its
    /// output (whatever the exit status).
    pub fn ssh(&self, node: &str, script: &str) -> Result<Output> {
        let mut cmd = self.ssh_command(node)?;
        cmd.arg("--")
            .arg(script)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| Error::Command {
                command: "ssh".to_owned(),
                detail: format!("{e} (install openssh-client)"),
            })
    }

    /// Runs `argv` inside `node`'s container with `docker exec` (bypasses SSH;
    /// for diagnostics and tests).
    pub fn exec(&self, node: &str, argv: &[&str]) -> Result<String> {
        let node = self.node(node)?;
        let mut args = vec!["exec", node.spec.container.as_str()];
        args.extend_from_slice(argv);
        docker(args)
    }

    /// Stops `node`'s container. [`Power::Off`] pulls the plug (SIGKILL to every process:
    /// nothing is flushed or shut down, as in a power failure); [`Power::Shutdown`] lets
    /// systemd shut the node down in order.
    pub fn stop(&self, node: &str, how: Power) -> Result<()> {
        let node = self.node(node)?;
        match how {
            Power::Off => docker(["kill", "--signal", "KILL", &node.spec.container]).map(|_| ()),
            Power::Shutdown => docker(["stop", "--time", "20", &node.spec.container]).map(|_| ()),
        }
    }

    /// Starts a stopped node again and waits until it answers over SSH.
    pub fn start(&self, node: &str, timeout: Duration) -> Result<()> {
        let node = self.node(node)?;
        docker(["start", &node.spec.container])?;
        self.wait_ready(node, timeout)
    }

    /// Disconnects `node` from the sandbox network: it can reach no other
    /// node, and its SSH port on 127.0.0.1 stops answering too.
    pub fn isolate(&self, node: &str) -> Result<()> {
        let node = self.node(node)?;
        docker([
            "network",
            "disconnect",
            "--force",
            &self.state.network,
            &node.spec.container,
        ])
        .map(|_| ())
    }

    /// Reconnects an isolated node with its old address and waits until it
    /// answers over SSH again.
    pub fn heal(&self, node: &str, timeout: Duration) -> Result<()> {
        let node = self.node(node)?;
        let ip = node.spec.address.to_string();
        docker([
            "network",
            "connect",
            "--ip",
            &ip,
            &self.state.network,
            &node.spec.container,
        ])?;
        self.wait_ready(node, timeout)
    }

    /// Live state of every node: container state, network attachment,
    /// memory in use.
    pub fn status(&self) -> Result<Vec<NodeStatus>> {
        self.node_states(true)
    }

    /// Like [`Sandbox::status`]; `with_memory: false` skips `docker stats`
    /// (which samples for about two seconds).
    pub fn node_states(&self, with_memory: bool) -> Result<Vec<NodeStatus>> {
        let names: Vec<&str> = self
            .state
            .nodes
            .iter()
            .map(|n| n.spec.container.as_str())
            .collect();
        let mut args = vec![
            "inspect",
            "--type",
            "container",
            "--format",
            "{{.Name}} {{.State.Status}} {{range $k, $v := .NetworkSettings.Networks}}{{$k}},{{end}}",
        ];
        args.extend(&names);
        // Inspect fails if any container is missing; then ask one by one.
        let text = match docker(args) {
            Ok(t) => t,
            Err(_) => names
                .iter()
                .filter_map(|n| {
                    docker([
                        "inspect",
                        "--type",
                        "container",
                        "--format",
                        "{{.Name}} {{.State.Status}} {{range $k, $v := .NetworkSettings.Networks}}{{$k}},{{end}}",
                        n,
                    ])
                    .ok()
                })
                .collect::<Vec<_>>()
                .join("\n"),
        };
        let memory = if with_memory {
            self.memory_usage().unwrap_or_default()
        } else {
            Vec::new()
        };
        Ok(self
            .state
            .nodes
            .iter()
            .map(|n| {
                let line = text.lines().find(|l| {
                    l.split_whitespace()
                        .next()
                        .map(|c| c.trim_start_matches('/'))
                        == Some(n.spec.container.as_str())
                });
                let mut parts = line.unwrap_or("").split_whitespace().skip(1);
                let state = parts.next().unwrap_or("missing").to_owned();
                let nets = parts.next().unwrap_or("");
                NodeStatus {
                    connected: nets.split(',').any(|x| x == self.state.network),
                    memory: memory
                        .iter()
                        .find(|(c, _)| c == &n.spec.container)
                        .map(|(_, m)| m.clone()),
                    state,
                    node: n.clone(),
                }
            })
            .collect())
    }

    /// `(container, memory used)` of the running nodes.
    fn memory_usage(&self) -> Result<Vec<(String, String)>> {
        let filter = format!("label={LABEL}={}", self.state.name);
        let running = docker(["ps", "--filter", &filter, "--format", "{{.Names}}"])?;
        let running: Vec<&str> = running.lines().filter(|l| !l.is_empty()).collect();
        if running.is_empty() {
            return Ok(Vec::new());
        }
        let mut args = vec![
            "stats",
            "--no-stream",
            "--format",
            "{{.Name}} {{.MemUsage}}",
        ];
        args.extend(running);
        Ok(docker(args)?
            .lines()
            .filter_map(|l| {
                let mut p = l.split_whitespace();
                Some((p.next()?.to_owned(), p.next()?.to_owned()))
            })
            .collect())
    }

    /// Waits until every node answers over SSH with its hostname.
    pub fn wait_ready_all(&self, timeout: Duration) -> Result<()> {
        std::thread::scope(|s| {
            let handles: Vec<_> = self
                .state
                .nodes
                .iter()
                .map(|n| s.spawn(move || self.wait_ready(n, timeout)))
                .collect();
            let mut first_err = None;
            for h in handles {
                let r = h.join().unwrap_or_else(|_| {
                    Err(Error::Invalid("a readiness thread panicked".to_owned()))
                });
                if let Err(e) = r {
                    first_err.get_or_insert(e);
                }
            }
            first_err.map_or(Ok(()), Err)
        })
    }

    /// Waits until `node` answers over SSH with its hostname.
    fn wait_ready(&self, node: &NodeState, timeout: Duration) -> Result<()> {
        let deadline = Instant::now() + timeout;
        let mut last: String;
        loop {
            if ssh_banner(node.ssh_port) {
                match self.ssh(&node.spec.hostname, "hostname") {
                    Ok(out) if out.status.success() => {
                        let got = String::from_utf8_lossy(&out.stdout).trim().to_owned();
                        if got == node.spec.hostname {
                            return Ok(());
                        }
                        last = format!("answered with hostname `{got}`");
                    }
                    Ok(out) => last = String::from_utf8_lossy(&out.stderr).trim().to_owned(),
                    Err(e) => last = e.to_string(),
                }
            } else {
                last = "no SSH banner".to_owned();
            }
            if Instant::now() >= deadline {
                return Err(Error::NotReady {
                    node: node.spec.hostname.clone(),
                    container: node.spec.container.clone(),
                    port: node.ssh_port,
                    secs: timeout.as_secs(),
                    detail: last,
                });
            }
            std::thread::sleep(Duration::from_millis(250));
        }
    }
}

/// Whether something on 127.0.0.1:`port` speaks SSH (docker's port proxy
/// accepts connections even when sshd is not up yet, so read the banner).
pub fn ssh_banner(port: u16) -> bool {
    let addr = SocketAddrV4::new(Ipv4Addr::LOCALHOST, port);
    let Ok(mut stream) = TcpStream::connect_timeout(&addr.into(), Duration::from_secs(2)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let mut buf = [0u8; 4];
    stream.read_exact(&mut buf).is_ok() && &buf == b"SSH-"
}

fn absolute(p: &Path) -> PathBuf {
    std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf())
}

/// Creates the sandbox network on the first free candidate subnet.
fn create_network(name: &str, network: &str, wanted: Option<Subnet24>) -> Result<Subnet24> {
    let candidates = match wanted {
        Some(s) => vec![s],
        None => topology::subnet_candidates(name, &docker::used_subnets()?),
    };
    let label = format!("{LABEL}={name}");
    let mut last = None;
    for subnet in candidates {
        let sub = subnet.to_string();
        let gw = subnet.gateway().to_string();
        let r = docker([
            "network",
            "create",
            "--driver",
            "bridge",
            "--subnet",
            &sub,
            "--gateway",
            &gw,
            "--label",
            &label,
            // Nodes get no route to the outside world: no NAT.
            "--opt",
            "com.docker.network.bridge.enable_ip_masquerade=false",
            network,
        ]);
        match r {
            Ok(_) => return Ok(subnet),
            Err(Error::Docker { stderr, args }) if stderr.contains("overlap") => {
                last = Some(Error::Docker { stderr, args });
            }
            Err(e) => return Err(e),
        }
    }
    Err(last.unwrap_or_else(|| {
        Error::Invalid("no free 10.10.x.0/24 subnet left for another sandbox".to_owned())
    }))
}

/// inotify instances one idle node's systemd holds (measured: about 6).
const INOTIFY_PER_NODE: u64 = 8;
const INOTIFY_FILE: &str = "/proc/sys/fs/inotify/max_user_instances";

/// Every node's systemd needs inotify instances, all counted against root on
/// the host; at Debian's default of 128 the 20-somethingth node exits at
/// boot (status 255, no log). Refuse early with the fix instead.
fn check_inotify_instances(nodes: usize) -> Result<()> {
    let Ok(text) = std::fs::read_to_string(INOTIFY_FILE) else {
        return Ok(());
    };
    let Ok(limit) = text.trim().parse::<u64>() else {
        return Ok(());
    };
    let running = docker::running_with_label_key(LABEL)
        .map(|c| c.len())
        .unwrap_or(0);
    let needed = INOTIFY_PER_NODE * (nodes + running) as u64 + 64;
    if limit >= needed {
        return Ok(());
    }
    Err(Error::Invalid(format!(
        "{nodes} nodes need about {needed} inotify instances for their systemd, but \
         {INOTIFY_FILE} is {limit}\n  help: run `sandbox/prepare` (as root) or \
         `sysctl -w fs.inotify.max_user_instances=8192`"
    )))
}

/// A port on 127.0.0.1 that is free right now.
fn free_loopback_port() -> Result<u16> {
    let l = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).map_err(Error::io("127.0.0.1:0"))?;
    let port = l.local_addr().map_err(Error::io("127.0.0.1:0"))?.port();
    Ok(port)
}

/// Starts one node's container and returns its SSH port on 127.0.0.1.
fn run_node(
    opts: &UpOptions,
    paths: &SandboxPaths,
    network: &str,
    image: &str,
    spec: &NodeSpec,
    hosts: &[String],
) -> Result<u16> {
    let host_key = absolute(&paths.host_key(&spec.hostname));
    let host_pub = keys::pub_path(&host_key);
    let client_pub = keys::pub_path(&absolute(&paths.key()));
    let mut last = None;
    for _ in 0..PORT_ATTEMPTS {
        let port = free_loopback_port()?;
        // systemd as PID 1 needs mount/cgroup rights (SYS_ADMIN) and its own cgroup
        // namespace; `--privileged` is not used: this engine refuses it ("unable to apply
        // caps: operation not permitted"), and the two capabilities are all systemd and the
        // roles need. A light node runs sshd alone and needs none of it.
        let init: &[&str] = if opts.light {
            &["--tmpfs", "/run", "--tmpfs", "/run/lock"]
        } else {
            &[
                "--cap-add",
                "SYS_ADMIN",
                "--cap-add",
                "NET_ADMIN",
                "--cgroupns",
                "private",
                "--tmpfs",
                "/run",
                "--tmpfs",
                "/run/lock",
                "--stop-signal",
                "SIGRTMIN+3",
            ]
        };
        let mut args: Vec<String> = [
            "run",
            "--detach",
            "--name",
            &spec.container,
            "--hostname",
            &spec.hostname,
            "--network",
            network,
            "--ip",
            &spec.address.to_string(),
        ]
        .iter()
        .chain(init)
        .map(|s| s.to_string())
        .collect();
        args.extend(
            [
                "--publish",
                &format!("127.0.0.1:{port}:22"),
                "--label",
                &format!("{LABEL}={}", opts.name),
                "--label",
                &format!("{NODE_LABEL}={}", spec.hostname),
                "--volume",
                &format!("{}:/etc/ssh/ssh_host_ed25519_key:ro", host_key.display()),
                "--volume",
                &format!(
                    "{}:/etc/ssh/ssh_host_ed25519_key.pub:ro",
                    host_pub.display()
                ),
                "--volume",
                &format!(
                    "{}:/etc/ssh/authorized_keys.d/{}:ro",
                    client_pub.display(),
                    inventory::SSH_USER
                ),
            ]
            .iter()
            .map(|s| s.to_string()),
        );
        args.extend(hosts.iter().cloned());
        args.push(image.to_owned());
        if opts.light {
            args.extend(
                [
                    "/bin/sh",
                    "-c",
                    "mkdir -p /run/sshd && exec /usr/sbin/sshd -D -e",
                ]
                .map(String::from),
            );
        }
        match docker(args) {
            Ok(_) => return Ok(port),
            Err(Error::Docker { args, stderr })
                if stderr.contains("already allocated")
                    || stderr.contains("address already in use") =>
            {
                let _ = docker(["rm", "--force", &spec.container]);
                last = Some(Error::Docker { args, stderr });
            }
            Err(e) => return Err(e),
        }
    }
    Err(last.unwrap_or_else(|| Error::Invalid("no free port".to_owned())))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sandbox() -> Sandbox {
        let subnet = Subnet24::PIGSTY;
        let nodes = topology::nodes("t", 4, subnet)
            .expect("nodes")
            .into_iter()
            .enumerate()
            .map(|(i, spec)| NodeState {
                spec,
                ssh_port: 40000 + u16::try_from(i).expect("small"),
            })
            .collect();
        Sandbox {
            paths: SandboxPaths::new(Path::new("/nonexistent"), "t"),
            state: SandboxState {
                name: "t".to_owned(),
                network: "drover-t".to_owned(),
                subnet,
                image: "drover-node:x".to_owned(),
                variant: ImageVariant::WithPython,
                nodes,
                package_cache: PathBuf::from("/c"),
            },
        }
    }

    #[test]
    fn node_lookup_by_hostname_address_or_container() {
        let sb = sandbox();
        assert_eq!(sb.node("node-2").expect("by name").ssh_port, 40002);
        assert_eq!(sb.node("10.10.10.13").expect("by address").ssh_port, 40003);
        assert_eq!(
            sb.node("drover-t-meta").expect("by container").ssh_port,
            40000
        );
        let err = sb.node("nod-1").expect_err("unknown").to_string();
        assert!(err.contains("did you mean `node-1`"), "{err}");
        assert!(
            err.contains("nodes are: meta, node-1, node-2, node-3"),
            "{err}"
        );
    }

    #[test]
    fn ssh_command_uses_generated_config() {
        let sb = sandbox();
        let cmd = sb.ssh_command("10.10.10.11").expect("cmd");
        let args: Vec<String> = cmd
            .get_args()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        assert_eq!(args[0], "-F");
        assert!(args[1].ends_with("/t/ssh_config"));
        assert_eq!(args[2], "node-1");
    }
}
