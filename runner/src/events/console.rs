//! Progress on the console: on a terminal, an overall bar plus one bar per running stage
//! (indicatif); otherwise plain timestamped lines on stderr.

use std::collections::HashMap;
use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use skelflow_contract::Within;

use super::{Event, RunOutcome, Subscriber};

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ProgressMode {
    /// Bars on a terminal, lines otherwise.
    Auto,
    Bars,
    Lines,
}

pub struct Console {
    verbose: bool,
    bars: Option<Bars>,
    /// Last progress line printed per instance (lines mode prints at most one per 10 s).
    last_progress: HashMap<String, Instant>,
    /// Per running instance, when its first progress line came and how far it was then:
    /// the ETA extrapolates only what this process did (a resumed stage starts part-way).
    eta_origin: HashMap<String, (Instant, f64)>,
}

struct Bars {
    multi: MultiProgress,
    overall: ProgressBar,
    running: HashMap<String, ProgressBar>,
}

impl Console {
    pub fn new(mode: ProgressMode, verbose: bool) -> Console {
        use std::io::IsTerminal;
        let bars = match mode {
            ProgressMode::Bars => true,
            ProgressMode::Lines => false,
            ProgressMode::Auto => std::io::stderr().is_terminal(),
        };
        Console {
            verbose,
            bars: bars.then(|| {
                let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr_with_hz(10));
                let overall = multi.add(ProgressBar::new(0));
                overall.set_style(
                    ProgressStyle::with_template(
                        "{prefix:.bold} [{bar:30.cyan/blue}] {pos}/{len} {msg}",
                    )
                    .expect("valid template")
                    .progress_chars("=> "),
                );
                overall.set_prefix("skelflow");
                overall.enable_steady_tick(Duration::from_millis(200));
                Bars {
                    multi,
                    overall,
                    running: HashMap::new(),
                }
            }),
            last_progress: HashMap::new(),
            eta_origin: HashMap::new(),
        }
    }

    fn line(&self, text: &str) {
        let stamped = format!("{} {text}", chrono::Local::now().format("%H:%M:%S"));
        match &self.bars {
            Some(b) => b.multi.suspend(|| eprintln!("{stamped}")),
            None => {
                let mut err = std::io::stderr().lock();
                let _ = writeln!(err, "{stamped}");
            }
        }
    }

    fn stop_bar(&mut self, instance: &str) {
        self.eta_origin.remove(instance);
        if let Some(b) = &mut self.bars {
            if let Some(bar) = b.running.remove(instance) {
                bar.finish_and_clear();
                b.multi.remove(&bar);
            }
            b.overall.inc(1);
        }
    }
}

/// How much of a stage is done: outer units plus the part of the current one.
fn fraction_done(done: u64, total: u64, within: Option<&Within>) -> f64 {
    if total == 0 {
        return 0.0;
    }
    let inner = within
        .filter(|w| w.total > 0)
        .map_or(0.0, |w| w.done as f64 / w.total as f64);
    (done as f64 + inner) / total as f64
}

/// A running stage's message with where it is inside the current unit and an ETA:
/// `step 40/312 · 212 samples/s · ETA 3m10s · loss 1.2345`. The ETA extrapolates the
/// progress made since `origin` (when, and at which fraction, the first line came) to the
/// fraction still left.
fn progress_detail(
    within: Option<&Within>,
    (since, at_origin): (Instant, f64),
    fraction: f64,
    message: &str,
) -> String {
    let mut parts = Vec::new();
    if let Some(w) = within {
        parts.push(format!("{} {}/{}", w.unit, w.done, w.total));
        if let Some(rate) = w.rate {
            parts.push(format!("{rate:.0} samples/s"));
        }
    }
    let gained = fraction - at_origin;
    if gained > 0.0 && fraction < 1.0 {
        let left = since.elapsed().as_secs_f64() * (1.0 - fraction) / gained;
        parts.push(format!("ETA {}", human_seconds(left)));
    }
    if !message.is_empty() {
        parts.push(message.to_string());
    }
    parts.join(" · ")
}

