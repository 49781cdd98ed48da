//! The command line as clap sees it: raw flags, before validation (see `settings` for the validated form).

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use crate::duration::parse_positive_duration;
mod clients;
pub mod lab;
pub use clients::{ClientsAction, ClientsArgs};
mod matrix;
pub use matrix::{MatrixArgs, TrafficChoice};
mod watch;
pub use watch::{parse_size, WatchArgs};
mod resolve;

use crate::mode::Mode;
use crate::output::OutputFormat;
pub use resolve::{probe_settings, resolve, resolve_target};

/// Tells whether your Redis connections survive a failover.
#[derive(Debug, Parser)]
#[command(
    name = "redis-failover-probe",
    version = crate::VERSION,
    about = "Tells whether your Redis connections survive a failover: how long each shard was down, what errors \
             clients saw, how the topology changed, and whether a client would have recovered.",
    after_help = crate::exit::EXIT_CODES_HELP,
    propagate_version = true
)]
pub struct Cli {
    /// Where and how to connect.
    #[command(flatten)]
    pub target: TargetArgs,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The ids of the global target flags, hidden from the help of commands that ignore them (`lab`).
const TARGET_IDS: [&str; 13] = [
    "urls",
    "mode",
    "access_key",
    "password_command",
    "password_refresh",
    "user",
    "profile",
    "profiles_file",
    "tls_ca",
    "insecure",
    "timeout",
    "reconnect_max",
    "fred_use_cache",
];

/// The clap command, built, with the target flags hidden under `lab` (a lab starts its own servers and never
/// connects to a target, so `lab up --help` lists only what it uses). Parse with this, not `Cli::command()`.
pub fn command() -> clap::Command {
    let cmd = <Cli as clap::CommandFactory>::command();
    // A subcommand that already has an argument of a global's id is skipped when globals are propagated, so
    // hidden copies placed on `lab` before the build take the globals' place in its subtree and parse the same.
    let hidden: Vec<clap::Arg> = cmd
        .get_arguments()
        .filter(|a| TARGET_IDS.contains(&a.get_id().as_str()))
        .map(|a| a.clone().hide(true))
        .collect();
    cmd.mut_subcommand("lab", |lab| lab.args(hidden))
}

/// Parses `words` (the program name first) as the binary does.
pub fn try_parse_from<I, T>(words: I) -> Result<(clap::ArgMatches, Cli), clap::Error>
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    use clap::FromArgMatches;
    let matches = command().try_get_matches_from(words)?;
    let cli = Cli::from_arg_matches(&matches)?;
    Ok((matches, cli))
}

/// Target flags shared by every subcommand.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Target")]
pub struct TargetArgs {
    /// Redis URL: redis:// or rediss:// (TLS), optional user:password@. Repeat for several cluster seeds.
    /// [default: redis://127.0.0.1:6379]
    #[arg(long = "url", env = "REDIS_URL", global = true, value_delimiter = ',', hide_env_values = true)]
    pub urls: Vec<String>,

    /// Connection mode. Default standalone, or oss-cluster when a profile is given (USE_CLUSTER=true also means
    /// oss-cluster).
    #[arg(long, env = "REDIS_MODE", global = true, value_enum)]
    pub mode: Option<Mode>,

    /// Password or access key (AUTH). Overrides one in the URL. Prefer the REDIS_ACCESS_KEY variable.
    #[arg(long, env = "REDIS_ACCESS_KEY", global = true, hide_env_values = true)]
    pub access_key: Option<String>,

    /// A command that prints the password, e.g. an Entra ID access-token query; run again before it expires.
    #[arg(long, env = "REDIS_PASSWORD_COMMAND", global = true, value_name = "CMD", hide_env_values = true)]
    pub password_command: Option<String>,

    /// How often --password-command is run again (connections re-authenticate).
    #[arg(long, global = true, default_value = "45m", value_parser = parse_positive_duration, value_name = "DUR", allow_hyphen_values = true)]
    pub password_refresh: Duration,

