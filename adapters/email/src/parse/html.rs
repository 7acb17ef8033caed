//! A small, forgiving HTML-to-text converter for mail bodies.
//!
//! mail-parser's own `html_to_text` only breaks lines at `<br>` and `</p>`, so the `<div>`-per-line
//! HTML that Gmail, Apple Mail and Outlook on the web write comes out as one run-on line
//! ("HiThanks"). This converter knows the block elements, drops `<head>`, `<style>`,
//! `<script>` and comments, decodes entities (named ones through mail-parser's table), keeps
//! `<pre>` as is, and can optionally remove the quoted history containers (Gmail's
//! `gmail_quote`, `<blockquote>`, Outlook's `divRplyFwdMsg` and header border block,
//! Thunderbird's `moz-cite-prefix`, Yahoo's `yahoo_quoted`) for [`crate::quote`].
//!
//! It never panics: the input is only ever sliced at ASCII positions (`<`, `>`, `&`, `;`).

/// Elements whose content is not text.
const RAW_SKIP: &[&str] = &[
    "head", "style", "script", "title", "template", "noscript", "xml",
];

/// Elements that start and end a line.
const BLOCKS: &[&str] = &[
    "div",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "ul",
    "ol",
    "table",
    "tr",
    "blockquote",
    "pre",
    "section",
    "article",
    "header",
    "footer",
    "address",
    "dl",
    "dt",
    "dd",
    "center",
    "form",
    "fieldset",
    "nav",
    "aside",
    "main",
    "figure",
    "figcaption",
    "details",
    "summary",
    "body",
];

/// Elements that never have a closing tag.
const VOID: &[&str] = &[
    "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track",
    "wbr",
];

/// `class` tokens of quoted-history containers (removed with their content).
const QUOTE_CLASSES: &[&str] = &[
    "gmail_quote",
    "gmail_quote_container",
    "gmail_signature",
    "moz-cite-prefix",
    "moz-signature",
    "yahoo_quoted",
];

/// HTML as readable text.
pub(crate) fn html_to_text(html: &str) -> String {
    Converter::new(false).run(html).0
}

/// HTML as readable text without the quoted history; the flag tells whether a quote
/// container was found (and removed).
pub(crate) fn html_to_text_without_quotes(html: &str) -> (String, bool) {
    Converter::new(true).run(html)
}

struct Converter {
    strip_quotes: bool,
    out: String,
    pending_space: bool,
    /// Inside a raw element (`<style>` ...): its name.
    raw_skip: Option<String>,
    /// Inside a removed quote container: its element name and nesting depth.
    removing: Option<(String, usize)>,
    /// Everything from here on is history.
    cut: bool,
    removed: bool,
    pre_depth: usize,
}

impl Converter {
    fn new(strip_quotes: bool) -> Self {
        Self {
            strip_quotes,
            out: String::new(),
            pending_space: false,
            raw_skip: None,
            removing: None,
            cut: false,
            removed: false,
            pre_depth: 0,
        }
    }

    fn run(mut self, html: &str) -> (String, bool) {
        let bytes = html.as_bytes();
        let mut i = 0;
        while i < bytes.len() && !self.cut {
            if bytes[i] == b'<' {
                let rest = &bytes[i..];
                if rest.starts_with(b"<!--") {
                    i = find(bytes, i + 4, b"-->").map_or(bytes.len(), |e| e + 3);
                    continue;
                }
                if rest.starts_with(b"<!") || rest.starts_with(b"<?") {
                    i = find(bytes, i + 2, b">").map_or(bytes.len(), |e| e + 1);
                    continue;
                }
                match parse_tag(html, i) {
                    Some(tag) => {
                        self.tag(&tag);
                        i = tag.end;
                    }
                    None => {
                        // A lone '<' (not a tag): text.
                        self.text("<");
                        i += 1;
                    }
                }
            } else {
                let end = find(bytes, i, b"<").unwrap_or(bytes.len());
                // `i` and `end` are at ASCII positions (or the ends), so this is a char boundary.
                if let Some(run) = html.get(i..end) {
                    self.text(run);
                }
                i = end;
            }
        }
        (finish(&self.out), self.removed)
    }

    fn at_line_start(&self) -> bool {
        self.out.is_empty() || self.out.ends_with('\n')
    }

