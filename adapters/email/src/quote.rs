//! Quoted-reply stripping: keeps what the sender wrote in this mail, without the quoted
//! history or the signature. Recognises our own reply marker ([`REPLY_MARKER`]), "On ...
//! wrote:" in common languages, Outlook's header block, Gmail's `gmail_quote`,
//! `<blockquote>`, `>` lines and `-- ` signatures. Pure.

/// The line our outbound mails put above the quoted history; everything from it down is
/// history.
pub const REPLY_MARKER: &str = "##- Please type your reply above this line -##";

/// The new text of a mail: `text` (the readable body) cut at the first quote or signature
/// marker; `html`, when given, helps find Gmail's / Outlook's quote containers. Trims trailing
/// blank lines. Returns the whole text when nothing is recognised.
///
/// The text markers, the first of which (from the top) cuts:
/// - a line containing [`REPLY_MARKER`];
/// - a `-- ` signature delimiter line (exactly dash dash space);
/// - a `>`-quoted line;
/// - an attribution line, possibly wrapped over two or three lines: "On ... wrote:", "Am ...
///   schrieb ...:", "Le ... a écrit :", "El ... escribió:", "Em ... escreveu:", "Il ... ha
///   scritto:", "Op ... schreef ...:", "<address> wrote:";
/// - Outlook's `-----Original Message-----` (and its translations) or its header block
///   (`From:` followed within a few lines by `Sent:`/`Date:`/`To:` and `Subject:`, in
///   English, German, French, Spanish, Portuguese, Italian or Dutch), with the
///   `________________________________` line above it.
///
/// When none is found and `html` is given, the HTML is converted to text without its quote
/// containers (`gmail_quote`, `<blockquote>`, `divRplyFwdMsg` ...); that text is used when a
/// container was found.
pub fn strip_quoted(text: &str, html: Option<&str>) -> String {
    let text = text.replace("\r\n", "\n").replace('\r', "\n");
    let lines: Vec<&str> = text.split('\n').collect();
    if let Some(cut) = find_cut(&lines) {
        return lines[..cut].join("\n").trim_end().to_owned();
    }
    if let Some(html) = html {
        let (new_text, removed) = crate::parse::html::html_to_text_without_quotes(html);
        if removed {
            let lines: Vec<&str> = new_text.split('\n').collect();
            let cut = find_cut(&lines).unwrap_or(lines.len());
            return lines[..cut].join("\n").trim_end().to_owned();
        }
    }
    text.trim_end().to_owned()
}

/// The index of the first line that starts the history or the signature.
fn find_cut(lines: &[&str]) -> Option<usize> {
    (0..lines.len()).find(|&i| starts_history(lines, i))
}

fn starts_history(lines: &[&str], i: usize) -> bool {
    let line = lines[i];
    line.contains(REPLY_MARKER)
        || line == "-- "
        || line.starts_with('>')
        || is_original_message_separator(line)
        || attribution_at(lines, i)
        || outlook_block_at(lines, i)
        || (is_underscore_rule(line)
            && next_non_blank(lines, i + 1, 2).is_some_and(|j| outlook_block_at(lines, j)))
}

/// Lowercased, non-breaking spaces made plain, runs of spaces collapsed, trimmed.
fn normalize(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut space = false;
    for c in line.chars() {
        if c.is_whitespace() {
            space = true;
            continue;
        }
        if space && !out.is_empty() {
            out.push(' ');
        }
        space = false;
        out.extend(c.to_lowercase());
    }
    out
}

/// An attribution line starting at `i`, on one to three lines.
fn attribution_at(lines: &[&str], i: usize) -> bool {
    let mut joined = String::new();
    for line in lines.iter().skip(i).take(3) {
        if line.trim().is_empty() || line.starts_with('>') {
            return false;
        }
        if !joined.is_empty() {
            joined.push(' ');
        }
        joined.push_str(line);
        if joined.len() > 400 {
            return false;
        }
        if is_attribution(&normalize(&joined)) {
            return true;
        }
    }
    false
}

fn is_attribution(s: &str) -> bool {
    let starts_ends = |prefix: &str, suffixes: &[&str]| {
        s.starts_with(prefix) && suffixes.iter().any(|suffix| s.ends_with(suffix))
    };
    starts_ends("on ", &["wrote:"])
        || (s.starts_with("am ") && s.contains(" schrieb") && s.ends_with(':'))
        || starts_ends("le ", &["a écrit :", "a écrit:"])
        || starts_ends("el ", &["escribió:"])
        || starts_ends("em ", &["escreveu:"])
        || starts_ends("il ", &["ha scritto:"])
        || (s.starts_with("op ") && s.contains(" schreef ") && s.ends_with(':'))
        || (s.ends_with(" wrote:") && s.contains('@') && s.split(' ').count() <= 8)
}

/// `-----Original Message-----` and its translations.
fn is_original_message_separator(line: &str) -> bool {
    let trimmed = line.trim();
    if !trimmed.starts_with("---") || !trimmed.ends_with("---") {
        return false;
    }
    let inner = normalize(trimmed.trim_matches('-'));
    [
        "original message",
        "ursprüngliche nachricht",
        "message d'origine",
        "mensaje original",
        "mensagem original",
        "messaggio originale",
        "oorspronkelijk bericht",
    ]
    .contains(&inner.as_str())
}

/// `________________________________` (Outlook's rule above its header block).
fn is_underscore_rule(line: &str) -> bool {
    let trimmed = line.trim();
    trimmed.len() >= 10 && trimmed.bytes().all(|b| b == b'_')
}

fn next_non_blank(lines: &[&str], from: usize, max: usize) -> Option<usize> {
    (from..lines.len().min(from + max + 1)).find(|&j| !lines[j].trim().is_empty())
}

#[derive(PartialEq, Eq, Clone, Copy)]
enum Field {
    From,
    Sent,
    To,
    Subject,
}

/// Which Outlook header field the line starts with (`*From:*` as Gmail renders bold too).
fn header_field(line: &str) -> Option<Field> {
    let line = normalize(line.trim_start_matches(['*', ' ', '\t']));
    const FIELDS: &[(Field, &[&str])] = &[
        (
            Field::From,
            &["from:", "von:", "de:", "de :", "van:", "da:"],
        ),
        (
            Field::Sent,
            &[
                "sent:",
                "date:",
                "gesendet:",
                "datum:",
                "envoyé :",
                "envoyé:",
                "enviado:",
                "enviado el:",
                "verzonden:",
                "inviato:",
                "data:",
                "fecha:",
                "sendt:",
            ],
        ),
        (
            Field::To,
            &["to:", "an:", "à :", "à:", "para:", "aan:", "a:", "cc:"],
        ),
        (
            Field::Subject,
            &[
                "subject:",
                "betreff:",
                "objet :",
                "objet:",
                "asunto:",
                "assunto:",
                "onderwerp:",
                "oggetto:",
            ],
        ),
    ];
    FIELDS
        .iter()
        .find(|(_, names)| names.iter().any(|n| line.starts_with(n)))
        .map(|(field, _)| *field)
}

/// Outlook's header block at `i`: `From:`, then within the next lines `Sent:`/`To:` and
/// `Subject:`.
fn outlook_block_at(lines: &[&str], i: usize) -> bool {
    if header_field(lines[i]) != Some(Field::From) {
        return false;
    }
    let mut sent_or_to = false;
    for line in lines.iter().skip(i + 1).take(8) {
        match header_field(line) {
            Some(Field::Sent | Field::To) => sent_or_to = true,
            Some(Field::Subject) => return sent_or_to,
            _ => {}
        }
    }
    false
}