    /// ACL user name.
    #[arg(long, env = "REDIS_USERNAME", global = true)]
    pub user: Option<String>,

    /// A named target from the profiles file (url, mode, user and the name of the variable holding the key).
    #[arg(long, env = "PROFILE", global = true)]
    pub profile: Option<String>,

    /// The TOML profiles file [default: ./redis-failover-probe.toml, then the user's config dir].
    #[arg(long, global = true, value_name = "FILE")]
    pub profiles_file: Option<PathBuf>,

    /// A PEM CA bundle to verify the server certificate of rediss:// URLs.
    #[arg(long, global = true, value_name = "FILE")]
    pub tls_ca: Option<PathBuf>,

    /// Skip TLS certificate verification (prints a warning).
    #[arg(long, global = true)]
    pub insecure: bool,

    /// Connect and per-command timeout.
    #[arg(long, global = true, default_value = "1s", value_parser = parse_positive_duration, value_name = "DUR", allow_hyphen_values = true)]
    pub timeout: Duration,

    /// Longest wait between reconnect attempts (50 ms doubling up to this). Short by default so the probe's own
    /// backoff does not lengthen the outages it measures; `5s` models a client with the original tool's policy.
    #[arg(long, global = true, default_value = "250ms", value_parser = parse_positive_duration, value_name = "DUR", allow_hyphen_values = true)]
    pub reconnect_max: Duration,

    /// fred's cluster client (`--client fred`, inspection commands): rediscover from the seeds AND the cached
    /// routing table (fred's `ClusterDiscoveryPolicy::UseCache`) instead of the seeds only.
    #[arg(long, global = true)]
    pub fred_use_cache: bool,

    /// Output format on stdout.
    #[arg(long, global = true, help_heading = "Output", value_enum, default_value_t = OutputFormat::Table)]
    pub output: OutputFormat,

