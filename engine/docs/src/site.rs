//! Writes the site: `index.html`, `assets/style.css`, `assets/app.js` (renders the pages from
//! the data, in the browser, with no network) and `assets/data.js` (the [`Site`] as JSON).

use std::path::{Path, PathBuf};

use crate::model::Site;

const INDEX: &str = include_str!("../assets/index.html");
const STYLE: &str = include_str!("../assets/style.css");
const APP: &str = include_str!("../assets/app.js");

/// The files written, in order.
pub fn write(site: &Site, out: &Path) -> Result<Vec<PathBuf>, String> {
    refuse_foreign_folder(out)?;
    let assets = out.join("assets");
    std::fs::create_dir_all(&assets)
        .map_err(|e| format!("{}: could not be created: {e}", assets.display()))?;
    let data = serde_json::to_string(site).map_err(|e| format!("the site's data: {e}"))?;
    let files = [
        (assets.join("style.css"), STYLE.to_string()),
        (assets.join("app.js"), APP.to_string()),
        (
            assets.join("data.js"),
            format!("window.MEDALLION_DOCS = {data};\n"),
        ),
        // Last: a folder with index.html is a complete site.
        (out.join("index.html"), INDEX.to_string()),
    ];
    let mut written = Vec::new();
    for (path, text) in files {
        std::fs::write(&path, text)
            .map_err(|e| format!("{}: could not be written: {e}", path.display()))?;
        written.push(path);
    }
    Ok(written)
}

/// `--out` must be a new or empty folder, or a site written before (its index.html names
/// medallion docs as its generator):
/// never someone's folder whose `index.html` we would overwrite.
fn refuse_foreign_folder(out: &Path) -> Result<(), String> {
    let Ok(mut entries) = std::fs::read_dir(out) else {
        return Ok(());
    };
    let empty = entries.next().is_none();
    let ours = std::fs::read_to_string(out.join("index.html"))
        .is_ok_and(|t| t.contains(r#"<meta name="generator" content="medallion docs">"#));
    if empty || ours {
        return Ok(());
    }
    Err(format!(
        "{} is not empty and is not a site `medallion docs` wrote; \
         choose a new folder for --out (it is created)",
        out.display()
    ))
}
