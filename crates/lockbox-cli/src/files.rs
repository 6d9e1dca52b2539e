//! What `encrypt-file` and `decrypt-file` share: turning the inputs into a list of jobs
//! (where each input's output goes), running each job with an all-or-nothing file output,
//! and the end-of-run tally.
//!
//! Invariant: a file output exists under its final name only if its job succeeded. It is
//! written under a temporary name (created with O_EXCL, mode 0600) in the destination
//! directory, synced, and renamed into place after the work returned `Ok`, which for
//! decryption means the whole message, signature included, verified. Every error path drops
//! the temporary file, which removes it.

use std::collections::{BTreeMap, HashMap};
use std::ffi::{OsStr, OsString};
use std::fs::{self, File};
use std::io::{self, IsTerminal, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use lockbox_envelope::materials::{
    DecryptionMaterials, DecryptionRequest, EncryptionMaterials, EncryptionRequest,
};
use lockbox_envelope::{CachingMaterials, EnvelopeError, MaterialsManager};

use crate::cli::FileArgs;
use crate::error::CliError;
use crate::params;
use crate::progress::Progress;

/// Which way the files go; it decides how output names are made.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Direction {
    Encrypt,
    Decrypt,
}

impl Direction {
    fn command(self) -> &'static str {
        match self {
            Direction::Encrypt => "encrypt-file",
            Direction::Decrypt => "decrypt-file",
        }
    }
}

/// Where a job reads from.
pub(crate) enum Source {
    Stdin,
    File(PathBuf),
}

/// Where a job writes to.
pub(crate) enum Sink {
    Stdout,
    File(PathBuf),
}

/// One input and its output.
pub(crate) struct Job {
    pub(crate) source: Source,
    pub(crate) sink: Sink,
    /// The input's length, when it is a regular file.
    pub(crate) size: Option<u64>,
}

impl Job {
    fn input_name(&self) -> String {
        match &self.source {
            Source::Stdin => "(standard input)".to_owned(),
            Source::File(p) => p.display().to_string(),
        }
    }
}

/// The jobs of a run, and how many files below directories were passed over (decrypt-file
/// takes only names ending with the suffix).
pub(crate) struct Plan {
    pub(crate) jobs: Vec<Job>,
    pub(crate) passed_over: usize,
}

/// Why a job failed, by side: the message names the file and what was wrong.
pub(crate) enum Fault {
    /// Reading the input failed (not a bad message: the file system or the pipe).
    Read(io::Error),
    /// Writing the output failed.
    Write(io::Error),
    /// The envelope library refused: a bad message, a KMS error, a limit.
    Envelope(EnvelopeError),
}

impl From<EnvelopeError> for Fault {
    fn from(e: EnvelopeError) -> Self {
        Fault::Envelope(e)
    }
}

/// Work on one job: read everything from the first argument, write the result to the
/// second, and return `Ok` only if the result is complete and, for decryption, verified.
pub(crate) type Work<'a> = dyn FnMut(&Job, &mut dyn Read, &mut dyn Write) -> Result<(), Fault> + 'a;