    /// No colours (also when NO_COLOR is set).
    #[arg(long, global = true, help_heading = "Output")]
    pub no_color: bool,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// PING a few times: latency, server version, role, cluster mode and the endpoints used.
    #[command(after_help = "Example:\n  redis-failover-probe status --url redis://127.0.0.1:6379 --count 10")]
    Status(StatusArgs),
    /// CLUSTER INFO and CLUSTER NODES as a table.
    #[command(
        after_help = "Example:\n  redis-failover-probe cluster-info --mode oss-cluster --url redis://127.0.0.1:7000"
    )]
    ClusterInfo,
    /// The slot map (CLUSTER SHARDS, else CLUSTER SLOTS): ranges, primaries, replicas, coverage.
    #[command(after_help = "Example:\n  redis-failover-probe slots --mode oss-cluster --output json")]
    Slots,
    /// Write keys with a TTL, read them back, and show which node owns and which node answered each.
    #[command(after_help = "Example:\n  redis-failover-probe test-keys --mode oss-cluster --count 30")]
    TestKeys(TestKeysArgs),
    /// CLIENT LIST of every node, this tool's own connections marked.
    #[command(after_help = "Example:\n  redis-failover-probe client-list --mode oss-cluster")]
    ClientList,
    /// One health check (PING and a probe-key write/read on every primary), or one per --interval with --watch.
    #[command(after_help = "Example:\n  redis-failover-probe health --mode oss-cluster --watch --interval 10s")]
    Health(HealthArgs),
    /// The connection mode, the seed and advertised endpoints, and a failover-risk assessment.
    #[command(after_help = "Example:\n  redis-failover-probe connection-mode --mode oss-cluster")]
    ConnectionMode,
    /// Write and read on every shard for a while and tell whether the connection survived the failover and how
    /// long each shard was unavailable.
    #[command(
        after_help = "Examples:\n  redis-failover-probe failover-recovery --mode oss-cluster --duration 300 --interval 2\n  \
        redis-failover-probe failover-recovery --mode oss-cluster --lab kill-primary --at 5s --duration 20s"
    )]
    FailoverRecovery(FailoverRecoveryArgs),
    /// Probe several connection styles side by side through the same failover: OSS-cluster vs enterprise
    /// endpoints, and client styles that reproduce real clients' topology-refresh habits.
    #[command(after_help = "Examples:\n  redis-failover-probe compare --lab kill-primary --at 5s --duration 25s\n  \
        redis-failover-probe compare --target oss=rediss://cache:10000,mode=oss-cluster,client=moved-only \\\n    \
        --target ent=rediss://cache-ent:10000,mode=enterprise --duration 300\n  \
        redis-failover-probe compare --lab kill-primary --expect moved-only=fail")]
    Compare(CompareArgs),
    /// Watch the topology: every change as an event the moment it is seen, maintenance notices, and the
    /// stale-topology diagnoses.
    #[command(
        after_help = "Example:\n  redis-failover-probe monitor --mode oss-cluster --duration 10m --interval 1s --events topo.jsonl"
    )]
    Monitor(MonitorArgs),
    /// The survival matrix: every requested client probing the same lab through each scenario, client ×
    /// scenario: recovered or stuck, when, and how.
    #[command(
        after_help = "Examples:\n  redis-failover-probe matrix --lab kill-primary,rolling-replace,hang-primary --clients all\n  \
        redis-failover-probe matrix --lab rolling-replace --seed node --clients redis-py@8,ioredis@5,fred\n  \
        redis-failover-probe matrix --lab kill-primary --clients all --traffic both --report matrix.md \\\n    \
        --expect node-redis@4=fail --expect lettuce@6=fail\n\n\
        A client is direct, fred or PRESET[,param=value...] (see `clients`); in --clients a param=value after a\n\
        preset belongs to it: --clients lettuce@6,periodic=60s,ioredis@5."
    )]
    Matrix(MatrixArgs),
    /// Leave it running: a low-rate baseline until the first sign of trouble, then an incident probed at full
    /// rate and written, complete, into its own folder when it closes.
    #[command(
        after_help = "Examples:\n  redis-failover-probe --url rediss://cache:10000 --mode oss-cluster watch --out /var/lib/rfp \\\n    \
        --metrics-listen 0.0.0.0:9464 --events /var/log/rfp/events.jsonl\n\n\
        An incident opens on a failed probe, a topology change, a maintenance notice or an unreachable target, and\n\
        closes --quiet after every shard is back. Its folder (named by its start) holds report.md, timeline.svg,\n\
        summary.json (failover-recovery's schema) and events.jsonl with the minute before it. Ends on SIGTERM or\n\
        Ctrl-C (exit 0), writing an open incident as interrupted."
    )]
    Watch(WatchArgs),
    /// The client-habit presets: how each popular cluster client learns a new topology, with its source.
    #[command(
        after_help = "Examples:\n  redis-failover-probe clients\n  redis-failover-probe clients show lettuce@6,periodic=60s\n  \
        redis-failover-probe clients install node-redis@4 ioredis@5 redis-py@8\n  redis-failover-probe clients list\n\n\
        The presets are models read from each client's source; --client (failover-recovery, compare) and\n\
        --clients (matrix) take any of them, with overrides, besides direct and fred. real:LIB@VERSION runs the\n\
        library itself once `clients install` has put it in the cache directory."
    )]
    Clients(ClientsArgs),
    /// Local topologies of real redis-server / Sentinel / HAProxy processes, and fault scenarios against them.
    #[command(after_help = "Examples:\n  redis-failover-probe lab up --topology cluster --seed-proxy --detach\n  \
        redis-failover-probe lab run kill-primary\n  redis-failover-probe lab down")]
    Lab(lab::LabArgs),
    /// Print a shell completion script, generated from this command line.
    #[command(
        after_help = "Example:\n  redis-failover-probe completions bash > /etc/bash_completion.d/redis-failover-probe"
    )]
    Completions {
        /// The shell.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff), generated from this command line.
    #[command(
        after_help = "Example:\n  redis-failover-probe man > redis-failover-probe.1 && man ./redis-failover-probe.1"
    )]
    Man,
}

