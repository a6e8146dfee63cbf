//! User-facing diagnostics for bad input: a message, the spans it is about, and a hint.
//!
//! Rendered by [`render`]: with miette's graphical handler on a terminal, and otherwise in a
//! stable plain format (`error: …` / `--> file:line:col` / source line / `= help: …`) that
//! tests snapshot and editors can jump to.

use std::fmt::Write as _;

use crate::spec::source::{SourceMap, Span};

#[derive(Clone, Debug, PartialEq)]
pub struct Label {
    pub span: Span,
    pub text: String,
}

/// One problem. Many are collected and reported together.
#[derive(Clone, Debug, PartialEq)]
pub struct Diag {
    pub message: String,
    pub primary: Option<Label>,
    /// Other places that explain the problem ("first defined here", the edges of a cycle).
    pub notes: Vec<Label>,
    pub help: Option<String>,
}

impl Diag {
    pub fn error(message: impl Into<String>) -> Diag {
        Diag {
            message: message.into(),
            primary: None,
            notes: Vec::new(),
            help: None,
        }
    }
    pub fn at(mut self, span: Span, label: impl Into<String>) -> Diag {
        self.primary = Some(Label {
            span,
            text: label.into(),
        });
        self
    }
    pub fn note(mut self, span: Span, text: impl Into<String>) -> Diag {
        self.notes.push(Label {
            span,
            text: text.into(),
        });
        self
    }
    pub fn help(mut self, help: impl Into<String>) -> Diag {
        self.help = Some(help.into());
        self
    }
    /// An "unknown …" error: `message` at `span` labelled `label`, and a did-you-mean for
    /// `name` among `candidates` (listed as `what`).
    pub fn unknown<'a, I>(
        message: impl Into<String>,
        (span, label): (Span, &str),
        name: &str,
        candidates: I,
        what: &str,
    ) -> Diag
    where
        I: IntoIterator<Item = &'a str>,
        I::IntoIter: Clone,
    {
        Diag::error(message)
            .at(span, label)
            .help(suggest(name, candidates, what))
    }
    pub fn maybe_help(mut self, help: Option<String>) -> Diag {
        if help.is_some() {
            self.help = help;
        }
        self
    }
}

