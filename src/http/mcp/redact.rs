//! What an agent must never see: confirmation links. A `…/confirm/<token>` link lets whoever
//! opens it confirm a payment with the customer's linked source, so it is for the customer's
//! eyes only; the agent reads `[confirmation link]` instead, wherever a message carries one.

use std::borrow::Cow;

use crate::payments::confirm_link::PATH;

/// What stands in for a confirmation link.
pub(super) const PLACEHOLDER: &str = "[confirmation link]";

/// `text` with every confirmation link replaced by [`PLACEHOLDER`].
pub(super) fn confirmation_links(text: &str) -> Cow<'_, str> {
    if !text.contains(PATH) {
        return Cow::Borrowed(text);
    }
    let is_edge =
        |c: char| c.is_whitespace() || matches!(c, '"' | '\'' | '<' | '>' | '(' | ')' | '\\');
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find(PATH) {
        let start = rest[..at].rfind(is_edge).map_or(0, |i| i + 1);
        let end = rest[at..].find(is_edge).map_or(rest.len(), |i| at + i);
        out.push_str(&rest[..start]);
        out.push_str(PLACEHOLDER);
        rest = &rest[end..];
    }
    out.push_str(rest);
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_go_and_the_rest_stays() {
        let text = "Pay €12.50: https://b.example/confirm/abc.DEF-123 (valid 24 h)\n<a href=\"https://b.example/confirm/x\">Pay</a>";
        let redacted = confirmation_links(text);
        assert!(!redacted.contains("/confirm/"), "{redacted}");
        assert_eq!(
            redacted,
            "Pay €12.50: [confirmation link] (valid 24 h)\n<a href=\"[confirmation link]\">Pay</a>"
        );
        assert!(matches!(
            confirmation_links("no link"),
            Cow::Borrowed("no link")
        ));
        assert_eq!(confirmation_links("/confirm/tok"), PLACEHOLDER);
    }
}