/// Flags shared by the probing commands (failover-recovery, compare).
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Probe")]
pub struct ProbeArgs {
    /// How long to probe.
    #[arg(long, default_value = "30s", value_parser = parse_positive_duration, value_name = "DUR", allow_hyphen_values = true)]
    pub duration: Duration,
    /// Time between probes of each target (at least 10ms).
    #[arg(long, default_value = "1s", value_parser = parse_positive_duration, value_name = "DUR", allow_hyphen_values = true)]
    pub interval: Duration,
    /// Probe key prefix (keys also carry the run id and a TTL).
    #[arg(long, default_value = "rfp:")]
    pub prefix: String,
    /// TTL of the probe keys.
    #[arg(long, default_value = "60s", value_parser = parse_positive_duration, value_name = "DUR", allow_hyphen_values = true)]
    pub ttl: Duration,
    /// Fail when any outage is longer than this.
    #[arg(long, value_parser = parse_positive_duration, value_name = "DUR", allow_hyphen_values = true)]
    pub max_outage: Option<Duration>,
    /// Write every event (probes, client events, topology, lab) as JSON lines to FILE, flushed per event.
    #[arg(long, help_heading = "Output", value_name = "FILE")]
    pub events: Option<PathBuf>,
    /// Write a report at the end: FILE.md (incident report), FILE.svg or FILE.html (availability timeline).
    #[arg(long, help_heading = "Output", value_name = "FILE")]
    pub report: Option<PathBuf>,
    /// Probe with GET only (for caches where writes are not allowed).
    #[arg(long)]
    pub read_only: bool,
    /// Serve Prometheus metrics at http://ADDR/metrics while the run lasts (e.g. 127.0.0.1:9464).
    #[arg(long, help_heading = "Output", value_name = "ADDR")]
    pub metrics_listen: Option<String>,
    /// Write Prometheus metrics to FILE at every heartbeat (node_exporter textfile collector).
    #[arg(long, help_heading = "Output", value_name = "FILE")]
    pub metrics_file: Option<PathBuf>,
    /// reconnect-refresh: how long a node must fail before the slot map is refreshed.
    #[arg(long, default_value = "5s", value_parser = parse_positive_duration, value_name = "DUR", allow_hyphen_values = true)]
    pub refresh_after: Duration,
    /// How often the topology is polled (oss-cluster).
    #[arg(long, default_value = "1s", value_parser = parse_positive_duration, value_name = "DUR", allow_hyphen_values = true)]
    pub topology_interval: Duration,
}

/// Flags of `compare`.
#[derive(Debug, Clone, Args)]
pub struct CompareArgs {
    /// A target: `NAME=URL[,mode=MODE][,client=CLIENT]`, or `NAME=profile:PROFILE[,client=CLIENT]`. Repeat.
    /// `client=` comes last and takes a preset with its overrides: `client=lettuce@6,periodic=60s`.
    #[arg(long = "target", value_name = "SPEC")]
    pub targets: Vec<String>,
    /// What a target's verdict should be (default pass): NAME=fail lets a CI job assert that a known-bad
    /// configuration does fail. The exit code is 0 when every expectation holds.
    #[arg(long = "expect", value_name = "NAME=pass|fail")]
    pub expect: Vec<String>,
    /// With `--lab`: who probes the lab's cluster, one source each (repeat; a preset takes its own
    /// `,param=value`). Default: direct, fred, moved-only, reconnect-refresh. The enterprise endpoint is
    /// always probed by direct.
    #[arg(
        long = "client",
        value_name = "CLIENT",
        value_parser = crate::probe::styles::ClientSpec::parse,
        default_values = ["direct", "fred", "moved-only", "reconnect-refresh"]
    )]
    pub clients: Vec<crate::probe::styles::ClientSpec>,
    /// Probe flags.
    #[command(flatten)]
    pub probe: ProbeArgs,
    /// Rehearsal options (`--lab SCENARIO`: a cluster and an enterprise topology, one source per `--client`).
    #[command(flatten)]
    pub lab: RehearsalArgs,
}

