//! Files in and out: which inputs become which outputs, atomic writes, progress and the
//! per-file report lines every subcommand prints.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;
use vaerans::{Error, Result};

pub(crate) const IMAGE_EXTS: &[&str] = &["png", "jpg", "jpeg"];
pub(crate) const STREAM_EXTS: &[&str] = &["vaer"];

/// The files directly in `dir` whose extension is one of `exts` (any case), sorted.
pub(crate) fn list_dir(dir: &Path, exts: &[&str]) -> Result<Vec<PathBuf>> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| Error::io(dir, e))?
        .filter_map(|d| d.ok().map(|d| d.path()))
        .filter(|p| {
            p.is_file()
                && p.extension()
                    .and_then(|e| e.to_str())
                    .is_some_and(|e| exts.contains(&e.to_ascii_lowercase().as_str()))
        })
        .collect();
    found.sort();
    Ok(found)
}

/// Reports one file's outcome (`Ok((stream bytes, pixels))`) and advances the bar.
pub(crate) fn finish_file(
    bar: &ProgressBar,
    json: bool,
    (input, output): (&Path, &Path),
    result: Result<(usize, f64)>,
    seconds: f64,
    failed: &mut usize,
) {
    match result {
        Ok((bytes, pixels)) => report(
            bar,
            json,
            &FileReport {
                input,
                output,
                bytes,
                bpp: bytes as f64 * 8.0 / pixels,
                seconds,
                target: None,
            },
        ),
        Err(e) => {
            *failed += 1;
            fail(bar, input, &e);
        }
    }
    bar.inc(1);
}

/// Expands files and directories (non-recursive, sorted) into `(input, output)` pairs (see
/// [`create_output_dirs`]). Refused before anything is written: several
/// inputs (or a folder) with an output that is a file or names one (`-o x.vaer`), two inputs
/// with the same output, and an output that is one of the inputs (also through a link).
pub(crate) fn plan(
    inputs: &[PathBuf],
    output: &Path,
    exts: &[&str],
    out_ext: &str,
) -> Result<Vec<(PathBuf, PathBuf)>> {
    let (mut files, any_dir) = expand(inputs, exts)?;
    let to_dir = any_dir
        || files.len() > 1
        || output.is_dir()
        || output.as_os_str().to_string_lossy().ends_with('/');
    let pairs = if to_dir {
        let names_a_file = output.is_file()
            || output
                .extension()
                .is_some_and(|e| e.eq_ignore_ascii_case(out_ext) && !output.is_dir());
        if names_a_file {
            return Err(Error::InvalidInput(format!(
                "{} input files need an output folder, but {} is {} file; name a folder",
                files.len(),
                output.display(),
                if output.is_file() {
                    "a"
                } else {
                    "named like a"
                }
            )));
        }
        let mut seen = HashSet::new();
        let mut pairs = Vec::with_capacity(files.len());
        for f in files {
            let stem = f.file_stem().unwrap_or(f.as_os_str());
            let out = output.join(stem).with_extension(out_ext);
            if !seen.insert(out.clone()) {
                return Err(Error::InvalidInput(format!(
                    "two inputs would both write {}; rename one",
                    out.display()
                )));
            }
            pairs.push((f, out));
        }
        pairs
    } else {
        vec![(files.remove(0), output.to_path_buf())]
    };
    for (input, out) in &pairs {
        // Only an existing output can be an input; `is_same_file` sees through links.
        if out.exists() && same_file::is_same_file(input, out).unwrap_or(false) {
            return Err(Error::InvalidInput(format!(
                "{} would overwrite its own input {}; choose another output",
                out.display(),
                input.display()
            )));
        }
    }
    Ok(pairs)
}

/// Creates the folders the outputs go to; called once the work is sure to start, so a
/// refused run leaves no empty folder behind.
pub(crate) fn create_output_dirs(pairs: &[(PathBuf, PathBuf)]) -> Result<()> {
    let dirs: HashSet<&Path> = pairs
        .iter()
        .filter_map(|(_, out)| out.parent())
        .filter(|d| !d.as_os_str().is_empty())
        .collect();
    for d in dirs {
        std::fs::create_dir_all(d).map_err(|e| Error::io(d, e))?;
    }
    Ok(())
}

/// The temporary files being written now, removed by [`clean_up_on_signal`]'s handler.
static WRITING: std::sync::Mutex<Vec<PathBuf>> = std::sync::Mutex::new(Vec::new());

fn writing() -> std::sync::MutexGuard<'static, Vec<PathBuf>> {
    WRITING.lock().unwrap_or_else(|p| p.into_inner())
}

