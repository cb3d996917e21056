//! Helpers for tests that drive the real `toolgate` binary as a user does: run it with
//! arguments, start it in the background and read what it prints, stop it with SIGINT
//! (Ctrl-C), and send plain HTTP/1.1 requests to it over std sockets.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, ChildStderr, ChildStdout, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// How long a started process may take to print what a test waits for. Generous: the
/// machine is shared with parallel builds. Not an assertion on speed.
pub const PATIENCE: Duration = Duration::from_secs(60);

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn toolgate() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_toolgate"));
    c.current_dir(root())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    c
}

/// Runs to completion.
pub fn run(args: &[&str]) -> Output {
    toolgate().args(args).output().unwrap()
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Runs `toolgate demo --once` on ephemeral ports; returns (exit code, stdout, stderr).
pub fn demo_once(extra: &[&str]) -> (i32, String, String) {
    let mut args = vec!["demo", "--once"];
    args.extend(ephemeral_demo_ports(extra));
    args.extend(extra);
    let out = run(&args);
    (
        out.status.code().unwrap_or(-1),
        text(&out.stdout),
        text(&out.stderr),
    )
}

/// `--listen`/`--upstream-listen`/`--signed-listen` on port 0, for each one `given` does
/// not set already.
pub fn ephemeral_demo_ports(given: &[&str]) -> Vec<&'static str> {
    let mut out = Vec::new();
    for flag in [
        "--listen",
        "--upstream-listen",
        "--signed-listen",
        "--review-listen",
    ] {
        if !given.contains(&flag) {
            out.extend([flag, "127.0.0.1:0"]);
        }
    }
    out
}

/// A background `toolgate` whose output lines arrive on channels.
pub struct Running {
    pub child: Child,
    stdout: mpsc::Receiver<String>,
    stderr: mpsc::Receiver<String>,
    /// Every stdout line read so far.
    pub printed: Vec<String>,
}

fn lines<R: Read + Send + 'static>(from: R) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(from).lines() {
            let Ok(line) = line else { return };
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    rx
}

impl Running {
    pub fn start(args: &[&str]) -> Running {
        let mut child = toolgate().args(args).spawn().unwrap();
        let out: ChildStdout = child.stdout.take().unwrap();
        let err: ChildStderr = child.stderr.take().unwrap();
        Running {
            child,
            stdout: lines(out),
            stderr: lines(err),
            printed: Vec::new(),
        }
    }

    /// Reads stdout until a line contains `marker`; panics with what was printed if the
    /// process exits or stays silent for [`PATIENCE`] first.
    pub fn stdout_until(&mut self, marker: &str) -> &[String] {
        loop {
            match self.stdout.recv_timeout(PATIENCE) {
                Ok(line) => {
                    let done = line.contains(marker);
                    self.printed.push(line);
                    if done {
                        return &self.printed;
                    }
                }
                Err(e) => panic!(
                    "no {marker:?} on stdout ({e}); printed:\n{}\nstderr:\n{}",
                    self.printed.join("\n"),
                    self.stderr_now()
                ),
            }
        }
    }

    /// The first stderr line that contains `marker`.
    pub fn stderr_until(&mut self, marker: &str) -> String {
        let mut seen = Vec::new();
        loop {
            match self.stderr.recv_timeout(PATIENCE) {
                Ok(line) if line.contains(marker) => return line,
                Ok(line) => seen.push(line),
                Err(e) => panic!("no {marker:?} on stderr ({e}); got:\n{}", seen.join("\n")),
            }
        }
    }

    fn stderr_now(&self) -> String {
        self.stderr.try_iter().collect::<Vec<_>>().join("\n")
    }

    /// Sends SIGINT, as Ctrl-C does, and returns the exit code.
    pub fn interrupt(mut self) -> i32 {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill").args(["-INT", &pid]).status();
        if !matches!(sent, Ok(s) if s.success()) {
            let _ = self.child.kill();
        }
        let status = self.child.wait().unwrap();
        status.code().unwrap_or(-1)
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        // A failed assertion must not leave the process behind.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A response read by [`http`].
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub head: String,
    pub body: String,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().skip(1).find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim().eq_ignore_ascii_case(name).then(|| v.trim())
        })
    }
}

/// One HTTP/1.1 request over a fresh connection (`Connection: close`).
pub fn http(
    addr: SocketAddr,
    method: &str,
    target: &str,
    headers: &[(String, String)],
    body: &str,
) -> Reply {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(PATIENCE)).unwrap();
    let mut req = format!("{method} {target} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    if !body.is_empty() || method == "POST" {
        req.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    req.push_str("\r\n");
    req.push_str(body);
    s.write_all(req.as_bytes()).unwrap();
    let mut raw = String::new();
    s.read_to_string(&mut raw).unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((&raw, ""));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    Reply {
        status,
        head: head.to_owned(),
        body: body.to_owned(),
    }
}

/// The addresses a demo prints in its header: `(label, addr)` for lines like
/// `  proxy (toolgate)  http://127.0.0.1:8000`.
pub fn printed_addresses(printed: &[String]) -> Vec<(String, SocketAddr)> {
    printed
        .iter()
        .filter_map(|l| {
            let l = l.strip_prefix("  ")?;
            let at = l.find("http://")?;
            if at == 0 || l.starts_with('-') {
                return None;
            }
            let addr = l[at + 7..].split_whitespace().next()?.parse().ok()?;
            Some((l[..at].trim().to_owned(), addr))
        })
        .collect()
}