/// Flags of `monitor`.
#[derive(Debug, Clone, Args)]
pub struct MonitorArgs {
    /// How long to watch.
    #[arg(long, default_value = "10s", value_parser = parse_positive_duration, value_name = "DUR", allow_hyphen_values = true)]
    pub duration: Duration,
    /// Time between polls.
    #[arg(long, default_value = "1s", value_parser = parse_positive_duration, value_name = "DUR", allow_hyphen_values = true)]
    pub interval: Duration,
    /// Write every event as JSON lines to FILE, flushed per event.
    #[arg(long, help_heading = "Output", value_name = "FILE")]
    pub events: Option<PathBuf>,
    /// Also listen for RESP3 maintenance push notices (CLIENT MAINT_NOTIFICATIONS) on a dedicated connection.
    #[arg(long)]
    pub maint_notifications: bool,
    /// Do not subscribe to Azure's AzureRedisEvents channel.
    #[arg(long)]
    pub no_azure_events: bool,
    /// Write a report at the end: FILE.md, FILE.svg or FILE.html (the topology timeline).
    #[arg(long, help_heading = "Output", value_name = "FILE")]
    pub report: Option<PathBuf>,
}

/// Flags of `failover-recovery`.
#[derive(Debug, Clone, Args)]
pub struct FailoverRecoveryArgs {
    /// Standalone / enterprise: how many keys to probe on the one endpoint.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub keys: u32,
    /// oss-cluster: who probes. `direct` (default) measures each shard's own availability; `fred` probes with
    /// fred's own cluster client; a client preset, `PRESET[,param=value...]` (see `clients`), measures what
    /// that client's habits make of it, e.g. `lettuce@6,periodic=60s` (aliases: moved-only, reconnect-refresh).
    #[arg(long, default_value = "direct", value_parser = crate::probe::styles::ClientSpec::parse, value_name = "CLIENT")]
    pub client: crate::probe::styles::ClientSpec,
    /// With `--client real:LIB`: your application's options, a JSON object handed to the library's
    /// constructor as it is (the same as `,options=FILE.json` after the client).
    #[arg(long, value_name = "FILE.json")]
    pub client_options: Option<PathBuf>,
    /// Probe flags.
    #[command(flatten)]
    pub probe: ProbeArgs,
    /// Rehearsal options (`--lab SCENARIO`).
    #[command(flatten)]
    pub lab: RehearsalArgs,
}

/// Flags of a rehearsal on the local lab (failover-recovery, compare).
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Lab rehearsal")]
pub struct RehearsalArgs {
    /// Rehearse on a local lab: start the topology matching --mode, inject SCENARIO at --at, tear it down after.
    #[arg(long, value_enum, value_name = "SCENARIO")]
    pub lab: Option<crate::lab::ScenarioKind>,
    /// When to inject the scenario, after probing starts.
    #[arg(long, default_value = "10s", value_parser = crate::duration::parse_duration, value_name = "DUR", requires = "lab", allow_hyphen_values = true)]
    pub at: Duration,
    /// hang-primary: how long the primary stays stopped.
    #[arg(long = "for", value_parser = parse_positive_duration, value_name = "DUR", requires = "lab", allow_hyphen_values = true)]
    pub hang_for: Option<Duration>,
    /// Which shard the scenario acts on (index by first slot; default the shard owning slot 0).
    #[arg(long, requires = "lab")]
    pub shard: Option<usize>,
    /// Lab cluster primaries.
    #[arg(long, default_value_t = 3, requires = "lab")]
    pub primaries: usize,
    /// Lab replicas per primary.
    #[arg(long, default_value_t = 1, requires = "lab")]
    pub replicas: usize,
    /// Rehearse on TLS-only labs (rediss://), certificates verified against the lab's own CA.
    #[arg(long, requires = "lab")]
    pub tls: bool,
    /// Cluster labs: the probes' seed, a HAProxy discovery endpoint (proxy) or the node owning slot 0 (node).
    #[arg(long, value_enum, default_value_t = crate::lab::SeedKind::Proxy, requires = "lab")]
    pub seed: crate::lab::SeedKind,
    /// replace-node, rolling-replace on a cluster: how long a demoted primary keeps running (answering MOVED)
    /// after the new primary is promoted, before it is shut down; 0 shuts it down at once [default: 5s, an
    /// assumption: managed caches demote, migrate, then remove nodes, and say nothing of how long that takes].
    #[arg(long, value_parser = crate::duration::parse_duration, value_name = "DUR", requires = "lab", allow_hyphen_values = true)]
    pub drain: Option<Duration>,
}

