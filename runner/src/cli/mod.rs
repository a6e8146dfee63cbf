//! The command line: flags as types (clap derive), one function per command, errors mapped to
//! the exit codes of [`crate::exit`]. `main.rs` only calls [`main`].

mod data;
mod inspect;
pub mod locate;
mod maintain;
mod report;
mod run;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use clap::{Args, Parser, Subcommand, ValueEnum};
use skelflow_cache::{Digests, Store};
use skelflow_stages::Backend;

use crate::diag::Style;
use crate::events::ProgressMode;
use crate::exit::{self, Failure};
use crate::pipeline::Pipeline;
use crate::render::DagFormat;
use crate::spec::vars::Overrides;

#[derive(Parser, Debug)]
#[command(
    name = "skelflow",
    version,
    about = "Declarative, content-hashed experiment pipelines",
    max_term_width = 100
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    /// Cache directory [default: $SKELFLOW_CACHE, else the first .skelflow/ found walking up
    /// from the pipeline's directory (without a pipeline: the working directory) to the top of
    /// the git work tree; `run` creates one there if there is none]
    #[arg(long, global = true, value_name = "DIR")]
    pub cache: Option<PathBuf>,
    /// More output (repeat for more)
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Progress display: bars on a terminal, timestamped lines otherwise
    #[arg(long, global = true, value_enum, default_value_t = ProgressMode::Auto)]
    pub progress: ProgressMode,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run (or resume) a pipeline: compute every instance that is not cached
    Run(RunArgs),
    /// Table of instances: cached, stale, missing or running, and why
    Status(StatusArgs),
    /// Why an instance would run: which key component changed since its last cached run
    Explain {
        #[command(flatten)]
        pipeline: PipelineArgs,
        /// Instance id, e.g. `pretrain[B3,xsub]` (quote it in the shell)
        instance: String,
    },
    /// Print the DAG of instances (or stages)
    Dag {
        #[command(flatten)]
        pipeline: PipelineArgs,
        #[arg(long, value_enum, default_value_t = DagFormat::Text)]
        format: DagFormat,
        /// One node per stage instead of per instance
        #[arg(long)]
        stages: bool,
    },
    /// An instance's artifact: paths, files, manifest, key components, log
    Show {
        #[command(flatten)]
        pipeline: PipelineArgs,
        instance: String,
        /// Print the whole log
        #[arg(long)]
        log: bool,
    },
    /// Remove artifacts no recent run needs
    Gc {
        /// A pipeline whose current artifacts are kept too (and whose cache is used)
        pipeline: Option<PathBuf>,
        /// Keep everything used by the newest N runs of each pipeline
        #[arg(long, value_name = "N", default_value_t = 3)]
        keep_last: usize,
        /// Only report what would be removed
        #[arg(long)]
        dry_run: bool,
        #[command(flatten)]
        vars: VarArgs,
    },
    /// Rehash artifacts; corrupt ones move to quarantine (and are recomputed by the next run)
    Verify {
        /// Only this pipeline's current artifacts (and its cache)
        pipeline: Option<PathBuf>,
        #[command(flatten)]
        vars: VarArgs,
    },
    /// Datasets: summarise an imported dataset; convert raw skeleton files to the
    /// reference repositories' .npy layout
    Data {
        #[command(subcommand)]
        command: data::DataCommand,
    },
    /// Encoders: layers, output shapes and parameter counts
    Model {
        #[command(subcommand)]
        command: ModelCommand,
    },
    /// Write reports/<pipeline>/REPORT.md again from the cache (the newest finished run)
    Report(PipelineArgs),
    /// List stage kinds, or describe one kind's params
    Kinds { kind: Option<String> },
    /// Run one stage process (used by executors)
    #[command(name = "__exec", hide = true)]
    Exec { job: PathBuf },
}

