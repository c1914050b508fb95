//! Text in the reports' Markdown: values read from the trail, the catalog or the lake are
//! text, never markup. Every ASCII punctuation character that Markdown or inline HTML could
//! read (`<` `>` `&` `` ` `` `*` `_` `[` `]` `|` `\` `!` `#` `~`) is backslash-escaped (CommonMark
//! renders `\<` as `<`), and line breaks become spaces (a value stays in its table cell or
//! list item).

/// `s` as literal Markdown text.
pub fn text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\n' | '\r' => out.push(' '),
            '<' | '>' | '&' | '`' | '*' | '_' | '[' | ']' | '|' | '\\' | '!' | '#' | '~' => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_in_a_value_is_text() {
        assert_eq!(text("hotfix <!-- x"), "hotfix \\<\\!-- x");
        assert_eq!(
            text("[a](javascript:x) *b* _c_ `d` &amp; |e|\nf"),
            "\\[a\\](javascript:x) \\*b\\* \\_c\\_ \\`d\\` \\&amp; \\|e\\| f"
        );
    }
}