/// On SIGINT or SIGTERM: removes every temporary file being written and exits with status 130,
/// so an interrupted run leaves only whole outputs behind.
pub(crate) fn clean_up_on_signal() {
    let installed = ctrlc::set_handler(|| {
        // The lock stays held until the exit, so no write starts meanwhile; a second pass
        // catches a file created just after its name was registered.
        let mut names = writing();
        for _ in 0..2 {
            for tmp in names.iter() {
                let _ = std::fs::remove_file(tmp);
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        names.clear();
        eprintln!("interrupted: temporary files removed; outputs written so far are whole");
        std::process::exit(130);
    });
    if let Err(e) = installed {
        tracing::debug!("no signal handler ({e}); an interrupted write may leave a .tmp file");
    }
}

/// Writes `bytes` to `path` through a temporary file in the same folder, so a failure never
/// leaves a half-written output; an interrupting signal removes the temporary file too.
pub(crate) fn write_atomic(path: &Path, write: impl FnOnce(&Path) -> Result<()>) -> Result<()> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    writing().push(tmp.clone());
    let result =
        write(&tmp).and_then(|()| std::fs::rename(&tmp, path).map_err(|e| Error::io(path, e)));
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    writing().retain(|t| t != &tmp);
    result
}

/// Each batch's share of the wall time since the previous one: the per-file `seconds` of a
/// pipelined run, where batches overlap and no one batch owns a span of time.
pub(crate) struct Pace(Instant);

impl Pace {
    pub(crate) fn start() -> Self {
        Self(Instant::now())
    }

    /// Leaves `d` (a one-off cost such as opening a model) out of the next share.
    pub(crate) fn skip(&mut self, d: Duration) {
        self.0 += d;
    }

    /// The seconds per file of a batch of `n` just finished, and the clock restarted.
    pub(crate) fn share(&mut self, n: usize) -> f64 {
        let now = Instant::now();
        let s = now.saturating_duration_since(self.0).as_secs_f64() / n.max(1) as f64;
        self.0 = now;
        s
    }
}

/// The peak resident memory of this process so far (Linux's `VmHWM`), in bytes.
pub(crate) fn peak_memory() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// How a run coded its files, for its [`summary`] line.
pub(crate) enum How {
    /// `--one-batch-at-a-time`, batches of this many.
    OneBatchAtATime(usize),
    /// The pipeline, as its report says.
    Pipelined(vaerans::PipelineReport),
    /// One image at a time, each searched for a rate target.
    Searched,
}

impl std::fmt::Display for How {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::OneBatchAtATime(batch) => write!(f, "one batch of {batch} at a time"),
            Self::Searched => write!(f, "one image at a time, each searched for its rate target"),
            Self::Pipelined(r) => {
                write!(f, "pipelined, {} lane(s) × batches of {}", r.lanes, r.batch)
            }
        }
    }
}

/// The run's line on stderr, for more than one file: files, time, rate, how they were coded
/// and the peak memory.
pub(crate) fn summary(what: &str, n: usize, elapsed: Duration, how: &How) {
    if n <= 1 {
        return;
    }
    let s = elapsed.as_secs_f64();
    let peak = peak_memory().map_or_else(
        || "peak memory unknown".to_string(),
        |b| format!("peak memory {:.0} MiB", b as f64 / (1 << 20) as f64),
    );
    eprintln!(
        "{what} {n} files in {s:.2} s, {:.2} files/s ({how}; {peak})",
        n as f64 / s
    );
}

pub(crate) fn progress(n: usize, json: bool) -> ProgressBar {
    if n <= 1 || json {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(n as u64);
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} {per_sec} eta {eta} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar
}

#[derive(Serialize)]
pub(crate) struct FileReport<'a> {
    pub(crate) input: &'a Path,
    pub(crate) output: &'a Path,
    pub(crate) bytes: usize,
    pub(crate) bpp: f64,
    pub(crate) seconds: f64,
    /// For a file compressed to a rate target, what the search reached.
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub(crate) target: Option<TargetReport>,
}

/// What compressing to a rate target reached, beside a file's report.
#[derive(Serialize)]
pub(crate) struct TargetReport {
    /// The quality the search settled on.
    pub(crate) quality: u8,
    /// The layers' own qualities.
    pub(crate) base_quality: u8,
    pub(crate) residual_quality: Option<u8>,
    pub(crate) target_bytes: f64,
    /// Within ±5% of the target.
    pub(crate) within: bool,
}

pub(crate) fn report(bar: &ProgressBar, json: bool, r: &FileReport<'_>) {
    if json {
        let line = serde_json::to_string(r).unwrap_or_default();
        bar.suspend(|| println!("{line}"));
    } else if bar.is_hidden() {
        println!(
            "{} -> {}: {} bytes, {:.4} bpp, {}{:.3} s",
            r.input.display(),
            r.output.display(),
            r.bytes,
            r.bpp,
            r.target
                .as_ref()
                .map_or(String::new(), |t| format!("quality {}, ", t.quality)),
            r.seconds
        );
    }
}

pub(crate) fn fail(bar: &ProgressBar, input: &Path, e: &Error) {
    bar.suspend(|| eprintln!("error: {}: {}", input.display(), crate::describe(e)));
}

/// The image files of `inputs` (files, or directories of images), for `eval` and `bench`.
pub(crate) fn image_files(inputs: &[PathBuf]) -> Result<Vec<PathBuf>> {
    let (files, _) = expand(inputs, IMAGE_EXTS)?;
    if files.is_empty() {
        return Err(Error::InvalidInput("no images to evaluate".into()));
    }
    Ok(files)
}

/// Files and directories expanded into files (a directory: its files with one of `exts`,
/// non-recursive, sorted; one with none is an error), and whether any input was a directory.
pub(crate) fn expand(inputs: &[PathBuf], exts: &[&str]) -> Result<(Vec<PathBuf>, bool)> {
    let mut files = Vec::new();
    let mut any_dir = false;
    for input in inputs {
        if input.is_dir() {
            any_dir = true;
            let found = list_dir(input, exts)?;
            if found.is_empty() {
                return Err(Error::InvalidInput(format!(
                    "{} holds no {} files",
                    input.display(),
                    exts.join("/")
                )));
            }
            files.extend(found);
        } else if input.is_file() {
            files.push(input.clone());
        } else {
            return Err(Error::InvalidInput(format!(
                "{} does not exist",
                input.display()
            )));
        }
    }
    Ok((files, any_dir))
}