#[derive(Subcommand, Debug)]
pub enum ModelCommand {
    /// Layers, output shapes and parameter counts (trainable, as PyTorch counts them, and
    /// total with BN running statistics), like torchinfo
    Summary {
        /// A preset (stgcn, stgcn64, bigru, lstm), a YAML file, or inline YAML such as
        /// `{arch: bigru, hidden: 256}`: the `encoder` param of `pretrain` (a BiGRU is
        /// `drive: per_frame`, the reference code's, unless it says `drive: bidirectional`)
        config: String,
        /// Input frames [default: 50 for ST-GCN, 64 for the recurrent encoders]
        #[arg(long)]
        frames: Option<usize>,
    },
    /// Write an encoder as a checkpoint of a reference repository, loadable there with
    /// `load_state_dict` (aimclr: ST-GCN as AimCLR / ActCLR save it; cmd: BiGRU in CMD's
    /// `state_dict`; ascal: AS-CAL's LSTM; a2mc: A²MC's SCD-Net encoder; dsta: DSTA-Net)
    Export {
        #[command(flatten)]
        source: EncoderSource,
        /// The file to write (`.pt`)
        #[arg(long)]
        out: PathBuf,
    },
    /// Features of clips from an encoder, as the reference code computes them: what to run
    /// to check that skelflow computes what a reference repository computes
    Embed {
        #[command(flatten)]
        source: EncoderSource,
        /// backbone (the pooled feature linear / kNN evaluation use) | projection (the head)
        #[arg(long, default_value = "backbone")]
        feature: String,
        /// (N, C, T, V, M) float32 .npy of joint coordinates in the reference layout
        #[arg(long)]
        input: PathBuf,
        /// Where to write the (N, D) float32 features
        #[arg(long)]
        out: PathBuf,
        /// Compute backend
        #[arg(long, value_enum, default_value_t = BackendArg::Flex)]
        backend: BackendArg,
    },
}

/// Where an encoder comes from, for `model export` and `model embed`.
#[derive(Args, Debug, Clone)]
pub struct EncoderSource {
    /// A skelflow encoder artifact directory (`skelflow show PIPELINE INSTANCE` prints it)
    /// or a reference checkpoint file (.pt / .pth / .pth.tar)
    #[arg(long)]
    pub checkpoint: PathBuf,
    /// The checkpoint's format: auto | aimclr | cmd | ascal | a2mc | dsta | skelflow (for
    /// `export`, the format to write; auto: the one of the encoder's architecture)
    #[arg(long, default_value = "auto")]
    pub format: String,
    /// Which stream's encoder (CMD keeps one per stream; for `export`, the `cmd` slot to
    /// write) [default: joint, or the stream an artifact was trained on]; `embed` computes
    /// the stream from the joints of --input
    #[arg(long)]
    pub stream: Option<String>,
}

impl EncoderSource {
    fn parse(
        &self,
    ) -> Result<
        (
            skelflow_stages::learn::checkpoint::CheckpointFormat,
            Option<skelflow_stages::data::Stream>,
        ),
        Failure,
    > {
        use skelflow_stages::learn::checkpoint::CheckpointFormat;
        let format = parse_choice(
            "format",
            &self.format,
            CheckpointFormat::parse,
            CheckpointFormat::NAMES,
        )?;
        Ok((format, parse_stream(self.stream.as_deref())?))
    }
}

fn parse_choice<T>(
    what: &str,
    value: &str,
    parse: impl Fn(&str) -> Option<T>,
    names: &str,
) -> Result<T, Failure> {
    parse(value).ok_or_else(|| Failure::usage(format!("--{what} {value}: use one of {names}")))
}

fn parse_stream(value: Option<&str>) -> Result<Option<skelflow_stages::data::Stream>, Failure> {
    value
        .map(|s| {
            parse_choice(
                "stream",
                s,
                skelflow_stages::data::Stream::parse,
                "joint, motion, bone",
            )
        })
        .transpose()
}

fn model_export(source: &EncoderSource, out: &Path) -> Result<i32, Failure> {
    use skelflow_stages::learn::checkpoint::{CheckpointFormat, commands};
    let (format, stream) = source.parse()?;
    if format == CheckpointFormat::Skelflow {
        return Err(Failure::usage(
            "--format skelflow: an encoder artifact is a directory; copy it instead of exporting",
        ));
    }
    let text = commands::export_encoder(&source.checkpoint, format, stream, out)
        .map_err(|e| Failure::new(exit::BAD_INPUT, e.to_string()))?;
    println!("{text}");
    Ok(exit::OK)
}

fn model_embed(
    source: &EncoderSource,
    feature: &str,
    input: &Path,
    out: &Path,
    backend: BackendArg,
) -> Result<i32, Failure> {
    use skelflow_stages::learn::checkpoint::commands;
    use skelflow_stages::learn::extract::FeatureKind;
    let (format, stream) = source.parse()?;
    let feature = parse_choice(
        "feature",
        feature,
        |s| serde_json::from_value::<FeatureKind>(serde_json::json!(s)).ok(),
        "backbone, projection",
    )?;
    let text = commands::embed(
        &source.checkpoint,
        format,
        stream,
        feature,
        input,
        out,
        backend.backend()?,
    )
    .map_err(|e| Failure::new(exit::BAD_INPUT, e.to_string()))?;
    println!("{text}");
    Ok(exit::OK)
}