/// Turns the command line's inputs and `--output` into jobs. Everything that makes the
/// command line unusable is refused here, before any file is written.
pub(crate) fn plan(args: &FileArgs, direction: Direction) -> Result<Plan, CliError> {
    if args.suffix.is_empty() || args.suffix.contains('/') {
        return Err(CliError::param(
            "--suffix",
            "the suffix must be non-empty and hold no '/'",
        ));
    }
    if args.inputs.iter().filter(|i| *i == "-").count() > 1 {
        return Err(CliError::param(
            "INPUT",
            "- (standard input) may be given only once",
        ));
    }
    let mut inputs = Vec::with_capacity(args.inputs.len());
    for input in &args.inputs {
        if input == "-" {
            inputs.push((input, None));
            continue;
        }
        let md =
            fs::metadata(input).map_err(|e| CliError::param("INPUT", format!("{input}: {e}")))?;
        if md.is_dir() && !args.recursive {
            return Err(CliError::param(
                "--recursive",
                format!("{input} is a directory; give --recursive to take the files below it"),
            ));
        }
        inputs.push((input, Some(md)));
    }
    let has_dir = inputs
        .iter()
        .any(|(_, md)| md.as_ref().is_some_and(|m| m.is_dir()));
    let many = inputs.len() > 1 || has_dir;
    let output = match args.output.as_deref() {
        None => Output::Beside,
        Some("-") if many => {
            return Err(CliError::param(
                "--output",
                "- (standard output) takes exactly one input file",
            ));
        }
        Some("-") => Output::Stdout,
        Some(p) => {
            let path = PathBuf::from(p);
            match fs::metadata(&path) {
                Ok(m) if m.is_dir() => Output::Dir(path),
                Ok(_) if many => {
                    return Err(CliError::param(
                        "--output",
                        format!("{p} is not a directory, and several files are to be written"),
                    ));
                }
                Err(_) if has_dir => {
                    fs::create_dir_all(&path).map_err(|e| {
                        CliError::param("--output", format!("cannot create {p}: {e}"))
                    })?;
                    Output::Dir(path)
                }
                Err(_) if many => {
                    return Err(CliError::param(
                        "--output",
                        format!("{p} must be an existing directory when several inputs are given"),
                    ));
                }
                _ => Output::File(path),
            }
        }
    };
    let mut plan = Plan {
        jobs: Vec::new(),
        passed_over: 0,
    };
    for (input, md) in inputs {
        let Some(md) = md else {
            let sink = match &output {
                Output::Stdout => Sink::Stdout,
                Output::File(p) => Sink::File(p.clone()),
                Output::Beside | Output::Dir(_) => {
                    return Err(CliError::param(
                        "--output",
                        "standard input (-) needs --output FILE, or - for standard output",
                    ));
                }
            };
            plan.jobs.push(Job {
                source: Source::Stdin,
                sink,
                size: None,
            });
            continue;
        };
        let path = PathBuf::from(input);
        if md.is_dir() {
            let Output::Dir(out_dir) = &output else {
                return Err(CliError::param(
                    "--output",
                    format!("{input} is a directory: give --output DIRECTORY to write the tree to"),
                ));
            };
            let skip = fs::canonicalize(out_dir).ok();
            if skip.is_some() && fs::canonicalize(&path).ok() == skip {
                return Err(CliError::param(
                    "--output",
                    format!(
                        "{} is the input directory {input} itself; give another directory",
                        out_dir.display()
                    ),
                ));
            }
            let mut files = Vec::new();
            walk(&path, skip.as_deref(), &mut files)?;
            for (file, size) in files {
                // `walk` only returns paths below `path`, each with a file name.
                let (Ok(rel), Some(name)) = (file.strip_prefix(&path), file.file_name()) else {
                    continue;
                };
                let Some(out_name) = output_name(direction, &args.suffix, name) else {
                    plan.passed_over += 1;
                    continue;
                };
                let parent = rel.parent().unwrap_or(Path::new(""));
                let sink = Sink::File(out_dir.join(parent).join(out_name));
                plan.jobs.push(Job {
                    source: Source::File(file),
                    sink,
                    size: Some(size),
                });
            }
            continue;
        }
        let name = path
            .file_name()
            .ok_or_else(|| CliError::param("INPUT", format!("{input} does not name a file")))?;
        let sink = match &output {
            Output::Stdout => Sink::Stdout,
            Output::File(p) => Sink::File(p.clone()),
            Output::Dir(d) => Sink::File(
                d.join(output_name(direction, &args.suffix, name).unwrap_or(name.to_owned())),
            ),
            Output::Beside => {
                let out_name = output_name(direction, &args.suffix, name).ok_or_else(|| {
                    CliError::param(
                        "--output",
                        format!(
                            "{input} does not end with {:?}: give --output to name the plaintext",
                            args.suffix
                        ),
                    )
                })?;
                Sink::File(path.with_file_name(out_name))
            }
        };
        plan.jobs.push(Job {
            source: Source::File(path),
            sink,
            size: md.is_file().then_some(md.len()),
        });
    }
    check_targets(&plan.jobs)?;
    Ok(plan)
}

/// What `--output` said.
enum Output {
    Beside,
    Stdout,
    File(PathBuf),
    Dir(PathBuf),
}

