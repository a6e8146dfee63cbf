//! The resource pool a run schedules into: concurrent jobs (`-j`), CPU cores, GPUs (by
//! index, so each GPU stage is pinned to its own devices) and memory.

use crate::diag::Diag;
use crate::pipeline::{Pipeline, Resources, format_bytes};

#[derive(Clone, Debug)]
pub struct Pool {
    pub jobs: usize,
    pub cpus: u32,
    /// Device indices of the GPUs this run may use.
    pub gpus: Vec<u32>,
    /// Bytes; 0 = memory is not counted.
    pub mem: u64,
    /// Grant GPUs by index (locally); a cluster's scheduler places them itself.
    pub pin_gpus: bool,
}

/// What is free right now.
#[derive(Debug)]
pub struct Free {
    jobs: usize,
    cpus: u32,
    gpus: Vec<u32>,
    mem: u64,
    count_mem: bool,
    pin_gpus: bool,
}

/// What one running job holds.
#[derive(Debug, Clone)]
pub struct Grant {
    pub cpus: u32,
    pub gpus: Vec<u32>,
    pub mem: u64,
}

impl Pool {
    /// The machine's defaults: all cores, every visible GPU, all memory.
    pub fn detect() -> Pool {
        let cpus = std::thread::available_parallelism()
            .map(|n| n.get() as u32)
            .unwrap_or(1);
        Pool {
            jobs: cpus as usize,
            cpus,
            gpus: detect_gpus(),
            mem: total_memory().unwrap_or(0),
            pin_gpus: true,
        }
    }

    /// A cluster's pool: `jobs` in flight; cores, GPUs and memory are the scheduler's.
    pub fn scheduler(jobs: usize) -> Pool {
        Pool {
            jobs,
            cpus: u32::MAX,
            gpus: Vec::new(),
            mem: 0,
            pin_gpus: false,
        }
    }

    pub fn free(&self) -> Free {
        Free {
            jobs: self.jobs,
            cpus: self.cpus,
            gpus: self.gpus.clone(),
            mem: self.mem,
            count_mem: self.mem > 0,
            pin_gpus: self.pin_gpus,
        }
    }

    /// Every instance that asks for more than the whole pool, as located errors.
    pub fn check(&self, p: &Pipeline) -> Vec<Diag> {
        let mut out = Vec::new();
        for inst in &p.instances {
            let r = &inst.resources;
            let stage = &p.stages[inst.stage];
            let mut problems = Vec::new();
            if r.cpus > self.cpus {
                problems.push((
                    "cpus",
                    format!("{} cpus but the pool has {}", r.cpus, self.cpus),
                    format!("--cpus {}", r.cpus),
                ));
            }
            if r.gpus as usize > self.gpus.len() {
                problems.push((
                    "gpus",
                    format!("{} gpus but the pool has {}", r.gpus, self.gpus.len()),
                    format!("--gpus {}", r.gpus),
                ));
            }
            if self.mem > 0 && r.mem > self.mem {
                problems.push((
                    "mem",
                    format!(
                        "{} of memory but the pool has {}",
                        format_bytes(r.mem),
                        format_bytes(self.mem)
                    ),
                    format!("--mem {}", format_bytes(r.mem)),
                ));
            }
            for (field, what, flag) in problems {
                let span = stage
                    .resource_spans
                    .iter()
                    .find(|(k, _)| k == field)
                    .map(|(_, s)| *s)
                    .unwrap_or(stage.id_span);
                out.push(
                    Diag::error(format!("stage `{}` asks for {what}", stage.id))
                        .at(span, "more than this machine offers")
                        .help(format!(
                            "lower `resources` of `{}`, or give the run more with `{flag}`",
                            stage.id
                        )),
                );
            }
        }
        crate::diag::normalize(&mut out);
        out
    }
}

impl Free {
    /// Take what `r` needs if it is free now.
    pub fn take(&mut self, r: &Resources) -> Option<Grant> {
        let mem_ok = !self.count_mem || r.mem <= self.mem;
        let gpus_ok = !self.pin_gpus || (r.gpus as usize) <= self.gpus.len();
        if self.jobs == 0 || r.cpus > self.cpus || !gpus_ok || !mem_ok {
            return None;
        }
        self.jobs -= 1;
        self.cpus -= r.cpus;
        let pinned = if self.pin_gpus { r.gpus as usize } else { 0 };
        let gpus: Vec<u32> = self.gpus.drain(..pinned).collect();
        if self.count_mem {
            self.mem -= r.mem;
        }
        Some(Grant {
            cpus: r.cpus,
            gpus,
            mem: r.mem,
        })
    }

    pub fn give_back(&mut self, g: Grant) {
        self.jobs += 1;
        self.cpus += g.cpus;
        self.gpus.extend(g.gpus);
        self.gpus.sort_unstable();
        if self.count_mem {
            self.mem += g.mem;
        }
    }
}

/// GPUs this process may use: `CUDA_VISIBLE_DEVICES` if set (its entries, renumbered
/// from 0 as CUDA does), else every `/dev/nvidia<N>`.
pub fn detect_gpus() -> Vec<u32> {
    if let Ok(v) = std::env::var("CUDA_VISIBLE_DEVICES") {
        let n = v
            .split(',')
            .filter(|s| !s.trim().is_empty() && s.trim() != "-1")
            .count();
        return (0..n as u32).collect();
    }
    let mut found: Vec<u32> = std::fs::read_dir("/dev")
        .map(|d| {
            d.filter_map(|e| {
                e.ok()?
                    .file_name()
                    .to_str()?
                    .strip_prefix("nvidia")?
                    .parse::<u32>()
                    .ok()
            })
            .collect()
        })
        .unwrap_or_default();
    found.sort_unstable();
    found
}

fn total_memory() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grants_pin_distinct_gpus_and_return_them() {
        let pool = Pool {
            jobs: 4,
            cpus: 4,
            gpus: vec![0, 1],
            mem: 0,
            pin_gpus: true,
        };
        let mut free = pool.free();
        let r = Resources {
            cpus: 1,
            gpus: 1,
            mem: 0,
            time: None,
        };
        let a = free.take(&r).unwrap();
        let b = free.take(&r).unwrap();
        assert_eq!((a.gpus.clone(), b.gpus.clone()), (vec![0], vec![1]));
        assert!(free.take(&r).is_none(), "no GPU left");
        free.give_back(b);
        assert_eq!(free.take(&r).unwrap().gpus, vec![1]);
        let big = Resources {
            cpus: 3,
            gpus: 0,
            mem: 0,
            time: None,
        };
        assert!(free.take(&big).is_none(), "only 2 cpus left");
    }
}
