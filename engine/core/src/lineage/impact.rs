//! Impact analysis over the lineage graph: what feeds a table or column (upstream), and
//! what depends on it (downstream), with the pipelines and owners concerned.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use serde::Serialize;

use super::columns::Kind;
use super::graph::{Edge, Graph};

/// Which way to walk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Upstream,
    Downstream,
}

/// A table, or a column of it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct Node {
    pub dataset: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub column: Option<String>,
}

impl std::fmt::Display for Node {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.column {
            Some(c) => write!(f, "{}.{c}", self.dataset),
            None => write!(f, "{}", self.dataset),
        }
    }
}

/// The edges reached from the start, and the datasets they touch.
#[derive(Debug, Clone, Serialize)]
pub struct Impact {
    pub start: Node,
    pub direction: &'static str,
    /// Edges walked, each with its distance from the start (1 = next to it).
    pub edges: Vec<(usize, Edge)>,
    /// Datasets reached (not the start's), with their pipeline and owner.
    pub datasets: Vec<Reached>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Reached {
    pub dataset: String,
    pub layer: String,
    pub pipeline: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    /// Columns reached.
    pub columns: Vec<String>,
    /// The rows of the whole dataset are reached (a filter, join key, grouping or dedupe key).
    pub all_rows: bool,
}

/// Parses `silver.orders.amount` (or `silver.orders`) against the graph's datasets.
pub fn parse_target(g: &Graph, target: &str) -> Result<Node, String> {
    if g.datasets.contains_key(target) {
        return Ok(Node {
            dataset: target.to_string(),
            column: None,
        });
    }
    if let Some((t, c)) = target.rsplit_once('.') {
        if let Some(d) = g.datasets.get(t) {
            if d.columns.iter().any(|x| x == c) {
                return Ok(Node {
                    dataset: t.to_string(),
                    column: Some(c.to_string()),
                });
            }
            return Err(format!(
                "{t} has no column `{c}`; its columns are: {}",
                d.columns.join(", ")
            ));
        }
    }
    let tables: Vec<&str> = g
        .datasets
        .values()
        .filter(|d| d.layer != "source")
        .map(|d| d.name.as_str())
        .collect();
    Err(format!(
        "no table `{target}` in the job specs; the tables are: {}",
        tables.join(", ")
    ))
}

/// Walks the graph from `start` up to `depth` steps (None: all the way).
pub fn walk(g: &Graph, start: &Node, direction: Direction, depth: Option<usize>) -> Impact {
    let mut seen: BTreeSet<Node> = BTreeSet::from([start.clone()]);
    let mut queue = VecDeque::from([(start.clone(), 0usize)]);
    let mut edges = Vec::new();
    while let Some((node, d)) = queue.pop_front() {
        if depth.is_some_and(|max| d >= max) {
            continue;
        }
        for e in g.edges.iter().filter(|e| touches(e, &node, direction)) {
            edges.push((d + 1, e.clone()));
            for next in next_nodes(e, direction) {
                if seen.insert(next.clone()) {
                    queue.push_back((next, d + 1));
                }
            }
        }
    }
    edges.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.cmp(&b.1)));
    // An edge reached at several distances is shown once, at the nearest.
    let mut shown = BTreeSet::new();
    edges.retain(|(_, e)| shown.insert(e.clone()));
    Impact {
        start: start.clone(),
        direction: match direction {
            Direction::Upstream => "upstream",
            Direction::Downstream => "downstream",
        },
        datasets: reached(g, start, &seen),
        edges,
    }
}

/// Whether `e` leads away from `node` in `direction`. Upstream of a column: the edges into
/// it and the dataset-level edges into its table (filters decide its rows too). Downstream
/// of a column: the edges out of it. Of a whole table: every edge in or out.
fn touches(e: &Edge, node: &Node, direction: Direction) -> bool {
    match direction {
        Direction::Upstream => {
            e.to.0 == node.dataset
                && (node.column.is_none() || e.to.1.is_none() || e.to.1 == node.column)
        }
        Direction::Downstream => {
            e.from.0 == node.dataset
                && (node.column.is_none() || Some(&e.from.1) == node.column.as_ref())
        }
    }
}

fn next_nodes(e: &Edge, direction: Direction) -> Vec<Node> {
    match direction {
        Direction::Upstream => vec![Node {
            dataset: e.from.0.clone(),
            column: Some(e.from.1.clone()),
        }],
        // A dataset-level dependency affects every column of the dependent table.
        Direction::Downstream => vec![Node {
            dataset: e.to.0.clone(),
            column: e.to.1.clone(),
        }],
    }
}