/// Flags of `status`.
#[derive(Debug, Clone, Args)]
pub struct StatusArgs {
    /// How many PINGs to time.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub count: u32,
}

/// Flags of `test-keys`.
#[derive(Debug, Clone, Args)]
pub struct TestKeysArgs {
    /// How many keys to write and read.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub count: u32,
    /// Key prefix; each run adds its own id, so keys never collide with user data.
    #[arg(long, default_value = "rfp:test")]
    pub prefix: String,
    /// Leave the keys in place (they still expire after --ttl).
    #[arg(long)]
    pub keep: bool,
    /// TTL of the keys.
    #[arg(long, default_value = "60s", value_parser = parse_positive_duration, value_name = "DUR", allow_hyphen_values = true)]
    pub ttl: Duration,
}

/// Flags of `health`.
#[derive(Debug, Clone, Args)]
pub struct HealthArgs {
    /// Repeat the check every --interval until Ctrl-C.
    #[arg(long)]
    pub watch: bool,
    /// Time between checks with --watch (HEALTH_CHECK_INTERVAL is read in milliseconds, as the original tool did).
    #[arg(long, value_parser = parse_positive_duration, value_name = "DUR", allow_hyphen_values = true)]
    pub interval: Option<Duration>,
    /// Stop after this many checks with --watch (default: until Ctrl-C).
    #[arg(long)]
    pub checks: Option<u64>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn clap_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn lab_help_lists_no_target_flags_and_lab_still_parses_them() {
        let mut cmd = command();
        cmd.build();
        let lab = cmd.find_subcommand_mut("lab").unwrap().find_subcommand_mut("up").unwrap();
        let help = lab.render_long_help().to_string();
        assert!(
            help.contains("--topology") && !help.contains("--access-key") && !help.contains("--reconnect-max"),
            "{help}"
        );
        let status = cmd.find_subcommand_mut("status").unwrap().render_long_help().to_string();
        assert!(status.contains("--url") && status.contains("Target:"), "{status}");
        // Hidden is not refused: an environment that sets REDIS_URL or a runbook that passes --url still works.
        let (_, cli) = try_parse_from(["rfp", "lab", "up", "--url", "redis://h:1"]).unwrap();
        assert_eq!(cli.target.urls, vec!["redis://h:1".to_string()]);
    }

    #[test]
    fn bare_seconds_parse_as_timeout() {
        let cli = Cli::try_parse_from(["rfp", "status", "--timeout", "2"]).unwrap();
        assert_eq!(cli.target.timeout, Duration::from_secs(2));
    }

    #[test]
    fn runbook_durations_parse_as_seconds() {
        let cli =
            Cli::try_parse_from(["rfp", "--mode", "oss-cluster", "failover-recovery", "--duration", "300"]).unwrap();
        match cli.command {
            Command::FailoverRecovery(a) => assert_eq!(a.probe.duration, Duration::from_secs(300)),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn garbage_timeout_is_refused() {
        let err = Cli::try_parse_from(["rfp", "status", "--timeout", "soon"]).unwrap_err();
        assert!(err.to_string().contains("not a duration"));
    }
}
