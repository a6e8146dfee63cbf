//! `skelflow report`: regenerate REPORT.md from the cache alone (no stage runs).

use super::{Cli, PipelineArgs, load, require_cache};
use crate::events::report;
use crate::exit::{self, Failure};

pub fn report(cli: &Cli, a: &PipelineArgs) -> Result<i32, Failure> {
    let p = load(&a.pipeline, &a.vars)?;
    let store = require_cache(cli, Some(&p.dir))?.store;
    let spec = p.report.clone().unwrap_or(serde_json::Value::Null);
    let out =
        report::write(&store, &p.name, None, &spec).map_err(|e| Failure::cache(e.to_string()))?;
    for w in &out.warnings {
        eprintln!("warning: {w}");
    }
    println!("{}", out.report.display());
    Ok(exit::OK)
}
