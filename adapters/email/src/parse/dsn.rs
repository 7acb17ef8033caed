//! Delivery status notifications (RFC 3464): `multipart/report; report-type=delivery-status`.

use mail_parser::{Message, MessageParser, MessagePart, MimeHeaders, PartType};

use super::{Bounce, clean_id, unfold};

/// The bounce details when `message` is a DSN.
pub(super) fn bounce(message: &Message<'_>) -> Option<Bounce> {
    let root = message.root_part();
    let is_report = root.content_type().is_some_and(|ct| {
        ct.ctype().eq_ignore_ascii_case("multipart")
            && ct
                .subtype()
                .is_some_and(|s| s.eq_ignore_ascii_case("report"))
            && ct
                .attribute("report-type")
                .is_some_and(|t| t.eq_ignore_ascii_case("delivery-status"))
    });
    if !is_report {
        return None;
    }

    let mut bounce = Bounce {
        original_message_id: None,
        status: None,
        action: None,
        diagnostic: None,
        recipient: None,
    };

    if let Some(status) = message
        .parts
        .iter()
        .find(|p| is_type(p, "message", &["delivery-status", "global-delivery-status"]))
    {
        let text = String::from_utf8_lossy(status.contents());
        let groups = field_groups(&text);
        // The first group holds the per-message fields, the others one recipient each.
        for group in &groups {
            if bounce.original_message_id.is_none()
                && let Some(id) = field(group, "Original-Message-ID")
            {
                bounce.original_message_id = clean_id(&id);
            }
        }
        let recipients: Vec<&Vec<(String, String)>> = groups
            .iter()
            .filter(|g| {
                field(g, "Final-Recipient").is_some()
                    || field(g, "Original-Recipient").is_some()
                    || field(g, "Action").is_some()
            })
            .collect();
        let chosen = recipients
            .iter()
            .find(|g| field(g, "Action").is_some_and(|a| a.eq_ignore_ascii_case("failed")))
            .or_else(|| recipients.first());
        if let Some(group) = chosen {
            bounce.action = field(group, "Action").map(|a| a.to_ascii_lowercase());
            bounce.status =
                field(group, "Status").and_then(|s| s.split_whitespace().next().map(str::to_owned));
            bounce.diagnostic = field(group, "Diagnostic-Code").map(|d| strip_type(&d));
            bounce.recipient = field(group, "Final-Recipient")
                .or_else(|| field(group, "Original-Recipient"))
                .map(|r| strip_type(&r).trim_matches(['<', '>']).to_owned());
        }
    }

    if bounce.original_message_id.is_none() {
        bounce.original_message_id = returned_message_id(message);
    }
    Some(bounce)
}

/// The Message-ID of the returned message (`message/rfc822`) or returned headers
/// (`text/rfc822-headers`).
fn returned_message_id(message: &Message<'_>) -> Option<String> {
    for part in &message.parts {
        if let PartType::Message(returned) = &part.body
            && let Some(id) = returned.message_id().and_then(clean_id)
        {
            return Some(id);
        }
        if is_type(part, "text", &["rfc822-headers"])
            || is_type(part, "message", &["rfc822-headers"])
        {
            let mut headers = part.contents().to_vec();
            headers.extend_from_slice(b"\r\n\r\n");
            if let Some(id) = MessageParser::default()
                .parse_headers(&headers)
                .and_then(|m| m.message_id().and_then(clean_id))
            {
                return Some(id);
            }
            // Fallback: read the fields ourselves.
            let text = String::from_utf8_lossy(part.contents());
            if let Some(id) = field_groups(&text)
                .first()
                .and_then(|g| field(g, "Message-ID"))
                .and_then(|id| clean_id(&id))
            {
                return Some(id);
            }
        }
    }
    None
}

fn is_type(part: &MessagePart<'_>, ctype: &str, subtypes: &[&str]) -> bool {
    part.content_type().is_some_and(|ct| {
        ct.ctype().eq_ignore_ascii_case(ctype)
            && ct
                .subtype()
                .is_some_and(|s| subtypes.iter().any(|t| s.eq_ignore_ascii_case(t)))
    })
}

/// `rfc822; bob@example.org` → `bob@example.org`, `smtp; 550 ...` → `550 ...`.
fn strip_type(value: &str) -> String {
    match value.split_once(';') {
        Some((kind, rest))
            if !kind.trim().is_empty()
                && kind
                    .trim()
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-') =>
        {
            rest.trim().to_owned()
        }
        _ => value.trim().to_owned(),
    }
}

/// Groups of `Name: value` fields separated by blank lines (continuation lines unfolded).
fn field_groups(text: &str) -> Vec<Vec<(String, String)>> {
    let mut groups = Vec::new();
    let mut group: Vec<(String, String)> = Vec::new();
    for line in text.split('\n') {
        let line = line.trim_end_matches('\r');
        if line.trim().is_empty() {
            if !group.is_empty() {
                groups.push(std::mem::take(&mut group));
            }
            continue;
        }
        if line.starts_with([' ', '\t']) {
            if let Some((_, value)) = group.last_mut() {
                value.push('\n');
                value.push_str(line);
            }
            continue;
        }
        if let Some((name, value)) = line.split_once(':') {
            group.push((name.trim().to_owned(), value.to_owned()));
        }
    }
    if !group.is_empty() {
        groups.push(group);
    }
    groups
}

fn field(group: &[(String, String)], name: &str) -> Option<String> {
    group
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| unfold(v))
        .filter(|v| !v.is_empty())
}
