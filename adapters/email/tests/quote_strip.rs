//! `strip_quoted`: each recognised marker, and what is left alone.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use omnibridge_email::quote::{REPLY_MARKER, strip_quoted};

fn strip(text: &str) -> String {
    strip_quoted(text, None)
}

#[test]
fn our_reply_marker() {
    let text =
        format!("Sounds good, thanks!\n\n{REPLY_MARKER}\n\nHello Anna,\nyour order shipped.\n");
    assert_eq!(strip(&text), "Sounds good, thanks!");
}

#[test]
fn attribution_lines_in_common_languages() {
    let cases = [
        "On Mon, 23 Nov 2026 at 10:02, Acme Support <support@acme.test> wrote:",
        "On 23/11/2026 10:02, Acme Support wrote:",
        "Am 23.11.26 um 10:02 schrieb Acme Support:",
        "Am Mo., 23. Nov. 2026 um 10:02 Uhr schrieb Acme Support <support@acme.test>:",
        "Le lun. 23 nov. 2026 à 10:02, Acme Support <support@acme.test> a écrit :",
        "Le 23/11/2026 à 10:02, Acme Support a écrit\u{a0}:",
        "El lun, 23 nov 2026 a las 10:02, Acme Support (<support@acme.test>) escribió:",
        "Em seg., 23 de nov. de 2026 às 10:02, Acme Support <support@acme.test> escreveu:",
        "Il giorno lun 23 nov 2026 alle ore 10:02 Acme Support <support@acme.test> ha scritto:",
        "Op ma 23 nov. 2026 om 10:02 schreef Acme Support <support@acme.test>:",
        "support@acme.test wrote:",
    ];
    for attribution in cases {
        let text = format!("New text.\n\n{attribution}\n\nOld text, not quoted.\n");
        assert_eq!(strip(&text), "New text.", "{attribution}");
    }
}

#[test]
fn attribution_wrapped_over_two_lines() {
    let en = "Yes please.\n\nOn Mon, 23 Nov 2026 at 10:02, Acme Support Team <\nsupport@acme.test> wrote:\n\n> old\n";
    assert_eq!(strip(en), "Yes please.");
    let en2 = "Yes please.\nOn Mon, 23 Nov 2026 at 10:02, Acme Support Team <support@acme.test>\nwrote:\nold, unquoted\n";
    assert_eq!(strip(en2), "Yes please.");
    let fr = "Oui.\n\nLe lun. 23 nov. 2026 à 10:02, Acme Support <support@acme.test> a\nécrit\u{202f}:\nancien\n";
    assert_eq!(strip(fr), "Oui.");
    let nl =
        "Ja.\n\nOp ma 23 nov. 2026 om 10:02 schreef Acme Support <\nsupport@acme.test>:\noud\n";
    assert_eq!(strip(nl), "Ja.");
}

#[test]
fn outlook_header_blocks() {
    let en = "Please call me.\n\n________________________________\nFrom: Acme Support <support@acme.test>\nSent: Monday, November 23, 2026 10:02 AM\nTo: Bob <bob@example.org>\nSubject: RE: Order #1042\n\nHello Bob,\n";
    assert_eq!(strip(en), "Please call me.");
    let de = "Bitte anrufen.\r\n\r\nVon: Acme Support <support@acme.test>\r\nGesendet: Montag, 23. November 2026 10:02\r\nAn: Bob <bob@example.org>\r\nBetreff: AW: Bestellung\r\n\r\nHallo Bob,\r\n";
    assert_eq!(strip(de), "Bitte anrufen.");
    let fr = "Merci.\n\nDe : Acme Support <support@acme.test>\nEnvoyé : lundi 23 novembre 2026 10:02\nÀ : Bob <bob@example.org>\nObjet : RE: Commande\n";
    assert_eq!(strip(fr), "Merci.");
    // Gmail's rendering of Outlook's bold field names.
    let bold = "Fine.\n\n*From:* Acme Support <support@acme.test>\n*Sent:* Monday, November 23, 2026 10:02 AM\n*To:* Bob\n*Subject:* RE: Order\n";
    assert_eq!(strip(bold), "Fine.");
    let original = "OK\n\n-----Original Message-----\nFrom: Acme Support [mailto:support@acme.test]\nSent: Monday\nTo: Bob\nSubject: Order\n";
    assert_eq!(strip(original), "OK");
    let original_de = "OK\n\n-----Ursprüngliche Nachricht-----\nHallo\n";
    assert_eq!(strip(original_de), "OK");
}

