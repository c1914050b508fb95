//! The lineage graphs as SVG, laid out by `layout-rs` (a layered layout, as Graphviz's dot).
//!
//! Every table node is a `<g class="node" data-table="...">` and every edge a
//! `<g class="edge" data-from="..." data-to="...">` (column edges also carry
//! `data-from-column` / `data-to-column`), so the page can make them clickable and a test can
//! read what the graph shows. A long edge is drawn as several segments with the same data.

use std::collections::{BTreeMap, BTreeSet};

use layout::backends::svg::SVGWriter;
use layout::core::base::Orientation;
use layout::core::color::Color;
use layout::core::style::{LineStyleKind, StyleAttr};
use layout::std_shapes::render::get_shape_size;
use layout::std_shapes::shapes::{Arrow, Element, LineEndKind, RecordDef, ShapeKind};
use layout::topo::layout::VisualGraph;
use medallion_core::lineage::{Graph, Kind};

const FONT: usize = 14;

/// Fill colour of a dataset's node by layer.
fn fill(layer: &str) -> Color {
    Color::fast(match layer {
        "bronze" => "#f0d2b4",
        "silver" => "#dde3ea",
        "gold" => "#f8e08e",
        "quarantine" => "#f6c9c4",
        _ => "#eeeeee",
    })
}

