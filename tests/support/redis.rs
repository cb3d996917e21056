//! Real Redis servers for integration tests: `redis-server` processes (plain, with a
//! password, over TLS, or a three-node cluster) on free loopback ports, each in a temp
//! directory of its own. A test can stop, restart, pause (SIGSTOP) and resume a server,
//! and talk to it with `redis-cli` or a raw RESP exchange; dropping one kills it and
//! removes its directory. The binaries come from the Debian packages redis-server and
//! redis-tools, which `.ci/run` installs; the tests that use them are `#[ignore]`d so that
//! a machine without Redis still passes `cargo test`.

use std::io::{self, BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

mod cluster;
mod tls;
// Every test binary compiles support/, most without using these.
#[allow(unused_imports)]
pub use cluster::RedisCluster;
#[allow(unused_imports)]
pub use tls::self_signed_localhost;

/// Polling interval of every wait below.
const POLL: Duration = Duration::from_millis(20);
/// How long a spawned server may take to answer PING. Generous: CI machines are shared
/// with parallel builds; not an assertion on speed.
const READY: Duration = Duration::from_secs(10);
/// How long SIGTERM may take before SIGKILL, and SIGSTOP/SIGCONT before we give up.
const STOP: Duration = Duration::from_secs(10);
/// How long one `redis-cli` run may take.
const CLI: Duration = Duration::from_secs(10);
/// A free port can be taken between our probe and Redis's bind: try again elsewhere.
const START_ATTEMPTS: usize = 5;

/// How a [`RedisServer`] is started; the default is plaintext without a password.
#[derive(Clone, Debug, Default)]
pub struct RedisOpts {
    /// `--requirepass`.
    pub password: Option<String>,
    /// TLS only (the plaintext port is disabled).
    pub tls: Option<TlsFiles>,
}

/// PEM files: the server's certificate and key, and the CA that signed the certificate.
#[derive(Clone, Debug)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
    pub ca: PathBuf,
}

/// One `redis-server` process on 127.0.0.1 (or `localhost` over TLS).
pub struct RedisServer {
    port: u16,
    opts: RedisOpts,
    /// Arguments beyond the common ones (a cluster node's), kept for `restart`.
    extra: Vec<String>,
    child: Option<Child>,
    // Declared last: dropped after `Drop::drop` has killed the process using it.
    dir: tempfile::TempDir,
}

impl RedisServer {
    pub fn start() -> RedisServer {
        RedisServer::start_with(RedisOpts::default())
    }

    pub fn start_with(opts: RedisOpts) -> RedisServer {
        RedisServer::launch(opts, Vec::new)
    }

    /// Starts on a fresh port and directory per attempt; `extra` is asked again each time
    /// because it may hold ports of its own (a cluster node's bus port).
    fn launch(opts: RedisOpts, extra: impl Fn() -> Vec<String>) -> RedisServer {
        let mut failures = Vec::new();
        for _ in 0..START_ATTEMPTS {
            let dir = tempfile::tempdir().unwrap();
            let (port, extra) = (free_port(), extra());
            let child = spawn(dir.path(), port, &opts, &extra);
            let mut server = RedisServer {
                port,
                opts: opts.clone(),
                extra,
                child: Some(child),
                dir,
            };
            match server.wait_ready() {
                Ok(()) => return server,
                Err(e) => failures.push(e),
            }
        }
        panic!(
            "redis-server did not start in {START_ATTEMPTS} attempts:\n{}",
            failures.join("\n---\n")
        );
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `redis://127.0.0.1:PORT/0`, or `rediss://localhost:PORT/0` over TLS.
    pub fn url(&self) -> String {
        match self.opts.tls {
            None => format!("redis://127.0.0.1:{}/0", self.port),
            Some(_) => format!("rediss://localhost:{}/0", self.port),
        }
    }

    pub fn password(&self) -> Option<&str> {
        self.opts.password.as_deref()
    }

    pub fn tls(&self) -> Option<&TlsFiles> {
        self.opts.tls.as_ref()
    }

    /// The running process's id; panics when the server is stopped.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("the server is stopped").id()
    }