/// encrypt-file appends the suffix; decrypt-file strips it, and has no name for a file
/// without it.
fn output_name(direction: Direction, suffix: &str, name: &OsStr) -> Option<OsString> {
    match direction {
        Direction::Encrypt => {
            let mut n = name.to_owned();
            n.push(suffix);
            Some(n)
        }
        Direction::Decrypt => {
            let b = name.as_bytes();
            let s = suffix.as_bytes();
            (b.len() > s.len() && b.ends_with(s))
                .then(|| OsStr::from_bytes(&b[..b.len() - s.len()]).to_owned())
        }
    }
}

/// Every regular file below `dir`, sorted, with its length; symbolic links are not
/// followed, and `skip` (the output directory, canonical) is not entered.
fn walk(dir: &Path, skip: Option<&Path>, out: &mut Vec<(PathBuf, u64)>) -> Result<(), CliError> {
    let fail = |p: &Path, e: io::Error| CliError::param("INPUT", format!("{}: {e}", p.display()));
    if skip.is_some() && fs::canonicalize(dir).ok().as_deref() == skip {
        return Ok(());
    }
    let mut entries = fs::read_dir(dir)
        .map_err(|e| fail(dir, e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| fail(dir, e))?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let path = entry.path();
        let md = fs::symlink_metadata(&path).map_err(|e| fail(&path, e))?;
        if md.is_dir() {
            walk(&path, skip, out)?;
        } else if md.is_file() {
            out.push((path, md.len()));
        }
    }
    Ok(())
}

/// No two jobs write the same file, and no job writes over its own input.
fn check_targets(jobs: &[Job]) -> Result<(), CliError> {
    let mut seen: HashMap<&Path, &Job> = HashMap::new();
    for job in jobs {
        let Sink::File(target) = &job.sink else {
            continue;
        };
        if let Some(other) = seen.insert(target, job) {
            return Err(CliError::param(
                "--output",
                format!(
                    "{} and {} would both be written to {}",
                    other.input_name(),
                    job.input_name(),
                    target.display()
                ),
            ));
        }
        if let Source::File(input) = &job.source {
            let same = match (fs::canonicalize(input), fs::canonicalize(target)) {
                (Ok(a), Ok(b)) => a == b,
                _ => false,
            };
            if same {
                return Err(CliError::param(
                    "--output",
                    format!("{} would be written over itself", input.display()),
                ));
            }
        }
    }
    Ok(())
}

/// How a run went.
pub(crate) struct Tally {
    pub(crate) done: usize,
    pub(crate) failed: usize,
    /// The one failure's line, when the run had a single job (returned rather than printed,
    /// so a single-file command fails with one line).
    single_failure: Option<String>,
}

/// Runs every job in order; a failed job is reported on stderr and the rest still run.
pub(crate) fn run(
    plan: &Plan,
    direction: Direction,
    force: bool,
    quiet: bool,
    work: &mut Work<'_>,
) -> Tally {
    let total: Option<u64> = plan.jobs.iter().map(|j| j.size).sum();
    let progress = Progress::new(!quiet && io::stderr().is_terminal(), total, plan.jobs.len());
    let mut tally = Tally {
        done: 0,
        failed: 0,
        single_failure: None,
    };
    for job in &plan.jobs {
        progress.start_file(&job.input_name());
        match run_job(job, force, &progress, work) {
            Ok(()) => tally.done += 1,
            Err(message) => {
                tally.failed += 1;
                let line = format!("{} {}: {message}", direction.command(), job.input_name());
                if plan.jobs.len() == 1 {
                    tally.single_failure = Some(line);
                } else {
                    progress.clear();
                    let _ = writeln!(io::stderr(), "lockbox: {line}");
                }
            }
        }
    }
    progress.clear();
    tally
}

