//! MIME mail through the email adapter's parser: `parse_mail` and `attachment_bytes` on
//! arbitrary bytes and on generated mails (headers, encodings, charsets, nested multiparts,
//! broken boundaries).

use omnibridge_email::parse::{attachment_bytes, parse_mail};
use proptest::prelude::*;

use super::strategies::{config, no_hang, text, text_of, word};

const HEADERS: &[&str] = &[
    "From",
    "To",
    "Cc",
    "Reply-To",
    "Subject",
    "Message-ID",
    "In-Reply-To",
    "References",
    "Date",
    "Content-Type",
    "Content-Transfer-Encoding",
    "Content-Disposition",
    "Authentication-Results",
    "DKIM-Signature",
    "Auto-Submitted",
    "X-Unknown",
];
const TYPES: &[&str] = &[
    "text/plain",
    "text/html",
    "image/png",
    "application/pdf",
    "message/rfc822",
    "text/enriched",
    "multipart/alternative",
    "application/octet-stream",
];
const ENCODINGS: &[&str] = &[
    "7bit",
    "8bit",
    "base64",
    "quoted-printable",
    "binary",
    "x-uue",
];
const CHARSETS: &[&str] = &[
    "utf-8",
    "iso-8859-1",
    "windows-1252",
    "shift_jis",
    "x-unknown",
    "",
];

/// Header values: addresses, encoded words, ids, or anything.
fn header_value() -> BoxedStrategy<String> {
    prop_oneof![
        text(60),
        (text_of("abcxyz.+-_", 12), text_of("abc.example", 12))
            .prop_map(|(l, d)| format!("\"Name, {l}\" <{l}@{d}>")),
        (
            word(CHARSETS),
            text_of("BQbq", 1),
            text_of("ABCQabcqxyz0189+/=_?", 40)
        )
            .prop_map(|(c, e, t)| format!("=?{c}?{e}?{t}?=")),
        text_of("<>@abc.123 \t\r\n", 40),
    ]
    .boxed()
}

fn headers() -> impl Strategy<Value = String> {
    prop::collection::vec((word(HEADERS), header_value()), 0..8).prop_map(|pairs| {
        pairs
            .into_iter()
            .map(|(name, value)| format!("{name}: {value}\r\n"))
            .collect()
    })
}

fn body() -> BoxedStrategy<Vec<u8>> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..200),
        text(200).prop_map(String::into_bytes),
        text_of("ABCabcxyz0189+/=\r\n", 200).prop_map(String::into_bytes),
        text_of("=0A9Fa f\r\n<>p", 200).prop_map(String::into_bytes),
    ]
    .boxed()
}

/// One MIME entity: a leaf or a multipart of entities (boundaries sometimes wrong).
fn entity(depth: u32) -> BoxedStrategy<Vec<u8>> {
    let leaf = (
        headers(),
        word(TYPES),
        word(CHARSETS),
        word(ENCODINGS),
        prop::option::of(text(20)),
        body(),
    )
        .prop_map(|(headers, kind, charset, encoding, filename, body)| {
            let mut out = headers.into_bytes();
            out.extend(format!("Content-Type: {kind}; charset=\"{charset}\"\r\n").bytes());
            out.extend(format!("Content-Transfer-Encoding: {encoding}\r\n").bytes());
            if let Some(name) = filename {
                out.extend(
                    format!("Content-Disposition: attachment; filename=\"{name}\"\r\n").bytes(),
                );
            }
            out.extend(b"\r\n");
            out.extend(body);
            out
        });
    leaf.prop_recursive(depth, 12, 4, |inner| {
        (
            word(&["mixed", "alternative", "related", "digest", "report"]),
            text_of("abc-=_'()+,./:? ", 20),
            prop::collection::vec(inner, 0..4),
            any::<bool>(),
            any::<bool>(),
        )
            .prop_map(|(sub, boundary, parts, close, lie)| {
                let mut out = format!(
                    "Content-Type: multipart/{sub}; boundary=\"{boundary}\"\r\n\r\npreamble\r\n"
                )
                .into_bytes();
                let used = if lie {
                    format!("{boundary}x")
                } else {
                    boundary
                };
                for part in parts {
                    out.extend(format!("--{used}\r\n").bytes());
                    out.extend(part);
                    out.extend(b"\r\n");
                }
                if close {
                    out.extend(format!("--{used}--\r\n").bytes());
                }
                out
            })
    })
    .boxed()
}

fn parses(raw: Vec<u8>) {
    no_hang("parse_mail", raw, |raw| {
        if let Ok(mail) = parse_mail(&raw) {
            let _ = format!("{mail:?}");
        }
        for index in 0..4 {
            let _ = attachment_bytes(&raw, index);
        }
    });
}

proptest! {
    #![proptest_config(config(192))]

    #[test]
    fn arbitrary_bytes_never_panic(raw in prop::collection::vec(any::<u8>(), 0..1024)) {
        parses(raw);
    }

    #[test]
    fn generated_mails_never_panic(raw in (headers(), entity(3)).prop_map(|(h, e)| {
        let mut raw = h.into_bytes();
        raw.extend(e);
        raw
    })) {
        parses(raw);
    }
}