/// `"` `&` `<` `>` escaped, for an attribute value.
pub fn attr(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('"', "&quot;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// The table-level graph: one box per dataset, one edge per pair of datasets with a column
/// edge between them.
pub fn tables(g: &Graph, prefix: &str) -> Result<String, String> {
    let mut vg = VisualGraph::new(Orientation::LeftToRight);
    let mut nodes = BTreeMap::new();
    for (name, d) in &g.datasets {
        let shape = ShapeKind::new_box(name);
        let size = get_shape_size(Orientation::LeftToRight, &shape, FONT, false);
        let look = StyleAttr::new(Color::fast("#555555"), 1, Some(fill(&d.layer)), 6, FONT);
        let props = format!(
            "class=\"node layer-{}\" data-table=\"{}\"",
            attr(&d.layer),
            attr(name)
        );
        let e = Element::create_with_properties(shape, look, Orientation::LeftToRight, size, props);
        nodes.insert(name.clone(), vg.add_node(e));
    }
    // Tables a query reads that no spec of the project produces (known from the catalog).
    let missing: BTreeSet<&String> = g
        .edges
        .iter()
        .flat_map(|e| [&e.from.0, &e.to.0])
        .filter(|n| !g.datasets.contains_key(*n))
        .collect();
    for name in missing {
        let shape = ShapeKind::new_box(name);
        let size = get_shape_size(Orientation::LeftToRight, &shape, FONT, false);
        let look = StyleAttr::new(Color::fast("#555555"), 1, Some(fill("")), 6, FONT);
        let props = format!("class=\"node layer-other\" data-table=\"{}\"", attr(name));
        let e = Element::create_with_properties(shape, look, Orientation::LeftToRight, size, props);
        nodes.insert(name.clone(), vg.add_node(e));
    }
    let pairs: BTreeSet<(&String, &String)> = g
        .edges
        .iter()
        .filter(|e| e.from.0 != e.to.0)
        .map(|e| (&e.from.0, &e.to.0))
        .collect();
    for (from, to) in pairs {
        let (Some(a), Some(b)) = (nodes.get(from), nodes.get(to)) else {
            continue;
        };
        let props = format!(
            "class=\"edge\" data-from=\"{}\" data-to=\"{}\"",
            attr(from),
            attr(to)
        );
        vg.add_edge(Arrow::simple_with_properties("", props), *a, *b);
    }
    render(vg, prefix)
}

/// The column-level graph of the datasets in `keep` (all when None): each dataset a record of
/// its columns, each column edge from column to column (INDIRECT ones dashed).
pub fn columns(g: &Graph, keep: Option<&BTreeSet<String>>, prefix: &str) -> Result<String, String> {
    let wanted = |name: &str| keep.is_none_or(|k| k.contains(name));
    let edges: Vec<_> = g
        .edges
        .iter()
        .filter(|e| e.from.0 != e.to.0 && wanted(&e.from.0) && wanted(&e.to.0))
        .collect();
    // Only the columns some edge touches (a focused graph) or all of them (the whole project).
    let mut cols: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for (name, d) in g.datasets.iter().filter(|(n, _)| wanted(n)) {
        let set = cols.entry(name.as_str()).or_default();
        if keep.is_none() {
            set.extend(d.columns.iter().map(String::as_str));
        }
    }
    for e in &edges {
        cols.entry(&e.from.0).or_default().insert(&e.from.1);
        if let Some(c) = &e.to.1 {
            cols.entry(&e.to.0).or_default().insert(c);
        }
    }
    let mut vg = VisualGraph::new(Orientation::LeftToRight);
    let mut nodes = BTreeMap::new();
    for (name, set) in &cols {
        let layer = g.datasets.get(*name).map_or("source", |d| d.layer.as_str());
        let mut fields = vec![RecordDef::new_text(name)];
        fields.extend(set.iter().map(|c| RecordDef::new_text_with_port(c, c)));
        let shape = ShapeKind::new_record(&RecordDef::Array(fields));
        // A record drawn left to right lists its fields top to bottom.
        let size = get_shape_size(Orientation::TopToBottom, &shape, FONT, false);
        let look = StyleAttr::new(Color::fast("#555555"), 1, Some(fill(layer)), 0, FONT);
        let e = Element::create(shape, look, Orientation::TopToBottom, size);
        nodes.insert(*name, vg.add_node(e));
    }
    let mut seen = BTreeSet::new();
    for e in edges {
        // A DIRECT and an INDIRECT edge between the same columns are two edges.
        let key = (&e.from, &e.to, e.transform.kind);
        if !seen.insert(key) {
            continue;
        }
        let (Some(a), Some(b)) = (nodes.get(e.from.0.as_str()), nodes.get(e.to.0.as_str())) else {
            continue;
        };
        let style = match e.transform.kind {
            Kind::Direct => LineStyleKind::Normal,
            Kind::Indirect => LineStyleKind::Dashed,
        };
        let props = format!(
            "class=\"edge {}\" data-from=\"{}\" data-from-column=\"{}\" data-to=\"{}\" data-to-column=\"{}\"",
            if e.transform.kind == Kind::Direct { "direct" } else { "indirect" },
            attr(&e.from.0),
            attr(&e.from.1),
            attr(&e.to.0),
            attr(e.to.1.as_deref().unwrap_or(""))
        );
        let arrow = Arrow::with_properties(
            LineEndKind::None,
            LineEndKind::Arrow,
            style,
            "",
            &StyleAttr::new(Color::fast("#444444"), 1, None, 0, FONT),
            props,
            &Some(e.from.1.clone()),
            &e.to.1.clone(),
        );
        vg.add_edge(arrow, *a, *b);
    }
    render(vg, prefix)
}

/// Lays out and draws `vg`. Element ids get `prefix` so that several graphs can sit in one
/// page. The layout library panics on some graphs it cannot lay out; that is an error here.
fn render(mut vg: VisualGraph, prefix: &str) -> Result<String, String> {
    if vg.num_nodes() == 0 {
        return Ok(String::new());
    }
    // The process's panic hook reports a panic as a bug; this one is caught and reported
    // as an error of the graph, so the hook is silenced meanwhile.
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let svg = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || {
        let mut w = SVGWriter::new();
        vg.do_it(false, false, false, &mut w);
        w.finalize()
    }));
    std::panic::set_hook(hook);
    let svg = svg.map_err(|p| {
        let msg = p
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default();
        format!("the graph layout failed: {msg}")
    })?;
    // Drop the XML prolog (the SVG is inlined in HTML) and make the ids unique per graph.
    let svg = match svg.find("<svg") {
        Some(i) => &svg[i..],
        None => &svg,
    };
    Ok(in_tags(svg, |tag| {
        tag.replace("id=\"arrow", &format!("id=\"{prefix}arrow"))
            .replace("href=\"#arrow", &format!("href=\"#{prefix}arrow"))
            .replace("id=\"C", &format!("id=\"{prefix}C"))
            .replace("url(#C", &format!("url(#{prefix}C"))
            .replace("<svg ", "<svg class=\"lineage-graph\" ")
    }))
}