impl Tally {
    /// The command's result: success, or exit 1 (files ran and some failed), after the
    /// `--verbose` line.
    pub(crate) fn finish(
        self,
        direction: Direction,
        passed_over: usize,
        verbose: bool,
        stats: &Stats,
    ) -> Result<(), CliError> {
        if verbose {
            let mut line = format!(
                "lockbox: {}: {} file(s) done, {} failed",
                direction.command(),
                self.done,
                self.failed
            );
            if passed_over > 0 {
                line.push_str(&format!(
                    ", {passed_over} passed over (name without the suffix)"
                ));
            }
            line.push_str(&format!(
                "; data keys from the KMS: {}; from the cache: {}",
                stats.kms_calls(),
                stats.cache_hits()
            ));
            let _ = writeln!(io::stderr(), "{line}");
        }
        if let Some(line) = self.single_failure {
            return Err(CliError::Problems(line));
        }
        if self.failed > 0 {
            return Err(CliError::Problems(format!(
                "{}: {} of {} file(s) failed",
                direction.command(),
                self.failed,
                self.done + self.failed
            )));
        }
        Ok(())
    }
}

fn run_job(job: &Job, force: bool, progress: &Progress, work: &mut Work<'_>) -> Result<(), String> {
    let mut input: Box<dyn Read> = match &job.source {
        Source::Stdin => Box::new(io::stdin().lock()),
        Source::File(p) => Box::new(File::open(p).map_err(|e| format!("cannot open it: {e}"))?),
    };
    let mut input = progress.reader(&mut *input);
    let target = match &job.sink {
        Sink::Stdout => {
            let mut out = io::stdout().lock();
            work(job, &mut input, &mut out).map_err(|f| describe(f, "standard output"))?;
            return out
                .flush()
                .map_err(|e| format!("cannot write standard output: {e}"));
        }
        Sink::File(t) => t,
    };
    let shown = target.display().to_string();
    if !force && fs::symlink_metadata(target).is_ok() {
        return Err(format!("{shown} exists; give --force to replace it"));
    }
    let dir = target
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let tmp = tempfile::Builder::new()
        .prefix(".lockbox-")
        .suffix(".part")
        .permissions(fs::Permissions::from_mode(0o600))
        .tempfile_in(dir)
        .map_err(|e| format!("cannot create a file in {}: {e}", dir.display()))?;
    // Unbuffered: the writers above write whole frames or chunks, and a buffer here would
    // be one more copy of plaintext that is not zeroized.
    work(job, &mut input, &mut tmp.as_file()).map_err(|f| describe(f, &shown))?;
    tmp.as_file()
        .sync_all()
        .map_err(|e| format!("cannot write {shown}: {e}"))?;
    let persisted = if force {
        tmp.persist(target)
    } else {
        tmp.persist_noclobber(target)
    };
    persisted.map_err(|e| {
        if e.error.kind() == io::ErrorKind::AlreadyExists {
            format!("{shown} exists; give --force to replace it")
        } else {
            format!("cannot rename the output to {shown}: {}", e.error)
        }
    })?;
    // The rename is durable once the directory is synced.
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| format!("cannot sync {}: {e}", dir.display()))
}

fn describe(fault: Fault, output: &str) -> String {
    match fault {
        Fault::Read(e) => format!("cannot read it: {e}"),
        Fault::Write(e) => format!("cannot write {output}: {e}"),
        Fault::Envelope(e) => e.to_string(),
    }
}

/// One side of a job's I/O, remembering whether it failed: the envelope library reports
/// both sides' I/O errors alike, and the message must say which file was at fault.
pub(crate) struct Watched<'a, T: ?Sized> {
    inner: &'a mut T,
    failed: bool,
}

impl<'a, T: ?Sized> Watched<'a, T> {
    pub(crate) fn new(inner: &'a mut T) -> Self {
        Watched {
            inner,
            failed: false,
        }
    }

    /// Whether an I/O error came from this side.
    pub(crate) fn failed(&self) -> bool {
        self.failed
    }

    fn note<U>(&mut self, r: io::Result<U>) -> io::Result<U> {
        if let Err(e) = &r
            && e.kind() != io::ErrorKind::Interrupted
        {
            self.failed = true;
        }
        r
    }
}

impl<T: Read + ?Sized> Read for Watched<'_, T> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let r = self.inner.read(buf);
        self.note(r)
    }
}

impl<T: Write + ?Sized> Write for Watched<'_, T> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let r = self.inner.write(buf);
        self.note(r)
    }

    fn flush(&mut self) -> io::Result<()> {
        let r = self.inner.flush();
        self.note(r)
    }
}

