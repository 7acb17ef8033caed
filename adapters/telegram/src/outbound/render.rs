//! Rendering text for a parse mode: the one place escaping happens. Text is split at
//! Telegram's 4096-character limit **before** escaping (the limit counts the text after
//! entity parsing, so escapes must not push a part over it or cut one in half).

use serde::Deserialize;

/// Longest text of one `sendMessage`, in characters after entity parsing.
pub const MAX_TEXT: usize = 4096;

/// How the channel marks text up.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ParseMode {
    /// `parse_mode = "HTML"`: `&`, `<`, `>` escaped.
    #[default]
    Html,
    /// `parse_mode = "MarkdownV2"`: every one of ``_*[]()~`>#+-=|{}.!\`` escaped.
    MarkdownV2,
}

impl ParseMode {
    /// teloxide's name for it.
    pub fn teloxide(self) -> teloxide_core::types::ParseMode {
        match self {
            Self::Html => teloxide_core::types::ParseMode::Html,
            Self::MarkdownV2 => teloxide_core::types::ParseMode::MarkdownV2,
        }
    }
}

/// Escapes plain `text` so Telegram shows it exactly as written in `mode`.
pub fn escape(mode: ParseMode, text: &str) -> String {
    let mut out = String::with_capacity(text.len() + text.len() / 8);
    for c in text.chars() {
        match mode {
            ParseMode::Html => match c {
                '&' => out.push_str("&amp;"),
                '<' => out.push_str("&lt;"),
                '>' => out.push_str("&gt;"),
                _ => out.push(c),
            },
            ParseMode::MarkdownV2 => {
                if "_*[]()~`>#+-=|{}.!\\".contains(c) {
                    out.push('\\');
                }
                out.push(c);
            }
        }
    }
    out
}

/// Splits `text` into parts of at most `max` characters, preferring a line break, else a
/// space, in the second half of each part.
pub fn split(text: &str, max: usize) -> Vec<String> {
    let max = max.max(1);
    let mut parts = Vec::new();
    let mut rest: Vec<char> = text.chars().collect();
    while rest.len() > max {
        let window = &rest[..max];
        let cut = [('\n'), (' ')]
            .iter()
            .find_map(|sep| {
                window
                    .iter()
                    .rposition(|c| c == sep)
                    .filter(|&at| at >= max / 2)
            })
            .map_or(max, |at| at + 1);
        parts.push(rest[..cut].iter().collect());
        rest.drain(..cut);
    }
    if !rest.is_empty() || parts.is_empty() {
        parts.push(rest.into_iter().collect());
    }
    parts
}

/// Splits, then escapes each part: what `sendMessage` gets, in order.
pub fn render(mode: ParseMode, text: &str) -> Vec<String> {
    split(text, MAX_TEXT)
        .iter()
        .map(|part| escape(mode, part))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPECIALS: &str = "_*[]()~`>#+-=|{}.!\\ & < >";

    #[test]
    fn every_special_character_is_escaped_once() {
        assert_eq!(
            escape(ParseMode::MarkdownV2, "a_b*c.d!"),
            "a\\_b\\*c\\.d\\!"
        );
        assert_eq!(
            escape(ParseMode::Html, "<b>&</b>"),
            "&lt;b&gt;&amp;&lt;/b&gt;"
        );
        let md = escape(ParseMode::MarkdownV2, SPECIALS);
        assert_eq!(md.matches('\\').count(), 21, "{md}");
    }

    #[test]
    fn long_text_splits_before_escaping_on_char_counts() {
        let text = SPECIALS.repeat(200); // 5,200 characters, all of them special or spaces
        let parts = split(&text, MAX_TEXT);
        assert_eq!(parts.len(), 2);
        assert!(parts.iter().all(|p| p.chars().count() <= MAX_TEXT));
        assert_eq!(parts.concat(), text);
        let rendered = render(ParseMode::MarkdownV2, &text);
        assert_eq!(rendered.len(), 2);
        assert!(
            rendered[0].chars().count() > MAX_TEXT,
            "escaping happens after the split"
        );
        let emoji = "😀".repeat(5000);
        assert_eq!(split(&emoji, MAX_TEXT)[0].chars().count(), MAX_TEXT);
        assert_eq!(split("", MAX_TEXT), vec![String::new()]);
    }
}