/// `42s`, `3m10s`, `2h05m`.
fn human_seconds(s: f64) -> String {
    let s = s.round() as u64;
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m{:02}s", s / 60, s % 60),
        _ => format!("{}h{:02}m", s / 3600, (s % 3600) / 60),
    }
}

fn short(key: &str) -> &str {
    &key[..key.len().min(12)]
}

/// The last `n` lines of a log, for failures.
fn tail(path: &Path, n: usize) -> Vec<String> {
    let Ok(text) = std::fs::read_to_string(path) else {
        return Vec::new();
    };
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..]
        .iter()
        .map(|l| l.to_string())
        .collect()
}

impl Subscriber for Console {
    fn on_event(&mut self, event: &Event) {
        match event {
            Event::RunStarted {
                run,
                pipeline,
                instances,
                cached,
                to_run,
                ..
            } => {
                if let Some(b) = &self.bars {
                    b.overall.set_length(*instances as u64);
                    b.overall.set_message(format!("{pipeline} (run {run})"));
                }
                self.line(&format!("run {run} of {pipeline}: {instances} instances, {cached} cached, {to_run} to run"));
            }
            Event::Cached {
                instance,
                key,
                same_as,
            } => {
                match same_as {
                    Some(o) => self.line(&format!(
                        "cached {instance} {} (same key as {o})",
                        short(key)
                    )),
                    None => self.line(&format!("cached {instance} {}", short(key))),
                }
                if let Some(b) = &self.bars {
                    b.overall.inc(1);
                }
            }
            Event::Waiting { instance, key } => self.line(&format!(
                "wait {instance} {}: another skelflow process is computing it",
                short(key)
            )),
            Event::Started {
                instance,
                key,
                reason,
                cpus,
                gpus,
                job,
                adopted,
                ..
            } => {
                let gpu = if gpus.is_empty() {
                    String::new()
                } else {
                    format!(
                        " gpu {}",
                        gpus.iter()
                            .map(u32::to_string)
                            .collect::<Vec<_>>()
                            .join(",")
                    )
                };
                match (job, adopted) {
                    (Some(id), true) => self.line(&format!(
                        "follow {instance} {}: job {id} was submitted earlier and is still wanted",
                        short(key)
                    )),
                    (Some(id), false) => self.line(&format!(
                        "submit {instance} {} ({reason}; job {id}, {cpus} cpu)",
                        short(key)
                    )),
                    (None, _) => self.line(&format!(
                        "start {instance} {} ({reason}; {cpus} cpu{gpu})",
                        short(key)
                    )),
                }
                if let Some(b) = &mut self.bars {
                    let bar = b
                        .multi
                        .insert_before(&b.overall, ProgressBar::new_spinner());
                    bar.set_style(
                        ProgressStyle::with_template("  {spinner} {prefix} {elapsed} {wide_msg}")
                            .expect("valid template"),
                    );
                    bar.set_prefix(instance.clone());
                    bar.enable_steady_tick(Duration::from_millis(120));
                    b.running.insert(instance.clone(), bar);
                }
            }
            Event::Progress {
                instance,
                done,
                total,
                message,
                within,
            } => {
                let now = fraction_done(*done, *total, within.as_ref());
                let origin = *self
                    .eta_origin
                    .entry(instance.clone())
                    .or_insert((Instant::now(), now));
                let detail = progress_detail(within.as_ref(), origin, now, message);
                if let Some(b) = &mut self.bars {
                    if let Some(bar) = b.running.get(instance) {
                        if *total > 0 && bar.length() != Some(*total) {
                            bar.set_length(*total);
                            bar.set_style(
                                ProgressStyle::with_template("  {prefix} [{bar:25.green/white}] {pos}/{len} {elapsed} {wide_msg}")
                                    .expect("valid template")
                                    .progress_chars("=> "),
                            );
                        }
                        bar.set_position(*done);
                        bar.set_message(detail);
                    }
                } else {
                    let due = self
                        .last_progress
                        .get(instance)
                        .is_none_or(|t| t.elapsed() >= Duration::from_secs(10));
                    if due || self.verbose || (done == total && *total > 0) {
                        self.last_progress.insert(instance.clone(), Instant::now());
                        self.line(&format!("progress {instance} {done}/{total} {detail}"));
                    }
                }
            }
            Event::JobState { instance, state } => {
                if let Some(b) = &mut self.bars {
                    if let Some(bar) = b.running.get(instance) {
                        bar.set_message(state.clone());
                    }
                } else {
                    self.line(&format!("job {instance}: {state}"));
                }
            }
            Event::Retrying {
                instance,
                attempt,
                retries,
                error,
            } => {
                self.stop_bar(instance);
                self.line(&format!(
                    "retry {instance} (retry {attempt} of {retries}): {error}"
                ));
            }
            Event::Finished {
                instance, seconds, ..
            } => {
                self.stop_bar(instance);
                self.line(&format!("done {instance} in {seconds:.1}s"));
            }
            Event::Failed {
                instance,
                error,
                log,
                ..
            } => {
                self.stop_bar(instance);
                let mut text = format!("FAILED {instance}: {error}");
                if let Some(log) = log {
                    let lines = tail(log, 15);
                    if !lines.is_empty() {
                        text.push_str("\n  | ");
                        text.push_str(&lines.join("\n  | "));
                    }
                    text.push_str(&format!("\n  log: {}", log.display()));
                }
                self.line(&text);
            }
            Event::Skipped { instance, because } => {
                self.stop_bar(instance);
                self.line(&format!("skip {instance}: {because}"));
            }
            Event::Interrupted { instance } => {
                self.stop_bar(instance);
                self.line(&format!("interrupted {instance}"));
            }
            Event::RunFinished {
                run,
                status,
                seconds,
                computed,
                cached,
                failed,
                skipped,
            } => {
                if let Some(b) = &self.bars {
                    b.overall.finish_and_clear();
                }
                let what = match status {
                    RunOutcome::Succeeded => "succeeded",
                    RunOutcome::Failed => "FAILED",
                    RunOutcome::Interrupted => "interrupted",
                    RunOutcome::Detached => "detached",
                };
                let mut text = format!("run {run} {what}: {computed} computed, {cached} cached");
                if *failed > 0 {
                    text.push_str(&format!(", {failed} failed"));
                }
                if *skipped > 0 && *status != RunOutcome::Detached {
                    text.push_str(&format!(", {skipped} not run"));
                }
                if *status == RunOutcome::Detached {
                    text.push_str(&format!(", {skipped} left running on the cluster"));
                }
                text.push_str(&format!(" in {seconds:.2}s"));
                self.line(&text);
                if *status == RunOutcome::Detached {
                    self.line("  `skelflow status` shows their jobs; `skelflow run` again follows them and collects their results");
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_detail_shows_the_step_the_rate_and_an_eta() {
        let w = Within {
            done: 50,
            total: 100,
            unit: "step".into(),
            rate: Some(212.4),
        };
        // 1.5 of 3 epochs done, 0.5 of them in the last 30 s (a resumed stage): 90 s left
        let now = fraction_done(1, 3, Some(&w));
        assert_eq!(now, 0.5);
        let origin = (Instant::now() - Duration::from_secs(30), 1.0 / 3.0);
        let text = progress_detail(Some(&w), origin, now, "loss 1.2");
        assert_eq!(text, "step 50/100 · 212 samples/s · ETA 1m30s · loss 1.2");
        // no progress since the first line yet: no ETA
        let fresh = (Instant::now(), 0.0);
        assert_eq!(progress_detail(None, fresh, 0.0, "reading"), "reading");
        assert_eq!(human_seconds(190.0), "3m10s");
        assert_eq!(human_seconds(7500.0), "2h05m");
    }
}