/// Reads `--encryption-context` values (each shorthand or JSON) into one map; a key given
/// twice with two values is refused.
pub(crate) fn context_pairs(values: &[String]) -> Result<BTreeMap<String, String>, CliError> {
    let mut map = BTreeMap::new();
    for v in values {
        let ctx = params::context("--encryption-context", Some(v))?;
        for (k, val) in ctx.as_map() {
            if let Some(old) = map.insert(k.clone(), val.clone())
                && old != *val
            {
                return Err(CliError::param(
                    "--encryption-context",
                    format!("key {k:?} is given twice, with different values"),
                ));
            }
        }
    }
    Ok(map)
}

/// A materials manager in front of the KMS keyring that counts the requests reaching it:
/// each is one data key from the KMS (GenerateDataKey to encrypt, Decrypt to decrypt).
pub(crate) struct Counting {
    inner: Arc<dyn MaterialsManager>,
    calls: AtomicU64,
}

impl Counting {
    pub(crate) fn new(inner: Arc<dyn MaterialsManager>) -> Counting {
        Counting {
            inner,
            calls: AtomicU64::new(0),
        }
    }
}

impl MaterialsManager for Counting {
    fn encryption_materials(
        &self,
        req: &EncryptionRequest<'_>,
    ) -> Result<Arc<EncryptionMaterials>, EnvelopeError> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        self.inner.encryption_materials(req)
    }

    fn decryption_materials(
        &self,
        req: &DecryptionRequest<'_>,
    ) -> Result<Arc<DecryptionMaterials>, EnvelopeError> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        self.inner.decryption_materials(req)
    }

    fn cache_partition(&self) -> String {
        self.inner.cache_partition()
    }
}

/// The materials a run uses: the counted keyring, behind a cache when one was asked for.
pub(crate) struct Stats {
    counted: Arc<Counting>,
    cache: Option<CachingMaterials>,
}

impl Stats {
    pub(crate) fn new(
        keyring: Arc<dyn MaterialsManager>,
        cache: Option<lockbox_envelope::CacheLimits>,
    ) -> Result<Stats, CliError> {
        let counted = Arc::new(Counting::new(keyring));
        let cache = match cache {
            Some(limits) => Some(
                CachingMaterials::new(counted.clone(), limits)
                    .map_err(|e| CliError::param("--cache-max-age", e.to_string()))?,
            ),
            None => None,
        };
        Ok(Stats { counted, cache })
    }

    /// The manager to hand the encryptor or decryptor.
    pub(crate) fn materials(&self) -> &dyn MaterialsManager {
        match &self.cache {
            Some(c) => c,
            None => &*self.counted,
        }
    }

    fn kms_calls(&self) -> u64 {
        self.counted.calls.load(Ordering::Relaxed)
    }

    fn cache_hits(&self) -> u64 {
        self.cache.as_ref().map_or(0, |c| c.stats().hits)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_names_append_or_strip_the_suffix() {
        let name =
            |d, n: &str| output_name(d, ".lbx", OsStr::new(n)).map(|o| o.into_string().unwrap());
        assert_eq!(
            name(Direction::Encrypt, "a.txt").as_deref(),
            Some("a.txt.lbx")
        );
        assert_eq!(
            name(Direction::Decrypt, "a.txt.lbx").as_deref(),
            Some("a.txt")
        );
        assert_eq!(name(Direction::Decrypt, "a.txt"), None);
        // A name that is only the suffix has nothing left to name the plaintext.
        assert_eq!(name(Direction::Decrypt, ".lbx"), None);
    }

    #[test]
    fn context_values_merge_and_conflicts_are_refused() {
        let map = context_pairs(&["a=1,b=2".to_owned(), r#"{"c":"3","a":"1"}"#.to_owned()])
            .ok()
            .unwrap();
        assert_eq!(
            map.into_iter().collect::<Vec<_>>(),
            [("a", "1"), ("b", "2"), ("c", "3")].map(|(k, v)| (k.to_owned(), v.to_owned()))
        );
        let err = context_pairs(&["a=1".to_owned(), "a=2".to_owned()])
            .err()
            .unwrap()
            .to_string();
        assert_eq!(
            err,
            "Error parsing parameter '--encryption-context': key \"a\" is given twice, with \
             different values"
        );
    }
}
