//! The JSON-lines event log: `<cache>/runs/<pipeline>/<run>.events.jsonl`, one object per
//! event with its time. Flushed per line (no fsync): it is a log, not the source of truth.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use serde::Serialize;

use super::{Event, Subscriber};

pub struct EventLog {
    out: Option<BufWriter<File>>,
}

#[derive(Serialize)]
struct Line<'a> {
    time: String,
    #[serde(flatten)]
    event: &'a Event,
}

impl EventLog {
    pub fn create(path: &Path) -> std::io::Result<EventLog> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let f = File::options().create(true).append(true).open(path)?;
        Ok(EventLog {
            out: Some(BufWriter::new(f)),
        })
    }
}

impl Subscriber for EventLog {
    fn on_event(&mut self, event: &Event) {
        let Some(out) = &mut self.out else { return };
        let line = Line {
            time: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            event,
        };
        let ok = serde_json::to_writer(&mut *out, &line).is_ok() && out.write_all(b"\n").is_ok();
        // Cached events come in bursts; flush on the ones a watcher waits for.
        let flush = !matches!(event, Event::Cached { .. } | Event::Progress { .. });
        if !ok || (flush && out.flush().is_err()) {
            eprintln!("skelflow: cannot write the event log; continuing without it");
            self.out = None;
        }
    }
}

impl Drop for EventLog {
    fn drop(&mut self) {
        if let Some(out) = &mut self.out {
            let _ = out.flush();
        }
    }
}