fn reached(g: &Graph, start: &Node, seen: &BTreeSet<Node>) -> Vec<Reached> {
    let mut by: BTreeMap<&str, (BTreeSet<String>, bool)> = BTreeMap::new();
    for n in seen.iter().filter(|n| *n != start) {
        let (cols, all) = by.entry(n.dataset.as_str()).or_default();
        match &n.column {
            Some(c) => {
                cols.insert(c.clone());
            }
            None => *all = true,
        }
    }
    by.into_iter()
        .filter_map(|(name, (cols, all_rows))| {
            let d = g.datasets.get(name)?;
            Some(Reached {
                dataset: name.to_string(),
                layer: d.layer.clone(),
                pipeline: d.pipeline.clone(),
                owner: d.owner.clone(),
                columns: cols.into_iter().collect(),
                all_rows,
            })
        })
        .collect()
}

/// Text: one line per edge, indented by distance.
pub fn to_text(i: &Impact) -> String {
    let mut out = format!("{} of {}:\n", i.direction, i.start);
    for (d, e) in &i.edges {
        let (a, b) = (
            format!("{}.{}", e.from.0, e.from.1),
            match &e.to.1 {
                Some(c) => format!("{}.{c}", e.to.0),
                None => format!("{} (rows)", e.to.0),
            },
        );
        let (near, far) = match i.direction {
            "upstream" => (b, a),
            _ => (a, b),
        };
        let t = &e.transform;
        out.push_str(&format!(
            "{}{near} {} {far}  [{:?} {:?}{}] pipeline {}\n",
            "  ".repeat(*d),
            if i.direction == "upstream" {
                "<-"
            } else {
                "->"
            },
            t.kind,
            t.subtype,
            if t.masking { ", masked" } else { "" },
            e.pipeline
        ));
    }
    if !i.datasets.is_empty() {
        out.push_str("datasets:\n");
        for r in &i.datasets {
            out.push_str(&format!(
                "  {} ({}, pipeline {}{}){}\n",
                r.dataset,
                r.layer,
                r.pipeline,
                r.owner
                    .as_ref()
                    .map(|o| format!(", owner {o}"))
                    .unwrap_or_default(),
                match (r.all_rows, r.columns.is_empty()) {
                    (true, true) => ": all rows".to_string(),
                    (true, false) => format!(": all rows; {}", r.columns.join(", ")),
                    (false, _) => format!(": {}", r.columns.join(", ")),
                }
            ));
        }
    }
    out
}

fn dot_id(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

/// The edges of several walks (upstream and downstream), each once.
fn all_edges(walks: &[Impact]) -> Vec<&Edge> {
    let mut seen = BTreeSet::new();
    walks
        .iter()
        .flat_map(|w| w.edges.iter().map(|(_, e)| e))
        .filter(|e| seen.insert(*e))
        .collect()
}

/// Graphviz DOT of the walks (one graph): one node per table or column reached, DIRECT edges
/// solid, INDIRECT dashed.
pub fn to_dot(walks: &[Impact]) -> String {
    let mut out = String::from(
        "digraph lineage {\n  rankdir=LR;\n  node [shape=box, fontname=\"Helvetica\"];\n",
    );
    for e in all_edges(walks) {
        let from = format!("{}.{}", e.from.0, e.from.1);
        let to =
            e.to.1
                .as_ref()
                .map_or(e.to.0.clone(), |c| format!("{}.{c}", e.to.0));
        let style = if e.transform.kind == Kind::Indirect {
            "dashed"
        } else {
            "solid"
        };
        out.push_str(&format!(
            "  {} -> {} [label=\"{:?}\", style={style}];\n",
            dot_id(&from),
            dot_id(&to),
            e.transform.subtype
        ));
    }
    out.push_str("}\n");
    out
}

/// Mermaid flowchart of the walks (one chart).
pub fn to_mermaid(walks: &[Impact]) -> String {
    let mut ids: BTreeMap<String, usize> = BTreeMap::new();
    let id = |s: String, ids: &mut BTreeMap<String, usize>| {
        let n = ids.len();
        *ids.entry(s).or_insert(n)
    };
    let mut lines = Vec::new();
    for e in all_edges(walks) {
        let from = format!("{}.{}", e.from.0, e.from.1);
        let to =
            e.to.1
                .as_ref()
                .map_or(e.to.0.clone(), |c| format!("{}.{c}", e.to.0));
        let (a, b) = (id(from, &mut ids), id(to, &mut ids));
        let arrow = if e.transform.kind == Kind::Indirect {
            "-.->"
        } else {
            "-->"
        };
        lines.push(format!("  n{a} {arrow}|{:?}| n{b}", e.transform.subtype));
    }
    let mut out = String::from("flowchart LR\n");
    for (name, n) in &ids {
        out.push_str(&format!("  n{n}[\"{}\"]\n", name.replace('"', "'")));
    }
    for l in lines {
        out.push_str(&l);
        out.push('\n');
    }
    out
}