    fn newline(&mut self) {
        if !self.at_line_start() {
            self.out.push('\n');
        }
        self.pending_space = false;
    }

    fn blank_line(&mut self) {
        self.newline();
        if !self.out.is_empty() && !self.out.ends_with("\n\n") {
            self.out.push('\n');
        }
    }

    fn tag(&mut self, tag: &Tag<'_>) {
        let name = tag.name.as_str();
        if let Some(raw) = &self.raw_skip {
            if tag.closing && name == raw || raw == "head" && name == "body" && !tag.closing {
                self.raw_skip = None;
            }
            return;
        }
        if let Some((removing, depth)) = &mut self.removing {
            if name == removing.as_str() && !VOID.contains(&name) {
                if tag.closing {
                    *depth -= 1;
                } else if !tag.self_closing {
                    *depth += 1;
                }
                if *depth == 0 {
                    self.removing = None;
                    self.newline();
                }
            }
            return;
        }
        if !tag.closing && RAW_SKIP.contains(&name) {
            if !tag.self_closing {
                self.raw_skip = Some(tag.name.clone());
            }
            return;
        }
        if self.strip_quotes && !tag.closing {
            if is_cut_point(tag) {
                self.cut = true;
                self.removed = true;
                return;
            }
            if is_quote_container(tag) {
                self.removed = true;
                if !tag.self_closing && !VOID.contains(&name) {
                    self.removing = Some((tag.name.clone(), 1));
                }
                return;
            }
        }
        match name {
            "br" => {
                self.out.push('\n');
                self.pending_space = false;
            }
            "hr" => {
                self.newline();
                self.out.push_str("---");
                self.newline();
            }
            "p" => {
                // Outlook writes one `<p class=MsoNormal>` (no margins) per line; other
                // paragraphs are separated by a blank line.
                if tag.attr("class").is_some_and(|c| c.contains("MsoNormal")) {
                    self.newline();
                } else {
                    self.blank_line();
                }
            }
            "li" if !tag.closing => {
                self.newline();
                self.out.push_str("- ");
            }
            "li" => self.newline(),
            "td" | "th" if tag.closing => self.pending_space = true,
            "pre" => {
                self.newline();
                if tag.closing {
                    self.pre_depth = self.pre_depth.saturating_sub(1);
                } else {
                    self.pre_depth += 1;
                }
            }
            _ if BLOCKS.contains(&name) => self.newline(),
            _ => {}
        }
    }

    fn text(&mut self, run: &str) {
        if self.raw_skip.is_some() || self.removing.is_some() || self.cut {
            return;
        }
        let mut rest = run;
        while !rest.is_empty() {
            let Some(amp) = rest.find('&') else {
                self.plain(rest);
                return;
            };
            self.plain(&rest[..amp]);
            let after = &rest[amp..];
            // An entity is `&name;`, `&#123;` or `&#x1F;`, at most 32 characters long.
            let semi = after
                .char_indices()
                .take(34)
                .skip(1)
                .find(|&(_, c)| !(c.is_ascii_alphanumeric() || c == '#'))
                .filter(|&(_, c)| c == ';')
                .map(|(pos, _)| pos);
            match semi {
                Some(semi) if semi > 1 => {
                    let decoded = decode_entity(&after[..=semi]);
                    self.plain(&decoded);
                    rest = &after[semi + 1..];
                }
                _ => {
                    self.plain("&");
                    rest = &after[1..];
                }
            }
        }
    }

    fn plain(&mut self, s: &str) {
        for c in s.chars() {
            if self.pre_depth > 0 {
                if c != '\r' {
                    self.out.push(c);
                }
                continue;
            }
            if c.is_whitespace() && c != '\u{a0}' && c != '\u{202f}' {
                self.pending_space = true;
                continue;
            }
            if self.pending_space && !self.at_line_start() {
                self.out.push(' ');
            }
            self.pending_space = false;
            self.out.push(if c == '\u{a0}' || c == '\u{202f}' {
                ' '
            } else {
                c
            });
        }
    }
}

