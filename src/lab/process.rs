//! The processes of a lab: finding the binaries, choosing free ports, spawning `redis-server` / `haproxy`
//! detached from the terminal's signals, signalling them, and reaping them so none is left behind.

use std::collections::BTreeSet;
use std::io::{Read, Seek, SeekFrom};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use crate::error::{AppError, AppResult};

/// Environment variable naming the `redis-server` binary to use.
pub const REDIS_SERVER_ENV: &str = "RFP_REDIS_SERVER";
/// Environment variable naming the `haproxy` binary to use.
pub const HAPROXY_ENV: &str = "RFP_HAPROXY";

/// Finds a binary: the path in `env` when set, else `name` on PATH. The error is one line saying how to install it.
pub fn find_binary(env: &str, name: &str) -> AppResult<PathBuf> {
    let missing = |shown: &str| {
        AppError::Lab(format!(
            "{name} not found ({shown}): install it with `apt-get install redis-server haproxy`, or set {env} \
             to its path"
        ))
    };
    if let Some(value) = std::env::var_os(env).filter(|v| !v.is_empty()) {
        let path = PathBuf::from(&value);
        if path.components().count() > 1 {
            return if is_executable(&path) { Ok(path) } else { Err(missing(&format!("{env}={}", path.display()))) };
        }
        return search_path(&path.to_string_lossy()).ok_or_else(|| missing(&format!("{env}={}", path.display())));
    }
    search_path(name).ok_or_else(|| missing("not on PATH"))
}

fn search_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|dir| dir.join(name)).find(|p| is_executable(p))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0).unwrap_or(false)
}

/// Hands out ports on 127.0.0.1 that are free now and were not handed out before by this allocator. Ports
/// stay below the kernel's ephemeral range so outgoing connections never take them between check and use.
#[derive(Debug)]
pub struct Ports {
    next: u16,
    used: BTreeSet<u16>,
}

const PORT_LOW: u16 = 20_000;
const PORT_HIGH: u16 = 32_000;

impl Ports {
    /// Starts at `base`, or at a start derived from the process id and the time so that labs of several
    /// processes rarely probe the same ports.
    pub fn new(base: Option<u16>) -> Self {
        let next = base.unwrap_or_else(|| {
            let nanos =
                std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().subsec_nanos();
            let spread = u32::from(PORT_HIGH - PORT_LOW - 200);
            PORT_LOW + ((nanos / 1000 + std::process::id() * 7919) % spread) as u16
        });
        Ports { next, used: BTreeSet::new() }
    }

    /// Ports already handed out or reserved (never offered again).
    pub fn reserve(&mut self, port: u16) {
        self.used.insert(port);
    }

    /// A free port; with `bus`, `port + 100` is free too and reserved (the cluster bus port).
    pub fn take(&mut self, bus: bool) -> AppResult<u16> {
        for _ in 0..4000 {
            let p = self.next;
            self.next = if self.next >= PORT_HIGH - 101 { PORT_LOW } else { self.next + 1 };
            if p == 0 || self.used.contains(&p) || (bus && self.used.contains(&(p + 100))) {
                continue;
            }
            if port_is_free(p) && (!bus || port_is_free(p + 100)) {
                self.used.insert(p);
                if bus {
                    self.used.insert(p + 100);
                }
                return Ok(p);
            }
        }
        Err(AppError::Lab("no free port pair found on 127.0.0.1 between 20000 and 32000".into()))
    }
}

/// Whether nothing listens on `127.0.0.1:port` (std sets SO_REUSEADDR, so TIME_WAIT leftovers do not count).
pub fn port_is_free(port: u16) -> bool {
    TcpListener::bind(("127.0.0.1", port)).is_ok()
}

/// Whether something accepts TCP connections on `127.0.0.1:port`.
pub fn port_accepts(port: u16) -> bool {
    std::net::TcpStream::connect_timeout(
        &std::net::SocketAddr::from(([127, 0, 0, 1], port)),
        Duration::from_millis(200),
    )
    .is_ok()
}

/// One process of the lab. `child` is `None` for a process found in a state file (started by an earlier,
/// detached run): it can be signalled but not waited for; `marker` (its config file path) must then appear
/// in its command line, or the process must run in the marker's dir, so a recycled pid is never signalled.
/// Such a process, once killed, is reaped by whoever adopted it (PID 1); until then it is a zombie, which
/// counts as gone here.
#[derive(Debug)]
pub struct Proc {
    /// Process id.
    pub pid: u32,
    /// The handle when this process started it.
    pub child: Option<Child>,
    /// Text that identifies the process in `/proc/<pid>/cmdline` (its config file).
    pub marker: String,
    /// Set once it is known to be gone.
    pub gone: bool,
}