    /// Runs `redis-cli` against this server (authenticated, over TLS when it is) and
    /// returns its trimmed stdout. Redis error replies are stdout too, and redis-cli exits
    /// 0 on them; a non-zero exit (no connection) panics with stderr.
    pub fn cli(&self, args: &[&str]) -> String {
        cli_output(&mut self.cli_command(args))
    }

    /// One command on a fresh plaintext connection, after `AUTH` when the server has a
    /// password: the reply (see [`read_reply`]), or the I/O error (refused, `WouldBlock`
    /// when nothing answered within `timeout`).
    pub fn request(&self, args: &[&str], timeout: Duration) -> io::Result<String> {
        let mut commands = Vec::new();
        if let Some(pw) = &self.opts.password {
            commands.push(vec!["AUTH", pw.as_str()]);
        }
        commands.push(args.to_vec());
        let replies = exchange(self.addr(), &commands, timeout)?;
        Ok(replies.into_iter().next_back().unwrap())
    }

    /// As [`RedisServer::request`], never authenticating.
    pub fn request_without_auth(&self, args: &[&str], timeout: Duration) -> io::Result<String> {
        let replies = exchange(self.addr(), &[args.to_vec()], timeout)?;
        Ok(replies.into_iter().next().unwrap())
    }

    /// SIGTERM, then SIGKILL if the process has not exited within 10 s. A paused server is
    /// resumed so that it sees the SIGTERM.
    pub fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let _ = signal(child.id(), libc::SIGTERM);
        let _ = signal(child.id(), libc::SIGCONT);
        let deadline = Instant::now() + STOP;
        while child.try_wait().unwrap().is_none() {
            if Instant::now() >= deadline {
                let _ = child.kill();
                let _ = child.wait();
                return;
            }
            std::thread::sleep(POLL);
        }
    }

    /// Starts the server again (stopping it first if it runs) on the same port, with the
    /// same directory and options, and waits until it answers.
    pub fn restart(&mut self) {
        self.stop();
        self.child = Some(spawn(self.dir.path(), self.port, &self.opts, &self.extra));
        if let Err(e) = self.wait_ready() {
            panic!("redis-server did not restart on port {}: {e}", self.port);
        }
    }

    /// SIGSTOP: the kernel still accepts connections (the listen backlog) but nothing
    /// answers, which is what a hung Redis looks like to a client.
    pub fn pause(&self) {
        signal(self.pid(), libc::SIGSTOP).expect("SIGSTOP");
        self.wait_state(true);
    }

    /// SIGCONT after [`RedisServer::pause`].
    pub fn resume(&self) {
        signal(self.pid(), libc::SIGCONT).expect("SIGCONT");
        self.wait_state(false);
    }

    /// The last lines of the server's log and of its stdout/stderr.
    pub fn log_tail(&self) -> String {
        tail(self.dir.path())
    }

    fn addr(&self) -> SocketAddr {
        assert!(
            self.opts.tls.is_none(),
            "plaintext only: use cli() on a TLS server"
        );
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    fn cli_command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(tool("redis-cli", "redis-tools"));
        c.args(["-h", "127.0.0.1", "-p", &self.port.to_string()]);
        if let Some(pw) = &self.opts.password {
            c.args(["-a", pw, "--no-auth-warning"]);
        }
        if let Some(tls) = &self.opts.tls {
            c.args(["--tls", "--sni", "localhost", "--cacert"])
                .arg(&tls.ca);
        }
        c.args(args);
        c
    }

    /// `Err` with the log when the process exited (its port was taken, say); panics with
    /// the log when it neither exits nor answers in time.
    fn wait_ready(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + READY;
        loop {
            let child = self.child.as_mut().unwrap();
            if let Some(status) = child.try_wait().unwrap() {
                self.child = None;
                return Err(format!(
                    "redis-server on port {} exited ({status}):\n{}",
                    self.port,
                    self.log_tail()
                ));
            }
            if self.answers_ping() {
                return Ok(());
            }
            if Instant::now() >= deadline {
                let log = self.log_tail();
                self.stop();
                panic!(
                    "redis-server on port {} did not answer PING within {READY:?}:\n{log}",
                    self.port
                );
            }
            std::thread::sleep(POLL);
        }
    }

    /// PING answered, by this process: another test's Redis that won a race for the same
    /// port would answer too, while ours is about to exit.
    fn answers_ping(&self) -> bool {
        let once = Duration::from_secs(1);
        let ours = format!("process_id:{}", self.pid());
        let replies = match &self.opts.tls {
            None => self
                .request(&["PING"], once)
                .and_then(|pong| Ok([pong, self.request(&["INFO", "server"], once)?])),
            Some(_) => {
                let cli = |args: &[&str]| run(&mut self.cli_command(args), once);
                match (cli(&["PING"]), cli(&["INFO", "server"])) {
                    (Some(pong), Some(info)) => Ok([text(&pong.stdout), text(&info.stdout)]),
                    _ => Err(io::ErrorKind::TimedOut.into()),
                }
            }
        };
        replies.is_ok_and(|[pong, info]| {
            pong.trim() == "PONG" && info.lines().any(|l| l.trim() == ours)
        })
    }

    /// Waits until every thread of the process is stopped (`T`) or none is.
    fn wait_state(&self, stopped: bool) {
        let stat = format!("/proc/{}/stat", self.pid());
        let deadline = Instant::now() + STOP;
        loop {
            let s = std::fs::read_to_string(&stat).unwrap_or_default();
            // The state follows the command name, which is in parentheses.
            let state = s.rsplit(')').next().unwrap_or("").trim_start();
            if state.starts_with('T') == stopped {
                return;
            }
            assert!(Instant::now() < deadline, "{stat}: still {state:.1}");
            std::thread::sleep(POLL);
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Reads one RESP reply: a simple string or integer as its text, an error with its
/// leading `-` (so it cannot pass for a value), a bulk string as its bytes (lossy UTF-8),
/// a null as `(nil)`, an array as its elements one per line.
pub fn read_reply(r: &mut impl BufRead) -> io::Result<String> {
    let mut line = String::new();
    if r.read_line(&mut line)? == 0 {
        return Err(io::ErrorKind::UnexpectedEof.into());
    }
    let line = line.trim_end_matches(['\r', '\n']);
    let bad = || io::Error::new(io::ErrorKind::InvalidData, format!("RESP: {line:?}"));
    let rest = line.get(1..).ok_or_else(bad)?;
    match line.as_bytes()[0] {
        b'+' | b':' => Ok(rest.to_owned()),
        b'-' => Ok(line.to_owned()),
        b'$' | b'*' => {
            let n: i64 = rest.parse().map_err(|_| bad())?;
            if n < 0 {
                return Ok("(nil)".to_owned());
            }
            if line.starts_with('*') {
                let items: io::Result<Vec<String>> = (0..n).map(|_| read_reply(r)).collect();
                return Ok(items?.join("\n"));
            }
            let mut buf = vec![0; n as usize + 2];
            r.read_exact(&mut buf)?;
            Ok(String::from_utf8_lossy(&buf[..n as usize]).into_owned())
        }
        _ => Err(bad()),
    }
}

/// Sends every command (as RESP arrays) on one fresh connection, then reads one reply
/// per command; every connect, write and read is bounded by `timeout`.
fn exchange(
    addr: SocketAddr,
    commands: &[Vec<&str>],
    timeout: Duration,
) -> io::Result<Vec<String>> {
    let mut stream = TcpStream::connect_timeout(&addr, timeout)?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    let mut out = Vec::new();
    for args in commands {
        out.extend(format!("*{}\r\n", args.len()).bytes());
        for a in args {
            out.extend(format!("${}\r\n{a}\r\n", a.len()).bytes());
        }
    }
    stream.write_all(&out)?;
    let mut reader = BufReader::new(stream);
    commands.iter().map(|_| read_reply(&mut reader)).collect()
}

fn spawn(dir: &Path, port: u16, opts: &RedisOpts, extra: &[String]) -> Child {
    let mut c = Command::new(tool("redis-server", "redis-server"));
    c.args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]);
    c.args(["--daemonize", "no", "--protected-mode", "no"]);
    c.arg("--dir").arg(dir);
    c.arg("--logfile").arg(dir.join("redis.log"));
    let port = port.to_string();
    match &opts.tls {
        None => {
            c.args(["--port", &port]);
        }
        Some(tls) => {
            c.args([
                "--port",
                "0",
                "--tls-port",
                &port,
                "--tls-auth-clients",
                "no",
            ]);
            c.arg("--tls-cert-file").arg(&tls.cert);
            c.arg("--tls-key-file").arg(&tls.key);
            c.arg("--tls-ca-cert-file").arg(&tls.ca);
        }
    }
    if let Some(pw) = &opts.password {
        c.args(["--requirepass", pw]);
    }
    c.args(extra);
    // What Redis prints before its log file is open (a bad argument) lands here.
    let stdio = std::fs::File::create(dir.join("stdio.log")).unwrap();
    c.stdin(Stdio::null())
        .stdout(stdio.try_clone().unwrap())
        .stderr(stdio);
    c.spawn().unwrap_or_else(|e| panic!("{c:?}: {e}"))
}