/// `&name;`, `&#NNN;` or `&#xHH;` → the character (the entity itself when unknown).
fn decode_entity(entity: &str) -> String {
    let inner = entity
        .strip_prefix('&')
        .and_then(|e| e.strip_suffix(';'))
        .unwrap_or_default();
    if let Some(num) = inner.strip_prefix('#') {
        let code = match num.strip_prefix(['x', 'X']) {
            Some(hex) => u32::from_str_radix(hex, 16).ok(),
            None => num.parse::<u32>().ok(),
        };
        return code
            .map(|c| char::from_u32(c).unwrap_or(char::REPLACEMENT_CHARACTER))
            .map_or_else(|| entity.to_owned(), String::from);
    }
    if inner.is_empty() || !inner.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return entity.to_owned();
    }
    // mail-parser's table of the HTML named entities (leaves unknown ones as they are).
    let mut out = String::new();
    mail_parser::decoders::html::add_html_token(&mut out, entity.as_bytes(), false);
    out
}

/// Whether the rest of the document is history: Outlook's reply header (`divRplyFwdMsg`, the
/// `appendonsend` anchor before it, the bordered header block of Outlook for Windows,
/// `<hr id=stopSpelling>` of older Outlook.com).
fn is_cut_point(tag: &Tag<'_>) -> bool {
    if let Some(id) = tag.attr("id") {
        let id = id.to_ascii_lowercase();
        if id.contains("divrplyfwdmsg") || id == "appendonsend" || id == "stopspelling" {
            return true;
        }
    }
    if tag.name == "div"
        && let Some(style) = tag.attr("style")
    {
        let style: String = style
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect::<String>()
            .to_ascii_lowercase();
        if style.contains("border-top:solid#e1e1e1") || style.contains("border-top:solid#b5c4df") {
            return true;
        }
    }
    false
}

/// Whether the element is a quoted-history container to remove with its content.
fn is_quote_container(tag: &Tag<'_>) -> bool {
    if tag.name == "blockquote" {
        return true;
    }
    tag.attr("class").is_some_and(|class| {
        class
            .split_ascii_whitespace()
            .any(|c| QUOTE_CLASSES.iter().any(|q| c.eq_ignore_ascii_case(q)))
    })
}

struct Tag<'a> {
    /// Lowercased.
    name: String,
    closing: bool,
    self_closing: bool,
    attrs: &'a str,
    /// Index just past the `>`.
    end: usize,
}

impl Tag<'_> {
    /// The value of attribute `name` (case-insensitive), unquoted.
    fn attr(&self, name: &str) -> Option<&str> {
        let s = self.attrs;
        let b = s.as_bytes();
        let mut i = 0;
        while i < b.len() {
            while i < b.len() && (b[i].is_ascii_whitespace() || b[i] == b'/') {
                i += 1;
            }
            let start = i;
            while i < b.len() && !b[i].is_ascii_whitespace() && b[i] != b'=' && b[i] != b'/' {
                i += 1;
            }
            let attr_name = s.get(start..i).unwrap_or_default();
            while i < b.len() && b[i].is_ascii_whitespace() {
                i += 1;
            }
            let mut value = "";
            if i < b.len() && b[i] == b'=' {
                i += 1;
                while i < b.len() && b[i].is_ascii_whitespace() {
                    i += 1;
                }
                if i < b.len() && (b[i] == b'"' || b[i] == b'\'') {
                    let quote = b[i];
                    let vstart = i + 1;
                    i = vstart;
                    while i < b.len() && b[i] != quote {
                        i += 1;
                    }
                    value = s.get(vstart..i).unwrap_or_default();
                    i += 1;
                } else {
                    let vstart = i;
                    while i < b.len() && !b[i].is_ascii_whitespace() {
                        i += 1;
                    }
                    value = s.get(vstart..i).unwrap_or_default();
                }
            }
            if attr_name.is_empty() {
                i += 1;
                continue;
            }
            if attr_name.eq_ignore_ascii_case(name) {
                return Some(value);
            }
        }
        None
    }
}

