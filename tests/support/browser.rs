//! A real headless Chromium for end-to-end tests of web pages, driven through WebDriver:
//! a `chromedriver` process on a free loopback port (killed, with the browsers it
//! started, when the [`Browser`] is dropped), one session of Chromium with a fresh
//! profile, and the few page actions the tests need. Every wait has a deadline. The
//! binaries come from the Debian packages chromium and chromium-driver, which `.ci/run`
//! installs; when one is missing, [`Browser::start`] panics (the test fails, never skips).

use anyhow::{anyhow, bail, Context, Result};
use bytes::Bytes;
use fantoccini::{Client, ClientBuilder, Locator};
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};
use std::future::Future;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tempfile::TempDir;

/// How long chromedriver may take to answer `GET /status` with `ready: true`.
const DRIVER_READY: Duration = Duration::from_secs(20);
/// How long opening the session (Chromium's start) may take.
const SESSION: Duration = Duration::from_secs(30);
/// How long an element may take to appear.
const ELEMENT: Duration = Duration::from_secs(10);
/// How long any one WebDriver command may take (a page load included).
const COMMAND: Duration = Duration::from_secs(30);
/// Polling interval of every wait below.
const POLL: Duration = Duration::from_millis(50);
/// A free port can be taken between our probe and chromedriver's bind: try again elsewhere.
const START_ATTEMPTS: usize = 3;
/// The Chromium binary when `CHROME_BIN` is not set (Debian's package).
const DEFAULT_CHROME: &str = "/usr/bin/chromium";

/// One headless Chromium session behind its own chromedriver.
pub struct Browser {
    client: Option<Client>,
    driver: Driver,
    // Declared last: removed after the driver (and so Chromium) is gone.
    dir: TempDir,
}

impl Browser {
    /// Starts chromedriver and opens a headless Chromium session (window 1280x900).
    ///
    /// Panics, naming the binary, when chromium or chromedriver is not installed.
    pub async fn start() -> Result<Browser> {
        let chrome = std::env::var_os("CHROME_BIN")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(DEFAULT_CHROME));
        assert!(
            chrome.is_file(),
            "the Chromium binary {} is missing: install the Debian package `chromium` \
             (.ci/run does) or point CHROME_BIN at one",
            chrome.display()
        );
        let chromedriver = find_in_path("chromedriver").unwrap_or_else(|| {
            panic!(
                "chromedriver is not on PATH: install the Debian package `chromium-driver` \
                 (.ci/run does)"
            )
        });
        let dir = tempfile::tempdir().context("a temp dir for the browser")?;
        let profile = dir.path().join("profile");
        std::fs::create_dir_all(&profile)?;
        let driver = Driver::start(&chromedriver, dir.path()).await?;
        let caps = json!({
            "browserName": "chrome",
            "pageLoadStrategy": "normal",
            "timeouts": { "implicit": 0, "pageLoad": 20_000, "script": 10_000 },
            "goog:chromeOptions": {
                "binary": chrome,
                "args": [
                    "--headless=new",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-dev-shm-usage",
                    "--window-size=1280,900",
                    format!("--user-data-dir={}", profile.display()),
                ],
            },
        });
        let Value::Object(caps) = caps else {
            unreachable!("a JSON object")
        };
        let url = format!("http://127.0.0.1:{}", driver.port);
        let mut builder = ClientBuilder::new(HttpConnector::new());
        builder.capabilities(caps);
        let connect = builder.connect(&url);
        let client = tokio::time::timeout(SESSION, connect)
            .await
            .map_err(|_| anyhow!("no Chromium session within {SESSION:?}"))
            .and_then(|r| r.map_err(|e| anyhow!("opening a Chromium session: {e}")))
            .map_err(|e| anyhow!("{e}\n{}", driver.log_tail()))?;
        Ok(Browser {
            client: Some(client),
            driver,
            dir,
        })
    }

    fn client(&self) -> &Client {
        self.client.as_ref().expect("the session is open")
    }

    /// Runs one WebDriver command within [`COMMAND`].
    async fn run<T, E: std::fmt::Display>(
        &self,
        what: &str,
        fut: impl Future<Output = std::result::Result<T, E>>,
    ) -> Result<T> {
        match tokio::time::timeout(COMMAND, fut).await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => bail!("{what}: {e}"),
            Err(_) => bail!("{what}: no answer within {COMMAND:?}"),
        }
    }

    /// The element `css` matches, once it exists (within [`ELEMENT`]).
    async fn element(&self, css: &str) -> Result<fantoccini::elements::Element> {
        let wait = self
            .client()
            .wait()
            .at_most(ELEMENT)
            .every(POLL)
            .for_element(Locator::Css(css));
        match tokio::time::timeout(ELEMENT + COMMAND, wait).await {
            Ok(Ok(el)) => Ok(el),
            Ok(Err(e)) => {
                let url = self.current_url().await.unwrap_or_default();
                bail!("no element `{css}` on {url} within {ELEMENT:?}: {e}")
            }
            Err(_) => bail!("looking for `{css}`: chromedriver did not answer"),
        }
    }

    /// Loads `url` and waits for the page to finish loading.
    pub async fn goto(&self, url: &str) -> Result<()> {
        self.run(&format!("goto {url}"), self.client().goto(url))
            .await
    }

    /// The visible text of the element `css` matches (waiting for it to exist).
    pub async fn text(&self, css: &str) -> Result<String> {
        let el = self.element(css).await?;
        self.run(&format!("text of `{css}`"), el.text()).await
    }

    /// Whether `css` matches an element now (no waiting).
    pub async fn exists(&self, css: &str) -> Result<bool> {
        let all = self
            .run(
                &format!("find `{css}`"),
                self.client().find_all(Locator::Css(css)),
            )
            .await?;
        Ok(!all.is_empty())
    }

    /// Clicks the element `css` matches (waiting for it to exist).
    pub async fn click(&self, css: &str) -> Result<()> {
        let el = self.element(css).await?;
        self.run(&format!("click `{css}`"), el.click()).await
    }

    /// Clears the field `css` matches and types `text` into it.
    pub async fn fill(&self, css: &str, text: &str) -> Result<()> {
        let el = self.element(css).await?;
        self.run(&format!("clear `{css}`"), el.clear()).await?;
        self.run(&format!("type into `{css}`"), el.send_keys(text))
            .await
    }

    /// Chooses the `<option>` whose value is `value` in the `<select>` `css` matches.
    pub async fn select(&self, css: &str, value: &str) -> Result<()> {
        let el = self.element(css).await?;
        self.run(
            &format!("select `{value}` in `{css}`"),
            el.select_by_value(value),
        )
        .await
    }

    /// The current page's HTML, as the browser holds it now.
    pub async fn source(&self) -> Result<String> {
        self.run("page source", self.client().source()).await
    }

    /// The address of the current page.
    pub async fn current_url(&self) -> Result<String> {
        let url = self.run("current url", self.client().current_url()).await?;
        Ok(url.to_string())
    }

    /// Writes a PNG of the viewport to `path`, creating its parent directories.
    pub async fn screenshot(&self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        let png = self.run("screenshot", self.client().screenshot()).await?;
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("creating {}", parent.display()))?;
        }
        std::fs::write(path, png).with_context(|| format!("writing {}", path.display()))
    }

    /// Resizes the browser window.
    pub async fn set_window_size(&self, width: u32, height: u32) -> Result<()> {
        self.run(
            &format!("window size {width}x{height}"),
            self.client().set_window_size(width, height),
        )
        .await
    }

    /// Ends the session (Chromium quits); chromedriver is killed as the browser drops.
    pub async fn close(mut self) -> Result<()> {
        let client = self.client.take().expect("the session is open");
        self.run("closing the session", client.close()).await
    }

    /// Where chromedriver's log and the profile live (for a failing test to look at).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