#[test]
fn quoted_lines_and_signatures() {
    assert_eq!(strip("Agreed.\n> earlier text\n> more\n"), "Agreed.");
    assert_eq!(
        strip("Thanks!\n\n-- \nBob Builder\nBuilder Ltd.\n"),
        "Thanks!"
    );
    // Only exactly "-- " is a signature delimiter.
    assert_eq!(strip("a\n--\nb"), "a\n--\nb");
    assert_eq!(strip("a\n-- b\nc"), "a\n-- b\nc");
    assert_eq!(strip("a\n---\nb"), "a\n---\nb");
}

#[test]
fn earliest_marker_wins() {
    let text =
        format!("Top.\n-- \nSig\n\nOn Mon, 23 Nov 2026, Acme wrote:\n> {REPLY_MARKER}\n> old\n");
    assert_eq!(strip(&text), "Top.");
}

#[test]
fn nothing_recognised_returns_whole_text_trimmed() {
    let text = "Hello,\n\nOn Monday I will be in the office. From: the team\nSubject: none\n\n";
    assert_eq!(
        strip(text),
        "Hello,\n\nOn Monday I will be in the office. From: the team\nSubject: none"
    );
    assert_eq!(strip("  just one line  \n\n\n"), "  just one line");
    assert_eq!(strip(""), "");
}

#[test]
fn trailing_blank_lines_trimmed_after_cut() {
    assert_eq!(strip("Hi\r\n\r\n \r\n\t\r\n> quoted"), "Hi");
}

#[test]
fn html_used_when_text_has_no_marker() {
    // An Apple Mail style reply: the text part lost the quote prefix, the HTML has a blockquote.
    let text = "Works now.\n\nBest,\nKim\n\nHello Kim, please restart the device.";
    let html = "<html><body><div>Works now.</div><div><br></div><div>Best,</div><div>Kim</div>\
        <div><br><blockquote type=\"cite\"><div>Hello Kim, please restart the device.</div></blockquote></div></body></html>";
    assert_eq!(strip_quoted(text, Some(html)), "Works now.\n\nBest,\nKim");
    // Thunderbird's cite prefix plus blockquote.
    let html = "<p>Merci</p><div class=\"moz-cite-prefix\">Le 23/11/2026, Acme a écrit :<br></div><blockquote type=\"cite\">vieux</blockquote>";
    assert_eq!(strip_quoted("", Some(html)), "Merci");
    // Outlook for Windows: the bordered header block.
    let html = "<div class=WordSection1><p class=MsoNormal>Passt.<o:p></o:p></p><p class=MsoNormal><o:p>&nbsp;</o:p></p>\
        <div><div style='border:none;border-top:solid #E1E1E1 1.0pt;padding:3.0pt 0cm 0cm 0cm'><p class=MsoNormal><b>Von:</b> Acme</p></div></div>\
        <p class=MsoNormal>alt</p></div>";
    assert_eq!(strip_quoted("", Some(html)), "Passt.");
    // No quote container in the HTML either: the whole text.
    assert_eq!(
        strip_quoted("Just a question.\n", Some("<div>Just a question.</div>")),
        "Just a question."
    );
}

#[test]
fn garbage_does_not_panic() {
    let samples = [
        "\u{0}\u{1}>\r\r\n-- \n",
        "On\nwrote:",
        "On ",
        "From:\nSent:\nSubject:",
        "________________________________",
        "________________________________\n",
        "-----",
        "Le a écrit :",
        "é\u{202f}\u{a0}\u{2028}>",
    ];
    for s in samples {
        let _ = strip_quoted(s, Some(s));
        let _ = strip_quoted(s, None);
    }
    let long = "On ".repeat(10_000) + "wrote:";
    let _ = strip_quoted(&long, Some(&"<blockquote>".repeat(5_000)));
}