/// The tag starting at `start` (a `<`), or None when it is not a tag.
fn parse_tag(html: &str, start: usize) -> Option<Tag<'_>> {
    let b = html.as_bytes();
    let mut i = start + 1;
    let closing = b.get(i) == Some(&b'/');
    if closing {
        i += 1;
    }
    if !b.get(i).is_some_and(u8::is_ascii_alphabetic) {
        return None;
    }
    let name_start = i;
    while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'-' || b[i] == b':') {
        i += 1;
    }
    let name = html.get(name_start..i)?.to_ascii_lowercase();
    let attrs_start = i;
    // Find the closing '>' outside quoted attribute values.
    let mut quote: Option<u8> = None;
    while i < b.len() {
        match (quote, b[i]) {
            (None, b'>') => break,
            (None, q @ (b'"' | b'\'')) => {
                // Only a quote right after `=` opens a value.
                let prev = b[attrs_start..i]
                    .iter()
                    .rev()
                    .find(|c| !c.is_ascii_whitespace());
                if prev == Some(&b'=') {
                    quote = Some(q);
                }
            }
            (Some(q), c) if c == q => quote = None,
            _ => {}
        }
        i += 1;
    }
    if i >= b.len() {
        // Unterminated tag: drop the rest.
        return Some(Tag {
            name,
            closing,
            self_closing: false,
            attrs: "",
            end: b.len(),
        });
    }
    let attrs = html.get(attrs_start..i).unwrap_or_default();
    Some(Tag {
        name,
        closing,
        self_closing: attrs.trim_end().ends_with('/'),
        attrs,
        end: i + 1,
    })
}

fn find(haystack: &[u8], from: usize, needle: &[u8]) -> Option<usize> {
    haystack
        .get(from..)?
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|p| p + from)
}

/// Trims each line's end, keeps at most one blank line in a row, drops leading and trailing
/// blank lines.
fn finish(out: &str) -> String {
    let mut result = String::with_capacity(out.len());
    let mut blank_run = 0;
    for line in out.split('\n') {
        let line = line.trim_end();
        if line.is_empty() {
            blank_run += 1;
            continue;
        }
        if !result.is_empty() {
            result.push('\n');
            if blank_run > 0 {
                result.push('\n');
            }
        }
        blank_run = 0;
        result.push_str(line);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn divs_and_breaks_become_lines() {
        let html = "<html><head><style>p{x:1}</style><title>t</title></head><body>\
            <div dir=\"ltr\">Hi,<div><br></div><div>Thanks &amp; regards,&nbsp;J&ouml;rg</div></div>\
            <!-- a <div> comment --></body></html>";
        assert_eq!(html_to_text(html), "Hi,\n\nThanks & regards, Jörg");
    }

    #[test]
    fn paragraphs_lists_and_entities() {
        let html = "<p>One\n  two</p><p>Three</p><ul><li>a</li><li>b &#8364; &#x41; &bogus; &amp</li></ul>";
        assert_eq!(
            html_to_text(html),
            "One two\n\nThree\n\n- a\n- b € A &bogus; &amp"
        );
    }

    #[test]
    fn outlook_msonormal_lines() {
        let html = "<p class=MsoNormal>Hello<o:p></o:p></p><p class=MsoNormal><o:p>&nbsp;</o:p></p>\
                    <p class=MsoNormal>Bye<o:p></o:p></p>";
        assert_eq!(html_to_text(html), "Hello\n\nBye");
    }

    #[test]
    fn quote_containers_removed() {
        let html = "<div dir=\"ltr\">New text</div><br><div class=\"gmail_quote gmail_quote_container\">\
            <div dir=\"ltr\" class=\"gmail_attr\">On Mon wrote:<br></div><blockquote class=\"gmail_quote\">\
            <div>old <div>nested</div></div></blockquote></div>";
        assert_eq!(
            html_to_text_without_quotes(html),
            ("New text".to_owned(), true)
        );
        assert_eq!(
            html_to_text_without_quotes("<div>Plain</div>"),
            ("Plain".to_owned(), false)
        );
        let outlook = "<div>Answer</div><div id=\"appendonsend\"></div><hr><div id=\"divRplyFwdMsg\">From: x</div><div>old</div>";
        assert_eq!(
            html_to_text_without_quotes(outlook),
            ("Answer".to_owned(), true)
        );
    }

    #[test]
    fn broken_html_does_not_panic() {
        for html in [
            "<",
            "<<<",
            "<a",
            "<div class=\"x",
            "&",
            "&#;",
            "&#xZZ;",
            "&#99999999999;",
            "</>",
            "<!--",
            "<!",
            "<p>é<",
            "é&é;<é>",
            "<blockquote>",
            "<style>",
            "<pre>a\r\nb",
        ] {
            let _ = html_to_text(html);
            let _ = html_to_text_without_quotes(html);
        }
    }
}