/// Applies `f` to each tag (`<...>`) of `svg`, leaving the text between tags (names shown in
/// the graph, escaped by the SVG writer) as it is.
fn in_tags(svg: &str, f: impl Fn(&str) -> String) -> String {
    let mut out = String::with_capacity(svg.len() + 1024);
    let mut rest = svg;
    while let Some(start) = rest.find('<') {
        out.push_str(&rest[..start]);
        let end = rest[start..]
            .find('>')
            .map_or(rest.len(), |e| start + e + 1);
        out.push_str(&f(&rest[start..end]));
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use medallion_core::lineage::graph::{Dataset, Edge};
    use medallion_core::lineage::{Kind, Subtype, Transform};

    use super::*;

    fn dataset(name: &str, layer: &str, columns: &[&str]) -> (String, Dataset) {
        let d = Dataset {
            name: name.into(),
            layer: layer.into(),
            pipeline: "p".into(),
            owner: None,
            columns: columns.iter().map(|c| c.to_string()).collect(),
        };
        (name.into(), d)
    }

    fn edge(from: (&str, &str), to: (&str, &str), kind: Kind) -> Edge {
        Edge {
            from: (from.0.into(), from.1.into()),
            to: (to.0.into(), Some(to.1.into())),
            transform: Transform {
                kind,
                subtype: Subtype::Identity,
                masking: false,
            },
            pipeline: "p".into(),
        }
    }

    /// A source path with markup in it (a file name is anyone's to choose).
    const HOSTILE: &str = r#"files:in/"><script>x()</script>.json"#;

    fn graph() -> Graph {
        Graph {
            datasets: [
                dataset(HOSTILE, "source", &["a"]),
                dataset("bronze.t", "bronze", &["a", "b"]),
                dataset("silver.t", "silver", &["a"]),
            ]
            .into_iter()
            .collect(),
            edges: vec![
                edge((HOSTILE, "a"), ("bronze.t", "a"), Kind::Direct),
                edge(("bronze.t", "a"), ("silver.t", "a"), Kind::Direct),
                edge(("bronze.t", "b"), ("silver.t", "a"), Kind::Indirect),
            ],
        }
    }

    #[test]
    fn table_graph_has_every_node_and_edge_with_escaped_names() {
        let svg = tables(&graph(), "x-").unwrap();
        assert!(svg.starts_with("<svg class=\"lineage-graph\""), "{svg}");
        assert!(
            !svg.contains("<script>"),
            "markup from a name got into the SVG: {svg}"
        );
        let escaped = attr(HOSTILE);
        assert!(svg.contains(&format!("data-table=\"{escaped}\"")));
        assert!(svg.contains(&format!("data-from=\"{escaped}\" data-to=\"bronze.t\"")));
        assert!(svg.contains("data-from=\"bronze.t\" data-to=\"silver.t\""));
        // Two column edges between bronze.t and silver.t are one table edge.
        assert_eq!(svg.matches("data-to=\"silver.t\"").count(), 1, "{svg}");
    }

    #[test]
    fn column_graph_marks_direct_and_indirect_and_prefixes_ids() {
        let svg = columns(&graph(), None, "g1-").unwrap();
        assert!(svg.contains("class=\"edge direct\" data-from=\"bronze.t\" data-from-column=\"a\" data-to=\"silver.t\" data-to-column=\"a\""));
        assert!(
            svg.contains("class=\"edge indirect\" data-from=\"bronze.t\" data-from-column=\"b\"")
        );
        assert!(
            !svg.contains("id=\"arrow"),
            "ids not prefixed: two graphs in one page would clash"
        );
        assert!(svg.contains("id=\"g1-arrow"));
    }

    #[test]
    fn focused_graph_keeps_only_the_named_datasets() {
        let keep = BTreeSet::from(["bronze.t".to_string(), "silver.t".to_string()]);
        let svg = columns(&graph(), Some(&keep), "f-").unwrap();
        assert!(!svg.contains("script"), "{svg}");
        assert_eq!(svg.matches("class=\"edge").count(), 2, "{svg}");
    }

    #[test]
    fn text_that_looks_like_an_id_is_not_rewritten() {
        let mut g = graph();
        g.datasets.insert(
            "silver.u".into(),
            dataset("silver.u", "silver", &["url(#C0) x"]).1,
        );
        g.edges.push(edge(
            ("bronze.t", "a"),
            ("silver.u", "url(#C0) x"),
            Kind::Direct,
        ));
        let svg = columns(&g, None, "p-").unwrap();
        assert!(
            svg.contains(">url(#C0) x<"),
            "the column's name changed: {svg}"
        );
    }

    #[test]
    fn direct_and_indirect_edges_between_the_same_columns_are_both_drawn() {
        let mut g = graph();
        g.edges
            .push(edge(("bronze.t", "a"), ("silver.t", "a"), Kind::Indirect));
        let svg = columns(&g, None, "d-").unwrap();
        let pair = "data-from=\"bronze.t\" data-from-column=\"a\" data-to=\"silver.t\"";
        assert!(
            svg.contains(&format!("class=\"edge direct\" {pair}")),
            "{svg}"
        );
        assert!(
            svg.contains(&format!("class=\"edge indirect\" {pair}")),
            "{svg}"
        );
    }

    #[test]
    fn a_table_only_the_catalog_knows_is_a_node() {
        let mut g = graph();
        g.edges.push(edge(
            ("silver.elsewhere", "k"),
            ("silver.t", "a"),
            Kind::Indirect,
        ));
        let svg = tables(&g, "c-").unwrap();
        assert!(svg.contains("data-table=\"silver.elsewhere\""), "{svg}");
        assert!(
            svg.contains("data-from=\"silver.elsewhere\" data-to=\"silver.t\""),
            "{svg}"
        );
    }

    #[test]
    fn an_empty_graph_draws_nothing() {
        assert_eq!(tables(&Graph::default(), "e-").unwrap(), "");
    }
}
