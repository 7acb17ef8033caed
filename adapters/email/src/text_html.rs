//! The HTML part of a mail whose message has only text (a free-text API reply, a template
//! without `.html.hbs`): [`html_from_text`]. Pure.
//!
//! Everything is escaped; blank lines separate paragraphs (`<p>`), single line breaks become
//! `<br>`, runs of spaces keep their width, and `http(s)://` URLs become links (the scheme
//! checked, the URL escaped in both the attribute and the text; trailing punctuation is left
//! outside the link). Nothing in the text can open a tag or an attribute.

use std::fmt::Write as _;

/// `text` as an HTML fragment: escaped paragraphs with their line breaks, URLs linked.
pub fn html_from_text(text: &str) -> String {
    let text = text.replace("\r\n", "\n").replace('\r', "\n");
    let mut html = String::with_capacity(text.len() + text.len() / 4 + 16);
    let mut paragraph: Vec<&str> = Vec::new();
    for line in text.lines().chain(std::iter::once("")) {
        if line.trim().is_empty() {
            if !paragraph.is_empty() {
                push_paragraph(&mut html, &paragraph);
                paragraph.clear();
            }
        } else {
            paragraph.push(line);
        }
    }
    html
}

fn push_paragraph(html: &mut String, lines: &[&str]) {
    if !html.is_empty() {
        html.push('\n');
    }
    html.push_str("<p>");
    for (index, line) in lines.iter().enumerate() {
        if index > 0 {
            html.push_str("<br>\n");
        }
        push_line(html, line.trim_end());
    }
    html.push_str("</p>");
}

/// One line: URLs linked, the rest escaped.
fn push_line(html: &mut String, line: &str) {
    let mut rest = line;
    let mut after_space = true;
    while let Some(start) = next_url(rest) {
        push_escaped(html, &rest[..start], after_space);
        let url = url_at(&rest[start..]);
        let escaped = escape(url);
        let _ = write!(html, "<a href=\"{escaped}\">{escaped}</a>");
        after_space = false;
        rest = &rest[start + url.len()..];
    }
    push_escaped(html, rest, after_space);
}

/// Where the next `http://` or `https://` starts, at a word start (so `xhttp://` is text).
fn next_url(text: &str) -> Option<usize> {
    let lower = text.to_ascii_lowercase();
    let mut from = 0;
    while let Some(found) = lower[from..].find("http") {
        let at = from + found;
        let tail = &lower[at..];
        let is_url = tail.starts_with("https://") || tail.starts_with("http://");
        let word_start = lower[..at]
            .chars()
            .next_back()
            .is_none_or(|c| !c.is_alphanumeric());
        let scheme_len = if tail.starts_with("https://") { 8 } else { 7 };
        if is_url && word_start && url_at(&text[at..]).len() > scheme_len {
            return Some(at);
        }
        from = at + 4;
    }
    None
}

/// The URL at the start of `text`: up to white space or a character that cannot be in one
/// unescaped (`<>"'` and friends), without trailing punctuation or an unbalanced `)`.
fn url_at(text: &str) -> &str {
    let end = text
        .char_indices()
        .find(|&(_, c)| {
            c.is_whitespace()
                || c.is_control()
                || matches!(
                    c,
                    '<' | '>' | '"' | '\'' | '`' | '{' | '}' | '|' | '\\' | '^'
                )
        })
        .map_or(text.len(), |(i, _)| i);
    let mut url = &text[..end];
    loop {
        let trimmed = url.trim_end_matches(['.', ',', ';', ':', '!', '?']);
        let trimmed = match trimmed.strip_suffix(')') {
            Some(inner) if inner.matches('(').count() < inner.matches(')').count() + 1 => inner,
            _ => trimmed,
        };
        if trimmed.len() == url.len() {
            return url;
        }
        url = trimmed;
    }
}

/// Escapes `text` onto `html`, keeping runs of spaces (every space after the first is
/// `&nbsp;`). Returns whether it ended with a space.
fn push_escaped(html: &mut String, text: &str, mut after_space: bool) -> bool {
    for c in text.chars() {
        match c {
            ' ' if after_space => html.push_str("&nbsp;"),
            '\t' => html.push_str("&nbsp;&nbsp;&nbsp;&nbsp;"),
            '&' => html.push_str("&amp;"),
            '<' => html.push_str("&lt;"),
            '>' => html.push_str("&gt;"),
            '"' => html.push_str("&quot;"),
            '\'' => html.push_str("&#39;"),
            c => html.push(c),
        }
        after_space = c == ' ' || c == '\t';
    }
    after_space
}

fn escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    push_escaped(&mut escaped, text, false);
    escaped
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_escaped_and_line_breaks_are_kept() {
        assert_eq!(
            html_from_text("Hello <b>&</b> \"you\"\nsecond line"),
            "<p>Hello &lt;b&gt;&amp;&lt;/b&gt; &quot;you&quot;<br>\nsecond line</p>"
        );
    }

    #[test]
    fn blank_lines_separate_paragraphs() {
        assert_eq!(
            html_from_text("one\r\ntwo\r\n\r\n\r\nthree\n  \nfour\n"),
            "<p>one<br>\ntwo</p>\n<p>three</p>\n<p>four</p>"
        );
        assert_eq!(html_from_text(""), "");
        assert_eq!(html_from_text("\n \n"), "");
    }

    #[test]
    fn runs_of_spaces_keep_their_width() {
        assert_eq!(
            html_from_text("  a  b\tc"),
            "<p>&nbsp;&nbsp;a &nbsp;b&nbsp;&nbsp;&nbsp;&nbsp;c</p>"
        );
    }

    #[test]
    fn web_urls_become_links_and_nothing_else_does() {
        assert_eq!(
            html_from_text("Track it at https://acme.test/t?a=1&b=2."),
            "<p>Track it at <a href=\"https://acme.test/t?a=1&amp;b=2\">\
             https://acme.test/t?a=1&amp;b=2</a>.</p>"
        );
        assert_eq!(
            html_from_text("(see http://x.test/a_(b)) or HTTPS://Y.test"),
            "<p>(see <a href=\"http://x.test/a_(b)\">http://x.test/a_(b)</a>) or \
             <a href=\"HTTPS://Y.test\">HTTPS://Y.test</a></p>"
        );
        for text in [
            "javascript:alert(1)",
            "xhttp://a.test",
            "https://",
            "data:text/html,<script>",
        ] {
            assert!(!html_from_text(text).contains("<a "), "{text}");
        }
    }

    #[test]
    fn a_url_cannot_break_out_of_its_attribute() {
        let html = html_from_text("https://a.test/\"onmouseover=alert(1)\" <script>x</script>");
        assert!(
            html.starts_with("<p><a href=\"https://a.test/\">"),
            "{html}"
        );
        assert!(!html.contains("<script"), "{html}");
        assert!(!html.contains("\"onmouseover"), "{html}");
    }
}
