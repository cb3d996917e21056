//! The signed sidecar's bundle in the demo. `policies/tools-signed` lets money move only
//! inside its `business_hours` change window (Europe/Berlin, weekdays 09:00-17:00): run at
//! night, the review loop's approved payout would defer again with CHANGE_WINDOW_CLOSED.
//! So the demo runs a copy of the bundle whose window is open all week, and says so; every
//! clock stays the real one (tokens minted by hand keep working), and `toolgate serve`
//! with the shipped bundle keeps the window.

use anyhow::Context as _;
use std::path::{Path, PathBuf};

/// The window as shipped, and as the demo's copy has it.
const SHIPPED: &str =
    "      days: [mon, tue, wed, thu, fri]\n      start: \"09:00\"\n      end: \"17:00\"\n";
const ALWAYS: &str = "      days: [mon, tue, wed, thu, fri, sat, sun]\n      start: \"00:00\"\n      end: \"24:00\"\n";

/// A copy of the bundle in `dir` (its top-level files) under `into`, with the
/// `business_hours` window open all week; `None` when the bundle has no such window as
/// shipped (then the demo runs it unchanged).
pub fn always_open(dir: &Path, into: &Path) -> anyhow::Result<Option<PathBuf>> {
    let bundle = std::fs::read_to_string(dir.join("bundle.yaml"))
        .with_context(|| format!("{}/bundle.yaml", dir.display()))?;
    if !bundle.contains(SHIPPED) {
        return Ok(None);
    }
    let copy = into.join("tools-signed");
    std::fs::create_dir_all(&copy).with_context(|| copy.display().to_string())?;
    for entry in std::fs::read_dir(dir).with_context(|| dir.display().to_string())? {
        let path = entry?.path();
        if path.is_file() {
            let name = path.file_name().context("file name")?;
            std::fs::copy(&path, copy.join(name))
                .with_context(|| format!("copy {}", path.display()))?;
        }
    }
    std::fs::write(
        copy.join("bundle.yaml"),
        bundle.replacen(SHIPPED, ALWAYS, 1),
    )?;
    Ok(Some(copy))
}
