//! Keeps the run record (`runs/<pipeline>/<run>.json`) up to date: written at the start with
//! every instance planned, updated as instances finish (at most once a second), and at the end.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use skelflow_cache::{InstanceRecord, InstanceState, RunRecord, RunStatus, Store};

use super::{Event, RunOutcome, Subscriber};
use crate::pipeline::Pipeline;
use crate::plan::Keys;

pub struct Recorder {
    store: Arc<Store>,
    run: RunRecord,
    index: BTreeMap<String, usize>,
    last_save: Instant,
    dirty: bool,
}

impl Recorder {
    pub fn new(
        store: Arc<Store>,
        p: &Pipeline,
        keys: &Keys,
        run_id: &str,
        args: Vec<String>,
        backend: &str,
    ) -> Recorder {
        let instances: Vec<InstanceRecord> = p
            .instances
            .iter()
            .enumerate()
            .map(|(i, inst)| InstanceRecord {
                id: inst.id.clone(),
                stage: p.stages[inst.stage].id.clone(),
                kind: inst.kind.clone(),
                key: keys.keys[i].clone(),
                components: keys.components[i].clone(),
                matrix: inst.matrix.iter().cloned().collect(),
                tags: inst.tags.clone(),
                needs: inst
                    .needs
                    .iter()
                    .map(|&u| p.instances[u].id.clone())
                    .collect(),
                state: InstanceState::Planned,
                seconds: None,
                error: None,
                log: None,
            })
            .collect();
        let index = instances
            .iter()
            .enumerate()
            .map(|(i, r)| (r.id.clone(), i))
            .collect();
        let run = RunRecord {
            id: run_id.to_string(),
            pipeline: p.name.clone(),
            pipeline_file: p.file.clone(),
            started: chrono::Utc::now(),
            finished: None,
            status: RunStatus::Running,
            args,
            vars: p.vars.clone(),
            backend: backend.to_string(),
            instances,
        };
        Recorder {
            store,
            run,
            index,
            last_save: Instant::now(),
            dirty: false,
        }
    }

    /// The record as planned (status Running), for registering the run before it starts.
    pub fn record(&self) -> &RunRecord {
        &self.run
    }

    fn save(&mut self) {
        if let Err(e) = self.store.save_run(&self.run) {
            eprintln!("skelflow: cannot save the run record: {e}");
        }
        self.last_save = Instant::now();
        self.dirty = false;
    }

    fn set(&mut self, instance: &str, f: impl FnOnce(&mut InstanceRecord)) {
        if let Some(&i) = self.index.get(instance) {
            f(&mut self.run.instances[i]);
            self.dirty = true;
        }
    }
}

impl Recorder {
    /// Copy the TensorBoard event files the instance's artifact holds under the run's
    /// record, so that `tensorboard --logdir runs/<pipeline>/<run>.tensorboard` shows every
    /// curve of the run by instance. Best effort: the artifact keeps the originals.
    fn gather_tensorboard(&self, instance: &str, key: &str) {
        let Ok(Some(artifact)) = self.store.get(&skelflow_cache::Key(key.to_string())) else {
            return;
        };
        let from = artifact.file(skelflow_contract::files::TENSORBOARD_DIR);
        let Ok(entries) = std::fs::read_dir(&from) else {
            return;
        };
        let to = self
            .store
            .run_tensorboard_dir(&self.run.pipeline, &self.run.id, instance);
        if std::fs::create_dir_all(&to).is_err() {
            return;
        }
        for e in entries.flatten() {
            let _ = std::fs::copy(e.path(), to.join(e.file_name()));
        }
    }
}

impl Subscriber for Recorder {
    fn on_event(&mut self, event: &Event) {
        match event {
            Event::RunStarted { .. } => {}
            Event::Cached { instance, key, .. } => {
                // The artifact's compute time (reports show what a result cost).
                let seconds = self
                    .store
                    .get(&skelflow_cache::Key(key.clone()))
                    .ok()
                    .flatten()
                    .map(|a| a.manifest.seconds);
                self.set(instance, |r| {
                    r.state = InstanceState::Cached;
                    r.seconds = seconds;
                })
            }
            Event::Waiting { .. }
            | Event::Progress { .. }
            | Event::JobState { .. }
            | Event::Retrying { .. } => {}
            Event::Started { instance, log, .. } => {
                self.set(instance, |r| r.log = Some(log.clone()))
            }
            Event::Finished {
                instance,
                key,
                seconds,
            } => {
                self.gather_tensorboard(instance, key);
                self.set(instance, |r| {
                    r.state = InstanceState::Computed;
                    r.seconds = Some(*seconds);
                })
            }
            Event::Failed {
                instance,
                error,
                log,
                ..
            } => self.set(instance, |r| {
                r.state = InstanceState::Failed;
                r.error = Some(error.clone());
                if log.is_some() {
                    r.log = log.clone();
                }
            }),
            Event::Skipped { instance, because } => self.set(instance, |r| {
                r.state = InstanceState::Skipped;
                r.error = Some(because.clone());
            }),
            Event::Interrupted { instance } => {
                self.set(instance, |r| r.state = InstanceState::Interrupted)
            }
            Event::RunFinished { status, .. } => {
                self.run.finished = Some(chrono::Utc::now());
                self.run.status = match status {
                    RunOutcome::Succeeded => RunStatus::Succeeded,
                    RunOutcome::Failed => RunStatus::Failed,
                    RunOutcome::Interrupted => RunStatus::Interrupted,
                    RunOutcome::Detached => RunStatus::Detached,
                };
                self.save();
                return;
            }
        }
        // The record as planned was saved when the run was registered (`Store::start_run`),
        // so a crash leaves one; progress is saved at most once a second, and at the end.
        let step = matches!(event, Event::Finished { .. } | Event::Failed { .. });
        if step && self.dirty && self.last_save.elapsed() >= Duration::from_secs(1) {
            self.save();
        }
    }
}