/// Sort by position and drop duplicates (a matrix stage repeats the same error per instance).
pub fn normalize(diags: &mut Vec<Diag>) {
    diags.sort_by_key(|d| match &d.primary {
        Some(l) => (0, l.span.file.0, l.span.start),
        None => (1, 0, 0),
    });
    let mut seen: Vec<(String, Option<Span>)> = Vec::new();
    diags.retain(|d| {
        let k = (d.message.clone(), d.primary.as_ref().map(|l| l.span));
        if seen.contains(&k) {
            false
        } else {
            seen.push(k);
            true
        }
    });
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Style {
    /// miette's graphical report (colours, unicode).
    Fancy,
    /// Stable plain text.
    Plain,
}

pub fn render(diags: &[Diag], sources: &SourceMap, style: Style) -> String {
    let mut out = String::new();
    for d in diags {
        match style {
            Style::Plain => render_plain(d, sources, &mut out),
            Style::Fancy => render_fancy(d, sources, &mut out),
        }
    }
    out
}

fn render_plain(d: &Diag, sources: &SourceMap, out: &mut String) {
    let _ = writeln!(out, "error: {}", d.message);
    let labels: Vec<(&Label, char, &str)> = d
        .primary
        .iter()
        .map(|l| (l, '^', "-->"))
        .chain(d.notes.iter().map(|l| (l, '-', ":::")))
        .collect();
    let width = labels
        .iter()
        .map(|(l, _, _)| {
            sources
                .file(l.span.file)
                .line_col(l.span.start)
                .0
                .to_string()
                .len()
        })
        .max()
        .unwrap_or(1);
    let pad = " ".repeat(width);
    for (label, mark, arrow) in &labels {
        let file = sources.file(label.span.file);
        let (line, col) = file.line_col(label.span.start);
        let text = file.line_text(line);
        let _ = writeln!(out, "{pad}{arrow} {}", sources.location(label.span));
        let _ = writeln!(out, "{pad} |");
        let _ = writeln!(out, "{line:>width$} | {text}");
        let (end_line, end_col) = file.line_col(label.span.end);
        let line_chars = text.chars().count();
        let last = if end_line == line {
            end_col.min(line_chars + 1)
        } else {
            line_chars + 1
        };
        let n = last.saturating_sub(col).max(1);
        let marks: String = std::iter::repeat_n(*mark, n).collect();
        let indent: String = text
            .chars()
            .take(col - 1)
            .map(|c| if c == '\t' { '\t' } else { ' ' })
            .collect();
        if label.text.is_empty() {
            let _ = writeln!(out, "{pad} | {indent}{marks}");
        } else {
            let _ = writeln!(out, "{pad} | {indent}{marks} {}", label.text);
        }
    }
    if let Some(h) = &d.help {
        let _ = writeln!(out, "{pad} = help: {h}");
    }
    out.push('\n');
}

fn render_fancy(d: &Diag, sources: &SourceMap, out: &mut String) {
    let report = fancy::FancyDiag::new(d, sources);
    let handler = miette::GraphicalReportHandler::new();
    if handler.render_report(out, &report).is_err() {
        render_plain(d, sources, out);
    } else {
        out.push('\n');
    }
}

mod fancy {
    use miette::{Diagnostic, LabeledSpan, NamedSource, Severity, SourceCode};

    use super::{Diag, Label};
    use crate::spec::source::SourceMap;

    /// A [`Diag`] as a miette diagnostic: the primary file as source code, notes in other
    /// files as related advice.
    #[derive(Debug)]
    pub struct FancyDiag {
        message: String,
        help: Option<String>,
        severity: Severity,
        src: Option<NamedSource<String>>,
        labels: Vec<LabeledSpan>,
        related: Vec<FancyDiag>,
    }

    impl FancyDiag {
        pub fn new(d: &Diag, sources: &SourceMap) -> FancyDiag {
            let mut me = FancyDiag {
                message: d.message.clone(),
                help: d.help.clone(),
                severity: Severity::Error,
                src: None,
                labels: Vec::new(),
                related: Vec::new(),
            };
            let Some(primary) = &d.primary else { return me };
            let file = sources.file(primary.span.file);
            me.src =
                Some(NamedSource::new(file.name.clone(), file.text.clone()).with_language("yaml"));
            me.labels.push(label(primary, true));
            for n in &d.notes {
                if n.span.file == primary.span.file {
                    me.labels.push(label(n, false));
                } else {
                    let f = sources.file(n.span.file);
                    me.related.push(FancyDiag {
                        message: n.text.clone(),
                        help: None,
                        severity: Severity::Advice,
                        src: Some(
                            NamedSource::new(f.name.clone(), f.text.clone()).with_language("yaml"),
                        ),
                        labels: vec![label(n, false)],
                        related: Vec::new(),
                    });
                }
            }
            me
        }
    }

    fn label(l: &Label, primary: bool) -> LabeledSpan {
        let text = if l.text.is_empty() {
            None
        } else {
            Some(l.text.clone())
        };
        let len = l.span.end.saturating_sub(l.span.start).max(1);
        if primary {
            LabeledSpan::new_primary_with_span(text, (l.span.start, len))
        } else {
            LabeledSpan::new_with_span(text, (l.span.start, len))
        }
    }

    impl std::fmt::Display for FancyDiag {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str(&self.message)
        }
    }
    impl std::error::Error for FancyDiag {}

    impl Diagnostic for FancyDiag {
        fn severity(&self) -> Option<Severity> {
            Some(self.severity)
        }
        fn help<'a>(&'a self) -> Option<Box<dyn std::fmt::Display + 'a>> {
            self.help
                .as_ref()
                .map(|h| Box::new(h) as Box<dyn std::fmt::Display>)
        }
        fn source_code(&self) -> Option<&dyn SourceCode> {
            self.src.as_ref().map(|s| s as &dyn SourceCode)
        }
        fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
            if self.labels.is_empty() {
                None
            } else {
                Some(Box::new(self.labels.iter().cloned()))
            }
        }
        fn related<'a>(&'a self) -> Option<Box<dyn Iterator<Item = &'a dyn Diagnostic> + 'a>> {
            if self.related.is_empty() {
                None
            } else {
                Some(Box::new(self.related.iter().map(|r| r as &dyn Diagnostic)))
            }
        }
    }
}

pub use skelflow_contract::did_you_mean;

/// A hint naming the closest candidate (if any) and listing them all.
pub fn suggest<'a, I>(name: &str, candidates: I, what: &str) -> String
where
    I: IntoIterator<Item = &'a str>,
    I::IntoIter: Clone,
{
    let it = candidates.into_iter();
    let all: Vec<&str> = it.clone().collect();
    let list = if all.is_empty() {
        "none".to_string()
    } else {
        all.join(", ")
    };
    match did_you_mean(name, it) {
        Some(s) => format!("did you mean `{s}`? {what}: {list}"),
        None => format!("{what}: {list}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_rendering_points_at_line_and_column() {
        let mut sm = SourceMap::new();
        let f = sm.add(
            "p.yaml".into(),
            None,
            "name: x\nstages:\n  a:\n    nedds: [b]\n".into(),
        );
        let d = Diag::error("unknown key `nedds` in stage `a`")
            .at(Span::new(f, 25, 30), "unknown key")
            .note(Span::new(f, 18, 19), "stage defined here")
            .help("did you mean `needs`?");
        let text = render(&[d], &sm, Style::Plain);
        assert_eq!(
            text,
            "error: unknown key `nedds` in stage `a`\n --> p.yaml:4:5\n  |\n4 |     nedds: [b]\n  |     ^^^^^ unknown key\n ::: p.yaml:3:3\n  |\n3 |   a:\n  |   - stage defined here\n  = help: did you mean `needs`?\n\n"
        );
    }
}