fn model_summary(config: &str, frames: Option<usize>) -> Result<i32, Failure> {
    let text = skelflow_stages::learn::model_summary_str(config, frames)
        .map_err(|e| Failure::new(exit::BAD_INPUT, e))?;
    print!("{text}");
    Ok(exit::OK)
}

#[derive(Args, Debug, Clone)]
pub struct PipelineArgs {
    /// Pipeline YAML file
    pub pipeline: PathBuf,
    #[command(flatten)]
    pub vars: VarArgs,
}

#[derive(Args, Debug, Clone, Default)]
pub struct VarArgs {
    /// Override a variable (`--set data.root=/data/ntu`; the value is YAML)
    #[arg(long = "set", value_name = "NAME=VALUE")]
    pub set: Vec<String>,
    /// Override variables from a YAML file (applied before SKELFLOW_VAR_* and --set)
    #[arg(long, value_name = "FILE")]
    pub vars_file: Option<PathBuf>,
    /// Compute backend of learning stages (part of their keys)
    #[arg(long, value_enum, default_value_t = BackendArg::Flex)]
    pub backend: BackendArg,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum, Default)]
pub enum BackendArg {
    #[default]
    Flex,
    TchCpu,
    TchCuda,
}

impl BackendArg {
    pub fn backend(self) -> Result<Backend, Failure> {
        let b = match self {
            BackendArg::Flex => Backend::Flex,
            BackendArg::TchCpu => Backend::TchCpu,
            BackendArg::TchCuda => Backend::TchCuda,
        };
        if !b.compiled_in() {
            return Err(Failure::usage(format!(
                "backend `{b}` is not built into this skelflow: rebuild with `cargo build --release --features tch`, or use `--backend flex`"
            )));
        }
        Ok(b)
    }
}

#[derive(Args, Debug)]
pub struct RunArgs {
    #[command(flatten)]
    pub pipeline: PipelineArgs,
    /// Run only these instances or stages (and what they need) [default: all]
    #[arg(value_name = "TARGET")]
    pub targets: Vec<String>,
    /// Stages running at once [default: number of CPUs]
    #[arg(short, long, value_name = "N")]
    pub jobs: Option<usize>,
    /// CPU cores to schedule into [default: all]
    #[arg(long, value_name = "N")]
    pub cpus: Option<u32>,
    /// GPUs to schedule into [default: every visible GPU]
    #[arg(long, value_name = "N")]
    pub gpus: Option<u32>,
    /// Memory to schedule into, e.g. 16G [default: all]
    #[arg(long, value_name = "SIZE")]
    pub mem: Option<String>,
    /// Device for GPU stages: `cpu` (no GPUs) or `cuda:N[,M…]` (only these devices)
    #[arg(long, value_name = "DEVICE")]
    pub device: Option<String>,
    /// After a failure, go on with everything that does not depend on it
    #[arg(short = 'k', long)]
    pub keep_going: bool,
    /// List what would run and why; run nothing
    #[arg(short = 'n', long)]
    pub dry_run: bool,
    /// Recompute this instance even if cached (repeatable)
    #[arg(long, value_name = "INSTANCE")]
    pub force: Vec<String>,
    /// Where stages run: `local` processes, or `slurm` jobs (settings in the pipeline's
    /// `executor.slurm` section) [default: the pipeline's `executor.use`, else local]
    #[arg(long, value_enum, value_name = "EXECUTOR")]
    pub executor: Option<ExecutorArg>,
    /// Run a stage again up to N times after a failure that may pass: a timeout, a node
    /// failure, a preemption (it goes on from its checkpoint)
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub retries: u32,
    /// Submit every job to the cluster and return (slurm); `skelflow status` shows them
    /// and `skelflow run` later collects their results
    #[arg(long)]
    pub detach: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ExecutorArg {
    Local,
    Slurm,
}

#[derive(Args, Debug)]
pub struct StatusArgs {
    #[command(flatten)]
    pub pipeline: PipelineArgs,
    /// Machine-readable output
    #[arg(long)]
    pub json: bool,
}

/// Run the command line; returns the process exit code.
pub fn main() -> i32 {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                exit::USAGE
            } else {
                exit::OK
            };
        }
    };
    let result = match &cli.command {
        Command::Run(a) => run::run(&cli, a),
        Command::Status(a) => inspect::status(&cli, a),
        Command::Explain { pipeline, instance } => inspect::explain(&cli, pipeline, instance),
        Command::Dag {
            pipeline,
            format,
            stages,
        } => inspect::dag(pipeline, *format, *stages),
        Command::Show {
            pipeline,
            instance,
            log,
        } => inspect::show(&cli, pipeline, instance, *log),
        Command::Gc {
            pipeline,
            keep_last,
            dry_run,
            vars,
        } => maintain::gc(&cli, pipeline.as_deref(), vars, *keep_last, *dry_run),
        Command::Verify { pipeline, vars } => maintain::verify(&cli, pipeline.as_deref(), vars),
        Command::Report(a) => report::report(&cli, a),
        Command::Data { command } => data::data(&cli, command),
        Command::Model {
            command: ModelCommand::Summary { config, frames },
        } => model_summary(config, *frames),
        Command::Model {
            command: ModelCommand::Export { source, out },
        } => model_export(source, out),
        Command::Model {
            command:
                ModelCommand::Embed {
                    source,
                    feature,
                    input,
                    out,
                    backend,
                },
        } => model_embed(source, feature, input, out, *backend),
        Command::Kinds { kind } => maintain::kinds(kind.as_deref()),
        Command::Exec { job } => return crate::sched::job::exec_main(job),
    };
    match result {
        Ok(code) => code,
        Err(f) => {
            if !f.message.is_empty() {
                eprintln!("error: {}", f.message);
            }
            f.code
        }
    }
}

