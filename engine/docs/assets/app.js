// medallion docs: renders the pages from window.MEDALLION_DOCS (assets/data.js), routed by
// the URL hash (#/tables/silver.orders, #/lineage, #/search/amount). Text from the project
// (descriptions, SQL, names) is always set as text, never parsed as HTML; only the SVG
// pictures medallion generated are inserted as markup.
"use strict";
(function () {
  const D = window.MEDALLION_DOCS;
  const main = document.getElementById("main");

  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined) continue;
      if (k === "class") e.className = v; else e.setAttribute(k, v);
    }
    for (const c of children.flat()) {
      if (c === null || c === undefined) continue;
      e.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return e;
  }
  const link = (href, text) => el("a", { href }, text);
  const tableHref = (n) => "#/tables/" + encodeURIComponent(n);
  const pipelineHref = (n) => "#/pipelines/" + encodeURIComponent(n);
  const layer = (l) => el("span", { class: "layer layer-" + l }, l);
  const num = (n) => (n === null || n === undefined ? "unknown" : Number(n).toLocaleString("en"));
  const bytes = (n) => {
    if (n === null || n === undefined) return "unknown";
    const u = ["B", "KiB", "MiB", "GiB", "TiB"]; let i = 0; let v = n;
    while (v >= 1024 && i < u.length - 1) { v /= 1024; i++; }
    return (i ? v.toFixed(1) : v) + " " + u[i];
  };
  function grid(headers, rows) {
    const head = el("tr", {}, headers.map((h) => el("th", { class: h.startsWith("#") ? "num" : null }, h.replace(/^#/, ""))));
    return el("table", { class: "grid" }, el("thead", {}, head),
      el("tbody", {}, rows.map((r) => el("tr", {}, r.map((c, i) => el("td", { class: headers[i].startsWith("#") ? "num" : null }, c))))));
  }
  function svg(markup, cls) {
    const box = el("div", { class: "graph " + (cls || "") });
    if (markup) box.innerHTML = markup; else box.append(el("p", { class: "muted" }, "nothing to draw"));
    box.querySelectorAll("g.node[data-table]").forEach((g) => {
      g.addEventListener("click", () => { location.hash = tableHref(g.dataset.table); });
      const t = document.createElementNS("http://www.w3.org/2000/svg", "title");
      t.textContent = g.dataset.table; g.append(t);
    });
    return box;
  }

  function overview() {
    const a = D.audit;
    return [
      el("h1", {}, "Environment ", D.environment),
      el("div", { class: "cards" },
        el("div", { class: "card" }, el("div", { class: "big" }, D.tables.length), link("#/tables", "tables")),
        el("div", { class: "card" }, el("div", { class: "big" }, D.pipelines.length), link("#/pipelines", "pipelines")),
        el("div", { class: "card" }, el("div", { class: "big" }, D.lineage.edges.length), link("#/lineage", "column lineage edges")),
        el("div", { class: "card" }, el("div", { class: "big " + (a.verdict === "intact" ? "ok" : "bad") }, a.verdict),
          link("#/audit", "audit trail (" + num(a.records_total) + " records)"))),
      D.problems.length ? el("div", { class: "problems" }, el("strong", {}, "Could not be read:"),
        el("ul", {}, D.problems.map((p) => el("li", {}, p)))) : null,
      el("h2", {}, "Settings"),
      grid(["setting", "value"], [["lake", D.lake], ["catalog", D.catalog], ["retention", D.retention_days + " days"],
        ["generated", D.generated_at]]),
    ];
  }

  function tables() {
    return [el("h1", {}, "Tables"), grid(
      ["table", "layer", "pipeline", "owner", "#version", "#rows", "#size", "last commit", "description"],
      D.tables.map((t) => [link(tableHref(t.name), t.name), layer(t.layer), link(pipelineHref(t.pipeline), t.pipeline),
        t.owner || "", t.delta_version ?? "not written", num(t.rows), bytes(t.bytes),
        t.last_commit ? (t.last_commit.at || "") + " " + (t.last_commit.operation || "") : "", t.description || ""]))];
  }

  function tablePage(name) {
    const t = D.tables.find((x) => x.name === name);
    if (!t) return [el("h1", {}, "No table ", name)];
    const cols = t.columns.map((c) => [el("span", { id: "col-" + c.name }, c.name), c.type, c.nullable ? "yes" : "no",
      [c.classification ? el("span", { class: "tag" + (c.classification === "pii" ? " pii" : "") }, c.classification) : null,
       c.pii ? el("span", { class: "tag pii" }, "pii: " + c.pii) : null], c.description || ""]);
    return [
      el("h1", {}, t.name, " ", layer(t.layer)),
      t.description ? el("p", {}, t.description) : null,
      grid(["", ""], [
        ["pipeline", link(pipelineHref(t.pipeline), t.pipeline)], ["owner", t.owner || "none named"],
        ["in catalog", t.in_catalog ? "yes" : t.delta_version !== null ? "no: in the lake only (medallion catalog sync registers it)" : "no: the specs produce it, it has not been written"],
        ["location", t.location], ["pinned schema", t.schema_ref || ""],
        ["Delta version", t.delta_version ?? ""], ["rows", num(t.rows)], ["files", num(t.files)], ["size", bytes(t.bytes)],
        ["last commit", t.last_commit ? `v${t.last_commit.version} ${t.last_commit.at || ""} ${t.last_commit.operation || ""}` : ""],
        ["retention", t.retention_days + " days (environment)"]]),
      el("h2", {}, "Columns"), grid(["column", "type", "nullable", "classification", "description"], cols),
      el("h2", {}, "Column lineage"), legend(), svg(t.column_graph_svg, "focus"),
    ];
  }

  function legend() {
    return el("p", { class: "legend muted" }, el("span", {}, "solid: computed from (DIRECT)"),
      el("span", {}, "dashed: filters, joins or groups it (INDIRECT)"), el("span", {}, "click a table of the table-level graph to open it"));
  }

  function pipelines() {
    return [el("h1", {}, "Pipelines"), grid(["pipeline", "owner", "source", "tables", "rules", "last run", "description"],
      D.pipelines.map((p) => [link(pipelineHref(p.name), p.name), p.owner || "", p.source.join(", "),
        p.tables.map((t) => el("div", {}, link(tableHref(t), t))), p.rules.length,
        p.runs[0] ? p.runs[0].status + " " + p.runs[0].at : "no run in the trail", p.description || ""]))];
  }

  function pipelinePage(name) {
    const p = D.pipelines.find((x) => x.name === name);
    if (!p) return [el("h1", {}, "No pipeline ", name)];
    return [
      el("h1", {}, "Pipeline ", p.name), p.description ? el("p", {}, p.description) : null,
      grid(["", ""], [["owner", p.owner || "none named"], ["spec", p.spec_file], ["source", p.source.join(", ")],
        ["tables", p.tables.map((t) => el("div", {}, link(tableHref(t), t)))]]),
      el("h2", {}, "Rules"),
      grid(["rule", "check", "on fail", "last outcome", "description"],
        p.rules.map((r) => [el("span", { id: "rule-" + r.name }, r.name), el("code", {}, r.check), r.on_fail,
          r.last_outcome || "no run recorded it", r.description || ""])),
      p.rules_chart_svg ? [el("h2", {}, "Rows failing each rule, last runs (oldest left)"), svg(p.rules_chart_svg, "chart")] : null,
      el("h2", {}, "Last runs"),
      grid(["run", "at", "status", "#duration (s)", "quarantined", "dropped", "error"],
        p.runs.map((r) => [r.run_id.slice(0, 8), r.at, r.status,
          r.duration_ms === null ? "" : (r.duration_ms / 1000).toFixed(1),
          Object.entries(r.quarantined).map(([k, v]) => k + ": " + v).join(", "),
          Object.entries(r.dropped).map(([k, v]) => k + ": " + v).join(", "), r.error || ""])),
      el("h2", {}, "Spec"), el("pre", {}, p.spec_text),
    ];
  }

  function lineage(arg) {
    const mode = arg === "columns" ? "columns" : arg ? "focus" : "tables";
    const bar = el("div", { class: "toolbar" },
      el("a", { href: "#/lineage", class: mode === "tables" ? "active" : null }, "Tables"),
      el("a", { href: "#/lineage/columns", class: mode === "columns" ? "active" : null }, "Columns"));
    let body;
    if (mode === "tables") body = svg(D.lineage.tables_svg, "tables");
    else if (mode === "columns") body = svg(D.lineage.columns_svg, "columns");
    else {
      const t = D.tables.find((x) => x.name === arg);
      body = t ? [el("h2", {}, t.name), svg(t.column_graph_svg, "focus")] : el("p", {}, "No table ", arg);
    }
    return [el("h1", {}, "Lineage"), bar, legend(), body];
  }

  function audit() {
    const a = D.audit;
    const rows = a.records.map((r) => [r.seq, r.at, r.action, r.table ? link(tableHref(r.table), r.table) : "",
      r.version ?? "", r.pipeline || "", (r.run_id || "").slice(0, 8), r.who]);
    const table = grid(["#seq", "at (UTC)", "action", "table", "#version", "pipeline", "run", "who"], rows);
    const filter = el("input", { class: "filter", type: "search", placeholder: "Filter records" });
    filter.addEventListener("input", () => {
      const q = filter.value.toLowerCase();
      table.querySelectorAll("tbody tr").forEach((tr) => { tr.hidden = q && !tr.textContent.toLowerCase().includes(q); });
    });
    return [el("h1", {}, "Audit trail"),
      el("p", {}, "Verification: ", el("span", { class: a.verdict === "intact" ? "ok" : "bad" }, a.verdict),
        ` (${num(a.records_total)} records in ${a.trail}; the last ${D.audit_days} days shown, newest first)`),
      a.findings.length ? el("ul", { class: "problems" }, a.findings.map((f) => el("li", {}, f))) : null,
      filter, table];
  }

  // Search: every table, column, pipeline and rule, by substring of its name or description.
  function index() {
    const items = [];
    for (const t of D.tables) {
      items.push({ kind: "table", name: t.name, text: t.description || "", href: tableHref(t.name) });
      for (const c of t.columns) items.push({ kind: "column", name: t.name + "." + c.name,
        text: [c.type, c.classification, c.description].filter(Boolean).join(" "), href: tableHref(t.name) });
    }
    for (const p of D.pipelines) {
      items.push({ kind: "pipeline", name: p.name, text: p.description || "", href: pipelineHref(p.name) });
      for (const r of p.rules) items.push({ kind: "rule", name: p.name + "." + r.name, text: r.check + " " + (r.description || ""), href: pipelineHref(p.name) });
    }
    return items;
  }
  const INDEX = index();

  function search(q) {
    const needle = q.toLowerCase();
    const hits = needle ? INDEX.filter((i) => (i.name + " " + i.text).toLowerCase().includes(needle)) : [];
    hits.sort((a, b) => (b.name.toLowerCase().includes(needle) - a.name.toLowerCase().includes(needle)) || a.name.localeCompare(b.name));
    return [el("h1", {}, "Search: ", q), el("p", { class: "muted" }, hits.length + " found"),
      el("ul", { class: "results" }, hits.map((h) => el("li", { "data-kind": h.kind, "data-name": h.name },
        el("span", { class: "tag" }, h.kind), " ", link(h.href, h.name), " ", el("span", { class: "muted" }, h.text))))];
  }

  const routes = { "": overview, tables: (a) => (a ? tablePage(a) : tables()), pipelines: (a) => (a ? pipelinePage(a) : pipelines()),
    lineage, audit, search: (a) => search(a || "") };

  function route() {
    const [, page = "", ...rest] = location.hash.replace(/^#/, "").split("/");
    let arg = rest.join("/");
    try { arg = decodeURIComponent(arg); } catch (e) { /* a malformed escape: use it as typed */ }
    const render = routes[page] || overview;
    main.replaceChildren(...[render(arg)].flat(2).filter(Boolean));
    document.querySelectorAll("header nav a").forEach((a) => a.classList.toggle("active", a.getAttribute("href") === "#/" + page));
    const input = document.getElementById("search");
    if (page === "search" && input.value !== arg) input.value = arg;
    document.body.dataset.page = page || "overview";
  }

  document.getElementById("env").textContent = D.environment;
  document.title = "medallion docs: " + D.environment;
  document.getElementById("footer").textContent = "Generated by medallion docs at " + D.generated_at + " from the environment's catalog, Delta logs, job specs and audit trail.";
  document.getElementById("search").addEventListener("input", (e) => { location.hash = "#/search/" + encodeURIComponent(e.target.value); });
  window.addEventListener("hashchange", route);
  route();
})();