/// A `chromedriver` process in a process group of its own, killed with it on drop.
struct Driver {
    child: Child,
    port: u16,
    log: PathBuf,
}

impl Driver {
    /// Spawns chromedriver on a free port and waits for `/status` to say ready.
    async fn start(binary: &Path, dir: &Path) -> Result<Driver> {
        let mut last = anyhow!("chromedriver never started");
        for attempt in 1..=START_ATTEMPTS {
            let port = free_port()?;
            let log = dir.join(format!("chromedriver-{attempt}.log"));
            let out = std::fs::File::create(&log)?;
            let child = Command::new(binary)
                .arg(format!("--port={port}"))
                .stdin(Stdio::null())
                .stdout(out.try_clone()?)
                .stderr(out)
                .process_group(0)
                .spawn()
                .with_context(|| format!("spawning {}", binary.display()))?;
            let mut driver = Driver { child, port, log };
            match driver.wait_ready().await {
                Ok(()) => return Ok(driver),
                Err(e) => last = anyhow!("{e}\n{}", driver.log_tail()),
            }
        }
        Err(last)
    }

    /// Polls `GET /status` until it answers `ready: true`, the process exits, or
    /// [`DRIVER_READY`] passes.
    async fn wait_ready(&mut self) -> Result<()> {
        let deadline = Instant::now() + DRIVER_READY;
        loop {
            if let Some(status) = self.child.try_wait()? {
                bail!("chromedriver on port {} exited: {status}", self.port);
            }
            let probe = tokio::time::timeout(Duration::from_secs(2), status(self.port)).await;
            if let Ok(Ok(v)) = probe {
                if v["value"]["ready"] == json!(true) {
                    return Ok(());
                }
            }
            if Instant::now() >= deadline {
                bail!(
                    "chromedriver on port {} not ready within {DRIVER_READY:?}",
                    self.port
                );
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// The end of chromedriver's log, for error messages.
    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        let tail = lines[lines.len().saturating_sub(20)..].join("\n");
        format!("chromedriver log ({}):\n{tail}", self.log.display())
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        // The whole group: chromedriver and the Chromium processes it started. The group
        // is ours (`process_group(0)` at spawn) and the child is not reaped yet, so its id
        // cannot have been reused.
        let pgid = self.child.id() as libc::pid_t;
        // SAFETY: kill(2) takes no pointers.
        unsafe { libc::kill(-pgid, libc::SIGKILL) };
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// chromedriver's `GET /status` body.
async fn status(port: u16) -> Result<Value> {
    let stream = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
    let (mut tx, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(conn);
    let req = http::Request::get("/status")
        .header("host", format!("127.0.0.1:{port}"))
        .body(Empty::<Bytes>::new())?;
    let body = tx.send_request(req).await?.into_body().collect().await?;
    Ok(serde_json::from_slice(&body.to_bytes())?)
}

/// A loopback port nothing listened on a moment ago.
fn free_port() -> Result<u16> {
    let l = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(l.local_addr()?.port())
}

/// `name` in a directory of `PATH`, as `command -v` finds it.
fn find_in_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}