/// An instance id on the command line that names none: a usage error.
impl From<crate::pipeline::FindError> for Failure {
    fn from(e: crate::pipeline::FindError) -> Failure {
        Failure::usage(e.to_string())
    }
}

fn diag_style() -> Style {
    use std::io::IsTerminal;
    if std::io::stderr().is_terminal() {
        Style::Fancy
    } else {
        Style::Plain
    }
}

impl VarArgs {
    fn overrides(&self) -> Overrides {
        Overrides {
            vars_file: self.vars_file.clone(),
            env: Overrides::from_env(),
            set: self.set.clone(),
        }
    }
}

/// Load and validate a pipeline; print every problem and fail with INVALID_PIPELINE.
pub(crate) fn load(path: &Path, vars: &VarArgs) -> Result<Pipeline, Failure> {
    if !path.is_file() {
        return Err(Failure::usage(format!(
            "no pipeline file `{}`{}",
            path.display(),
            if path.is_dir() {
                " (it is a directory; name the YAML file)"
            } else {
                ""
            }
        )));
    }
    Pipeline::load(path, &vars.overrides()).map_err(|invalid| {
        eprint!("{}", invalid.render(diag_style()));
        let n = invalid.diags.len();
        Failure::new(
            exit::INVALID_PIPELINE,
            format!(
                "`{}` is invalid ({n} error{}); nothing was run",
                path.display(),
                if n == 1 { "" } else { "s" }
            ),
        )
    })
}

/// A cache in use and how it was chosen.
pub(crate) struct Opened {
    pub store: Arc<Store>,
    pub at: locate::Located,
}

impl Opened {
    /// `cache: .skelflow (found walking up from pipelines/)`
    pub fn line(&self) -> String {
        format!("cache: {}", self.at.describe(&cwd_or_root()))
    }
}

/// Why a command that creates no cache has none: the message names where it looked.
#[derive(Debug)]
pub(crate) struct NoCache {
    why: String,
    what_to_do: String,
}

impl NoCache {
    /// `cache: none: no skelflow cache found in ./ or any parent` (for `status`).
    pub fn line(&self) -> String {
        format!("cache: none ({})", self.why)
    }
}

impl From<NoCache> for Failure {
    fn from(n: NoCache) -> Failure {
        Failure::cache(format!("{}; {}", n.why, n.what_to_do))
    }
}

fn cwd_or_root() -> PathBuf {
    std::env::current_dir().unwrap_or_else(|_| PathBuf::from("/"))
}

fn cwd() -> Result<PathBuf, Failure> {
    std::env::current_dir()
        .map_err(|e| Failure::cache(format!("cannot read the working directory: {e}")))
}

