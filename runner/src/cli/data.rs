//! `skelflow data show` and `skelflow data convert`: thin wrappers over `stages::data`.

use std::path::{Path, PathBuf};

use clap::Subcommand;
use skelflow_stages::data::dataset::{Stream, Variant};

use super::{Cli, VarArgs, keys, load, require_cache};
use crate::exit::{self, Failure};

#[derive(Subcommand, Debug)]
pub enum DataCommand {
    /// Summarise a dataset artifact: counts per split and class, frames histogram
    ///
    /// TARGET is an artifact directory, or a pipeline file followed by the instance of an
    /// import stage (e.g. `skelflow data show pipelines/moco_baseline.yaml import`).
    Show {
        target: PathBuf,
        instance: Option<String>,
        #[command(flatten)]
        vars: VarArgs,
    },
    /// Preprocess .skeleton files like `ntu.import` and write the float32 .npy array the
    /// reference PyTorch repositories read: (3,T,25,2) for a file, (N,3,T,25,2) for a folder
    Convert {
        /// A .skeleton file or a folder of them
        input: PathBuf,
        #[arg(long, value_parser = ["stgcn_raw", "agcn_prenorm", "frame50"])]
        variant: String,
        #[arg(long, value_parser = ["joint", "motion", "bone"], default_value = "joint")]
        stream: String,
        /// The .npy file to write (a folder also gets <out>.json with names and labels)
        #[arg(long)]
        out: PathBuf,
    },
}

pub fn data(cli: &Cli, command: &DataCommand) -> Result<i32, Failure> {
    match command {
        DataCommand::Show {
            target,
            instance,
            vars,
        } => {
            let dir = match instance {
                Some(id) => artifact_of(cli, target, id, vars)?,
                None => target.clone(),
            };
            let text = skelflow_stages::data::show(&dir).map_err(bad_input)?;
            print!("{text}");
            Ok(exit::OK)
        }
        DataCommand::Convert {
            input,
            variant,
            stream,
            out,
        } => {
            let variant = Variant::parse(variant).expect("clap checked the variant");
            let stream = Stream::parse(stream).expect("clap checked the stream");
            let r =
                skelflow_stages::data::convert(input, variant, stream, out).map_err(bad_input)?;
            let shape: Vec<String> = r.shape.iter().map(u64::to_string).collect();
            println!(
                "wrote {} float32 ({}) from {} sample{}",
                r.out.display(),
                shape.join(", "),
                r.names.len(),
                if r.names.len() == 1 { "" } else { "s" }
            );
            Ok(exit::OK)
        }
    }
}

/// The committed artifact of `instance` in `pipeline` (it must have been run).
fn artifact_of(
    cli: &Cli,
    pipeline: &Path,
    instance: &str,
    vars: &VarArgs,
) -> Result<PathBuf, Failure> {
    let p = load(pipeline, vars)?;
    let i = p.find_instance(instance)?;
    let store = require_cache(cli, Some(&p.dir))?.store;
    let k = keys(&p, Some(&store), vars.backend.backend()?)?;
    match store.get(&k.keys[i]) {
        Ok(Some(a)) => Ok(a.dir),
        Ok(None) => Err(Failure::usage(format!(
            "{instance} has no artifact in the cache yet: run `skelflow run {} {instance}` first",
            pipeline.display()
        ))),
        Err(e) => Err(Failure::cache(e.to_string())),
    }
}

fn bad_input(e: skelflow_stages::StageError) -> Failure {
    Failure::new(exit::BAD_INPUT, e.to_string())
}