/// Runs `c`, killing it when it has not finished within `limit` (then `None`).
fn run(c: &mut Command, limit: Duration) -> Option<Output> {
    let child = c
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{c:?}: {e}"));
    let pid = child.id();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(limit) {
        Ok(out) => Some(out.unwrap()),
        Err(_) => {
            let _ = signal(pid, libc::SIGKILL);
            let _ = rx.recv();
            None
        }
    }
}

fn cli_output(c: &mut Command) -> String {
    let out = run(c, CLI).unwrap_or_else(|| panic!("{c:?} did not finish within {CLI:?}"));
    assert!(
        out.status.success(),
        "{c:?}: {}\n{}",
        out.status,
        text(&out.stderr)
    );
    text(&out.stdout).trim().to_owned()
}

/// `name` on PATH; a clear failure when the Debian package is missing.
fn tool(name: &str, package: &str) -> PathBuf {
    std::env::var_os("PATH")
        .and_then(|path| {
            std::env::split_paths(&path)
                .map(|d| d.join(name))
                .find(|p| p.is_file())
        })
        .unwrap_or_else(|| {
            panic!(
                "{name} is not on PATH: install the Debian package {package} \
                 (.ci/run does, then runs the ignored tests)"
            )
        })
}

/// A port nothing listens on right now (someone may take it before Redis binds it: the
/// callers retry).
fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// `Err` when there is no such process (it exited and was reaped).
fn signal(pid: u32, sig: libc::c_int) -> io::Result<()> {
    // SAFETY: kill(2) has no memory-safety preconditions.
    match unsafe { libc::kill(pid as libc::pid_t, sig) } {
        0 => Ok(()),
        _ => Err(io::Error::last_os_error()),
    }
}

fn tail(dir: &Path) -> String {
    let mut out = String::new();
    for name in ["redis.log", "stdio.log"] {
        let log = std::fs::read_to_string(dir.join(name)).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        out += &format!("== {name}\n");
        for l in &lines[lines.len().saturating_sub(20)..] {
            out += l;
            out.push('\n');
        }
    }
    out
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}