fn lookup(cli: &Cli, start: &Path) -> locate::Lookup {
    locate::lookup(
        cli.cache.as_deref(),
        std::env::var_os("SKELFLOW_CACHE").as_deref(),
        start,
    )
}

fn open_at(at: locate::Located) -> Result<Opened, Failure> {
    let store = Store::open(&at.root).map_err(|e| {
        Failure::cache(format!(
            "cannot open the cache at {}: {e}",
            at.root.display()
        ))
    })?;
    Ok(Opened {
        store: Arc::new(store),
        at,
    })
}

/// The cache of a command that computes (`run`): found as [`locate`] says, else created
/// where [`locate::new_root`] says.
pub(crate) fn cache_for_run(cli: &Cli, pipeline_dir: &Path) -> Result<Opened, Failure> {
    match lookup(cli, pipeline_dir) {
        locate::Lookup::At(at) => open_at(at),
        locate::Lookup::NotFound { start, .. } => {
            let (root, place) = locate::new_root(&cwd()?, pipeline_dir);
            let opened = open_at(locate::Located {
                root,
                origin: locate::Origin::Created { from: start, place },
            })?;
            eprintln!("{}", opened.line());
            Ok(opened)
        }
    }
}

/// The cache of a command that only reads or maintains one, found from `start` (a
/// pipeline's directory; None: the working directory). Never creates one: if there is none,
/// the answer says where it looked.
pub(crate) fn existing_cache(
    cli: &Cli,
    start: Option<&Path>,
) -> Result<Result<Opened, NoCache>, Failure> {
    let cwd = cwd()?;
    let start = start.unwrap_or(&cwd);
    match lookup(cli, start) {
        locate::Lookup::At(at) if Store::is_store(&at.root) => open_at(at).map(Ok),
        locate::Lookup::At(at) => {
            let by = match at.origin {
                locate::Origin::Env => "$SKELFLOW_CACHE",
                _ => "--cache",
            };
            Ok(Err(NoCache {
                why: format!("no skelflow cache at {} (named by {by})", at.root.display()),
                what_to_do: "run a pipeline with it first, or name another".into(),
            }))
        }
        locate::Lookup::NotFound { start, ceiling } => {
            let up_to = match &ceiling {
                Some(top) if *top != start => format!(
                    " up to {}, the top of the git work tree",
                    locate::shown_dir(top, &cwd)
                ),
                Some(_) => " (the top of the git work tree)".into(),
                None => " or any parent".into(),
            };
            let mut what_to_do =
                "run a pipeline first, or pass --cache DIR / set SKELFLOW_CACHE".to_string();
            let nested = locate::nested(&start);
            if !nested.is_empty() {
                let names: Vec<String> = nested.iter().map(|n| locate::shown(n, &cwd)).collect();
                what_to_do = format!(
                    "{what_to_do} (found below it: {}, where an older skelflow kept a \
                     pipeline's cache; pass it to --cache, or move it here to make it the \
                     project's cache)",
                    names.join(", ")
                );
            }
            Ok(Err(NoCache {
                why: format!(
                    "no skelflow cache found in {}{up_to}",
                    locate::shown_dir(&start, &cwd)
                ),
                what_to_do,
            }))
        }
    }
}

/// [`existing_cache`], where having none is an error (exit code 4).
pub(crate) fn require_cache(cli: &Cli, start: Option<&Path>) -> Result<Opened, Failure> {
    Ok(existing_cache(cli, start)??)
}

/// Keys of a loaded pipeline, digesting external inputs through the cache's stat cache (no
/// cache: one in memory); missing dependency files are pipeline errors.
pub(crate) fn keys(
    p: &Pipeline,
    store: Option<&Store>,
    backend: Backend,
) -> Result<crate::plan::Keys, Failure> {
    let in_memory;
    let digests = match store {
        Some(s) => s.digests(),
        None => {
            in_memory = Digests::in_memory();
            &in_memory
        }
    };
    crate::plan::keys::compute(p, digests, backend).map_err(
        |crate::plan::keys::KeyError::Inputs(diags)| {
            eprint!("{}", crate::diag::render(&diags, &p.sources, diag_style()));
            Failure::new(
                exit::INVALID_PIPELINE,
                format!(
                    "`{}`: {} missing or unusable dependenc{}; nothing was run",
                    p.name,
                    diags.len(),
                    if diags.len() == 1 { "y" } else { "ies" }
                ),
            )
        },
    )
}
