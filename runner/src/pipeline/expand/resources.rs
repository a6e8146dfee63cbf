//! What an instance asks of the machine (`resources:`) and its `seed`, read from the
//! interpolated YAML with a located error for each bad value.

use super::super::{Resources, parse_bytes, parse_time};
use crate::diag::Diag;
use crate::spec::yaml::{Node, Value};

pub(super) fn seed_of(n: &Node, errors: &mut Vec<Diag>) -> Option<u64> {
    match n.value {
        Value::Int(i) if i >= 0 => Some(i as u64),
        _ => {
            errors.push(
                Diag::error(format!("`seed` must be an integer >= 0, found {}", describe(n)))
                    .at(n.span, "")
                    .help("e.g. `seed: 0`, or `seed: ${matrix.seed}` with plain integer values on the axis"),
            );
            None
        }
    }
}

pub(super) fn resources_of(n: &Node, stage: &str, errors: &mut Vec<Diag>) -> Resources {
    let mut r = Resources::default();
    for e in n.as_map().unwrap_or_default() {
        let v = &e.value;
        match e.key.as_str() {
            "cpus" => match v.value {
                Value::Int(i) if i >= 1 && i <= u32::MAX as i64 => r.cpus = i as u32,
                _ => errors.push(
                    Diag::error(format!(
                        "`resources.cpus` of stage `{stage}` must be an integer >= 1, found {}",
                        describe(v)
                    ))
                    .at(v.span, "")
                    .help("the number of CPU cores the stage uses, e.g. `cpus: 2`"),
                ),
            },
            "gpus" => match v.value {
                Value::Int(i) if i >= 0 && i <= u32::MAX as i64 => r.gpus = i as u32,
                _ => errors.push(
                    Diag::error(format!(
                        "`resources.gpus` of stage `{stage}` must be an integer >= 0, found {}",
                        describe(v)
                    ))
                    .at(v.span, "")
                    .help("the number of GPUs the stage uses, e.g. `gpus: 1`"),
                ),
            },
            "mem" => {
                let bytes = match &v.value {
                    Value::Int(i) if *i >= 0 => Some(*i as u64),
                    Value::Str(s) => parse_bytes(s),
                    _ => None,
                };
                match bytes {
                    Some(b) => r.mem = b,
                    None => errors.push(
                        Diag::error(format!(
                            "`resources.mem` of stage `{stage}` must be a size, found {}",
                            describe(v)
                        ))
                        .at(v.span, "")
                        .help("bytes, or a number with K, M, G or T, e.g. `mem: 4G`"),
                    ),
                }
            }
            "time" => match v.scalar_text().as_deref().and_then(parse_time) {
                Some(t) => r.time = Some(t),
                None => errors.push(
                    Diag::error(format!(
                        "`resources.time` of stage `{stage}` must be a wall time, found {}",
                        describe(v)
                    ))
                    .at(v.span, "")
                    .help("Slurm's formats (`90` minutes, `1:30:00`, `2-00:00:00`) or units (`45m`, `2h`, `1h30m`)"),
                ),
            },
            _ => {}
        }
    }
    r
}

fn describe(n: &Node) -> String {
    match n.scalar_text() {
        Some(t) if n.is_scalar() => format!("`{t}`"),
        _ => n.type_name().to_string(),
    }
}
