//! Text output shared by commands: the DAG in three formats and aligned tables.

use std::fmt::Write as _;

use crate::pipeline::Pipeline;

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum DagFormat {
    Text,
    Mermaid,
    Dot,
}

/// Nodes and edges of the instance graph (or the stage graph with `stages`).
fn graph(p: &Pipeline, stages: bool) -> (Vec<String>, Vec<(usize, usize)>) {
    if stages {
        let order: Vec<usize> = crate::pipeline::graph::order(
            &p.stages.iter().map(|s| s.needs.clone()).collect::<Vec<_>>(),
        )
        .unwrap_or_else(|_| (0..p.stages.len()).collect());
        let pos = |s: usize| order.iter().position(|&o| o == s).expect("in order");
        let names = order
            .iter()
            .map(|&s| {
                let st = &p.stages[s];
                if st.instances.len() > 1 {
                    format!("{} ×{}", st.id, st.instances.len())
                } else {
                    st.id.clone()
                }
            })
            .collect();
        let mut edges = Vec::new();
        for &s in &order {
            for &n in &p.stages[s].needs {
                edges.push((pos(n), pos(s)));
            }
        }
        (names, edges)
    } else {
        let names = p.instances.iter().map(|i| i.id.clone()).collect();
        let edges = p
            .instances
            .iter()
            .enumerate()
            .flat_map(|(i, inst)| inst.needs.iter().map(move |&u| (u, i)))
            .collect();
        (names, edges)
    }
}

pub fn dag(p: &Pipeline, format: DagFormat, stages: bool) -> String {
    let (names, edges) = graph(p, stages);
    let mut out = String::new();
    match format {
        DagFormat::Text => {
            let width = names.iter().map(|n| n.chars().count()).max().unwrap_or(0);
            for (i, n) in names.iter().enumerate() {
                let ups: Vec<&str> = edges
                    .iter()
                    .filter(|(_, t)| *t == i)
                    .map(|(f, _)| names[*f].as_str())
                    .collect();
                if ups.is_empty() {
                    let _ = writeln!(out, "{n}");
                } else {
                    let _ = writeln!(out, "{n:<width$}  <- {}", ups.join(", "));
                }
            }
        }
        DagFormat::Mermaid => {
            let _ = writeln!(out, "flowchart TD");
            for (i, n) in names.iter().enumerate() {
                let _ = writeln!(out, "    n{i}[\"{}\"]", n.replace('"', "#quot;"));
            }
            for (f, t) in &edges {
                let _ = writeln!(out, "    n{f} --> n{t}");
            }
        }
        DagFormat::Dot => {
            let _ = writeln!(out, "digraph \"{}\" {{", p.name.replace('"', "\\\""));
            let _ = writeln!(out, "    rankdir=LR;");
            let _ = writeln!(out, "    node [shape=box, fontname=\"monospace\"];");
            for (i, n) in names.iter().enumerate() {
                let _ = writeln!(out, "    n{i} [label=\"{}\"];", n.replace('"', "\\\""));
            }
            for (f, t) in &edges {
                let _ = writeln!(out, "    n{f} -> n{t};");
            }
            let _ = writeln!(out, "}}");
        }
    }
    out
}

/// Left-aligned columns separated by two spaces; the last column is not padded.
pub fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let n = header.len();
    let mut width = vec![0; n];
    for (i, h) in header.iter().enumerate() {
        width[i] = h.chars().count();
    }
    for r in rows {
        for (i, c) in r.iter().enumerate().take(n) {
            width[i] = width[i].max(c.chars().count());
        }
    }
    let mut out = String::new();
    let mut line = |cells: Vec<&str>| {
        let mut l = String::new();
        for (i, c) in cells.iter().enumerate() {
            if i + 1 == cells.len() {
                l.push_str(c);
            } else {
                let _ = write!(l, "{c:<w$}  ", w = width[i]);
            }
        }
        out.push_str(l.trim_end());
        out.push('\n');
    };
    line(header.to_vec());
    for r in rows {
        line(r.iter().map(String::as_str).collect());
    }
    out
}