impl Proc {
    /// Spawns `program args` in `dir` in its own process group (so Ctrl-C on the terminal reaches only the
    /// tool, which then stops the lab itself), with stdin/stdout closed and stderr into `stderr.log`.
    pub fn spawn(program: &Path, args: &[&str], dir: &Path, marker: &str) -> AppResult<Proc> {
        use std::os::unix::process::CommandExt;
        let stderr = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join("stderr.log"))
            .map_err(|e| AppError::Lab(format!("cannot create {}: {e}", dir.display())))?;
        let child = Command::new(program)
            .args(args)
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(stderr))
            .process_group(0)
            .spawn()
            .map_err(|e| AppError::Lab(format!("cannot start {}: {e}", program.display())))?;
        Ok(Proc { pid: child.id(), child: Some(child), marker: marker.to_string(), gone: false })
    }

    /// A process known only by pid (from a state file).
    pub fn adopt(pid: u32, marker: &str) -> Proc {
        Proc { pid, child: None, marker: marker.to_string(), gone: false }
    }

    /// Whether it still runs (a zombie does not count).
    pub fn is_running(&mut self) -> bool {
        if self.gone {
            return false;
        }
        let running = match &mut self.child {
            Some(c) => matches!(c.try_wait(), Ok(None)),
            None => pid_running(self.pid) && self.is_ours(),
        };
        if !running {
            self.gone = true;
        }
        running
    }

    fn is_ours(&self) -> bool {
        if self.child.is_some() {
            return true;
        }
        // redis-server rewrites its command line ("redis-server 127.0.0.1:7000 [cluster]") but runs in its own
        // dir, which is the marker's; haproxy keeps its command line.
        let in_cmdline = std::fs::read(format!("/proc/{}/cmdline", self.pid))
            .map(|raw| String::from_utf8_lossy(&raw).contains(&self.marker))
            .unwrap_or(false);
        let dir = Path::new(&self.marker).parent();
        let in_dir = std::fs::read_link(format!("/proc/{}/cwd", self.pid))
            .map(|cwd| Some(cwd.as_path()) == dir)
            .unwrap_or(false);
        in_cmdline || in_dir
    }

    /// Sends a signal if the process is still ours and running.
    pub fn signal(&mut self, sig: Signal) -> AppResult<()> {
        if !self.is_running() {
            return Err(AppError::Lab(format!("process {} is not running", self.pid)));
        }
        kill(Pid::from_raw(self.pid as i32), sig)
            .map_err(|e| AppError::Lab(format!("cannot send {sig} to process {}: {e}", self.pid)))
    }

    /// Waits up to `grace` for the process to end, reaping it; then SIGKILL and reap.
    pub fn reap(&mut self, grace: Duration) {
        if self.gone && self.child.is_none() {
            return;
        }
        let until = Instant::now() + grace;
        loop {
            let done = match &mut self.child {
                Some(c) => !matches!(c.try_wait(), Ok(None)),
                None => !(pid_running(self.pid) && self.is_ours()),
            };
            if done {
                break;
            }
            if Instant::now() >= until {
                if self.is_ours() {
                    let _ = kill(Pid::from_raw(self.pid as i32), Signal::SIGKILL);
                }
                if let Some(c) = &mut self.child {
                    let _ = c.wait();
                } else {
                    let end = Instant::now() + Duration::from_secs(2);
                    while pid_running(self.pid) && Instant::now() < end {
                        std::thread::sleep(Duration::from_millis(5));
                    }
                }
                break;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        self.gone = true;
    }

    /// SIGKILL and reap, now.
    pub fn kill_now(&mut self) {
        if self.is_running() || self.child.is_some() {
            if self.is_ours() {
                // A stopped process cannot die before it is continued.
                let _ = kill(Pid::from_raw(self.pid as i32), Signal::SIGKILL);
                let _ = kill(Pid::from_raw(self.pid as i32), Signal::SIGCONT);
            }
            self.reap(Duration::from_secs(5));
        }
        self.gone = true;
    }

    /// SIGTERM, then reap within `grace` (SIGKILL after it).
    pub fn terminate(&mut self, grace: Duration) {
        if self.is_running() {
            let _ = kill(Pid::from_raw(self.pid as i32), Signal::SIGTERM);
        }
        self.reap(grace);
    }
}

/// Whether a pid exists and is not a zombie (state `Z` in `/proc/<pid>/stat`).
pub fn pid_running(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => {
            // The state follows the parenthesised command name, which may itself contain spaces.
            let state = stat.rsplit_once(')').and_then(|(_, rest)| rest.split_whitespace().next());
            !matches!(state, Some("Z") | Some("X") | None)
        }
        Err(_) => false,
    }
}

/// The last `lines` lines of the files in `dir` whose names end in `.log`, for error messages.
pub fn log_tail(dir: &Path, lines: usize) -> String {
    let mut out = String::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "log"))
        .collect();
    files.sort();
    for f in files {
        let Ok(mut file) = std::fs::File::open(&f) else {
            continue;
        };
        let len = file.metadata().map(|m| m.len()).unwrap_or(0);
        let _ = file.seek(SeekFrom::Start(len.saturating_sub(8192)));
        let mut text = String::new();
        let _ = file.read_to_string(&mut text);
        let tail: Vec<&str> = text.lines().rev().take(lines).collect();
        if tail.is_empty() {
            continue;
        }
        out.push_str(&format!("\n--- last lines of {} ---\n", f.file_name().unwrap_or_default().to_string_lossy()));
        for l in tail.into_iter().rev() {
            out.push_str(l);
            out.push('\n');
        }
    }
    out
}
