//! Sender check against a real DNS server (dnsmasq on 127.0.0.1) with real DKIM signatures
//! made by mail-auth: nothing is faked but the mail itself.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use mail_auth::common::crypto::{Ed25519Key, RsaKey, Sha256};
use mail_auth::common::headers::HeaderWriter;
use mail_auth::dkim::DkimSigner;
use omnibridge_email::sender_check::{SenderCheckSettings, SenderChecker, SenderVerdict};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{PrivateKeyDer, PrivatePkcs1KeyDer};
use support::dns::Dnsmasq;

const REPLY: &str = "From: Customer <customer@customer.test>\r\n\
To: Shop <shop+t-01J9@shop.example>\r\n\
Subject: Re: Your order 1042\r\n\
Date: Tue, 5 May 2026 10:00:00 +0000\r\n\
Message-ID: <reply-1@customer.test>\r\n\
In-Reply-To: <order-1042@shop.example>\r\n\
MIME-Version: 1.0\r\n\
Content-Type: text/plain; charset=utf-8\r\n\
\r\n\
PAY\r\n\
\r\n\
> Reply PAY to pay 42.00 EUR for order 1042.\r\n";

const CUSTOMER: &str = "customer@customer.test";

/// A 1024-bit RSA test key (mail-auth's example key; public test data, no secret).
const RSA_PRIVATE_KEY: &str = "-----BEGIN RSA PRIVATE KEY-----
MIICXwIBAAKBgQDwIRP/UC3SBsEmGqZ9ZJW3/DkMoGeLnQg1fWn7/zYtIxN2SnFC
jxOCKG9v3b4jYfcTNh5ijSsq631uBItLa7od+v/RtdC2UzJ1lWT947qR+Rcac2gb
to/NMqJ0fzfVjH4OuKhitdY9tf6mcwGjaNBcWToIMmPSPDdQPNUYckcQ2QIDAQAB
AoGBALmn+XwWk7akvkUlqb+dOxyLB9i5VBVfje89Teolwc9YJT36BGN/l4e0l6QX
/1//6DWUTB3KI6wFcm7TWJcxbS0tcKZX7FsJvUz1SbQnkS54DJck1EZO/BLa5ckJ
gAYIaqlA9C0ZwM6i58lLlPadX/rtHb7pWzeNcZHjKrjM461ZAkEA+itss2nRlmyO
n1/5yDyCluST4dQfO8kAB3toSEVc7DeFeDhnC1mZdjASZNvdHS4gbLIA1hUGEF9m
3hKsGUMMPwJBAPW5v/U+AWTADFCS22t72NUurgzeAbzb1HWMqO4y4+9Hpjk5wvL/
eVYizyuce3/fGke7aRYw/ADKygMJdW8H/OcCQQDz5OQb4j2QDpPZc0Nc4QlbvMsj
7p7otWRO5xRa6SzXqqV3+F0VpqvDmshEBkoCydaYwc2o6WQ5EBmExeV8124XAkEA
qZzGsIxVP+sEVRWZmW6KNFSdVUpk3qzK0Tz/WjQMe5z0UunY9Ax9/4PVhp/j61bf
eAYXunajbBSOLlx4D+TunwJBANkPI5S9iylsbLs6NkaMHV6k5ioHBBmgCak95JGX
GMot/L2x0IYyMLAz6oLWh2hm7zwtb0CgOrPo1ke44hFYnfc=
-----END RSA PRIVATE KEY-----";

const SIGNED_HEADERS: [&str; 6] = ["From", "To", "Subject", "Date", "Message-ID", "In-Reply-To"];

/// A fresh ed25519 key: (PKCS#8 DER of the private key, base64 public key for `p=`).
fn ed25519_key() -> (Vec<u8>, String) {
    let der = Ed25519Key::generate_pkcs8().expect("generate key");
    let key = Ed25519Key::from_pkcs8_der(&der).expect("load key");
    let public = B64.encode(key.public_key());
    (der, public)
}

fn ed25519_record(public: &str) -> String {
    format!("v=DKIM1; k=ed25519; p={public}")
}

/// `mail` with an ed25519-sha256 DKIM-Signature (d=`domain`, s=`selector`) prepended.
fn sign_ed25519(mail: &str, der: &[u8], domain: &str, selector: &str) -> String {
    let key = Ed25519Key::from_pkcs8_der(der).expect("load key");
    let signature = DkimSigner::from_key(key)
        .domain(domain)
        .selector(selector)
        .headers(SIGNED_HEADERS)
        .sign(mail.as_bytes())
        .expect("sign");
    format!("{}{mail}", signature.to_header())
}

fn rsa_key() -> RsaKey<Sha256> {
    RsaKey::<Sha256>::from_key_der(PrivateKeyDer::Pkcs1(
        PrivatePkcs1KeyDer::from_pem_slice(RSA_PRIVATE_KEY.as_bytes()).expect("pem"),
    ))
    .expect("rsa key")
}

fn dkim_checker(dns: &Dnsmasq) -> SenderChecker {
    SenderChecker::new(&SenderCheckSettings::Dkim {
        dns_server: Some(dns.addr().to_string()),
    })
    .expect("checker")
}

fn ar_checker() -> SenderChecker {
    SenderChecker::new(&SenderCheckSettings::AuthenticationResults {
        authserv_id: "mx.shop.example".to_owned(),
    })
    .expect("checker")
}

#[track_caller]
fn assert_fail_with(verdict: &SenderVerdict, needle: &str, dns: Option<&Dnsmasq>) {
    match verdict {
        SenderVerdict::Fail { reason } => assert!(
            reason.contains(needle),
            "reason {reason:?} lacks {needle:?}\n{}",
            dns.map(Dnsmasq::log).unwrap_or_default()
        ),
        SenderVerdict::Pass => panic!(
            "expected Fail containing {needle:?}, got Pass\n{}",
            dns.map(Dnsmasq::log).unwrap_or_default()
        ),
    }
}

#[tokio::test]
async fn dkim_mode_verifies_signatures_against_real_dns() {
    let (der, public) = ed25519_key();
    let record = ed25519_record(&public);
    let dns = Dnsmasq::start(&[("sel._domainkey.customer.test", &record)]);
    let checker = dkim_checker(&dns);

    // Signed by the From domain: pass.
    let signed = sign_ed25519(REPLY, &der, "customer.test", "sel");
    let verdict = checker.check(signed.as_bytes(), CUSTOMER).await;
    assert_eq!(verdict, SenderVerdict::Pass, "{}", dns.log());
    // The caller's address is compared case-insensitively.
    assert!(
        checker
            .check(signed.as_bytes(), "Customer@Customer.TEST")
            .await
            .is_pass()
    );

    // Body altered after signing ("PAY" → "PAY 9999"): fail.
    let altered = signed.replace("\r\nPAY\r\n", "\r\nPAY 9999\r\n");
    assert_ne!(altered, signed);
    let verdict = checker.check(altered.as_bytes(), CUSTOMER).await;
    assert_fail_with(&verdict, "dkim=fail (body hash mismatch)", Some(&dns));

    // A signed header altered after signing (From rewritten to another domain): fail.
    let forged_from = signed.replace(
        "From: Customer <customer@customer.test>",
        "From: Customer <customer@bank.test>",
    );
    let verdict = checker
        .check(forged_from.as_bytes(), "customer@bank.test")
        .await;
    assert_fail_with(&verdict, "dkim=fail (signature mismatch)", Some(&dns));

    // No signature at all: fail.
    let verdict = checker.check(REPLY.as_bytes(), CUSTOMER).await;
    assert_fail_with(&verdict, "no_dkim_signature", Some(&dns));

    // The caller's From must be the message's From.
    let verdict = checker
        .check(signed.as_bytes(), "someone@customer.test")
        .await;
    assert_fail_with(&verdict, "from address differs", Some(&dns));
}

#[tokio::test]
async fn dkim_mode_rejects_a_valid_signature_of_another_domain() {
    // The forger owns forger.test and signs, validly, a mail claiming to be from bank.test.
    let (der, public) = ed25519_key();
    let record = ed25519_record(&public);
    let dns = Dnsmasq::start(&[("sel._domainkey.forger.test", &record)]);
    let checker = dkim_checker(&dns);

    let mail = REPLY.replace("customer@customer.test", "boss@bank.test");
    let signed = sign_ed25519(&mail, &der, "forger.test", "sel");
    let verdict = checker.check(signed.as_bytes(), "boss@bank.test").await;
    assert_fail_with(
        &verdict,
        "dkim domain forger.test not aligned with from domain bank.test",
        Some(&dns),
    );

    // A subdomain signature is aligned with its parent domain (relaxed alignment).
    let dns2 = Dnsmasq::start(&[("sel._domainkey.mail.customer.test", &record)]);
    let checker2 = dkim_checker(&dns2);
    let signed = sign_ed25519(REPLY, &der, "mail.customer.test", "sel");
    assert_eq!(
        checker2.check(signed.as_bytes(), CUSTOMER).await,
        SenderVerdict::Pass,
        "{}",
        dns2.log()
    );
}

#[tokio::test]
async fn dkim_mode_fails_when_the_key_is_missing_from_dns() {
    let (der, public) = ed25519_key();
    let record = ed25519_record(&public);
    let dns = Dnsmasq::start(&[("sel._domainkey.customer.test", &record)]);
    let checker = dkim_checker(&dns);

    // Signed with selector "gone", which has no record (NXDOMAIN).
    let signed = sign_ed25519(REPLY, &der, "customer.test", "gone");
    let verdict = checker.check(signed.as_bytes(), CUSTOMER).await;
    assert_fail_with(&verdict, "dkim=permerror (key not in dns", Some(&dns));
    assert!(dns.log().contains("gone._domainkey.customer.test"));

    // A key record that is not the signing key: the signature does not verify.
    let (other_der, _) = ed25519_key();
    let signed = sign_ed25519(REPLY, &other_der, "customer.test", "sel");
    let verdict = checker.check(signed.as_bytes(), CUSTOMER).await;
    assert_fail_with(&verdict, "dkim=fail (signature mismatch)", Some(&dns));
}

#[tokio::test]
async fn dkim_mode_fails_on_dns_errors() {
    // dnsmasq has no upstream: names outside .test are REFUSED, a DNS failure.
    let (der, public) = ed25519_key();
    let record = ed25519_record(&public);
    let dns = Dnsmasq::start(&[("sel._domainkey.customer.test", &record)]);
    let checker = dkim_checker(&dns);

    let mail = REPLY.replace("customer@customer.test", "customer@customer.example");
    let signed = sign_ed25519(&mail, &der, "customer.example", "sel");
    let verdict = checker
        .check(signed.as_bytes(), "customer@customer.example")
        .await;
    assert_fail_with(&verdict, "temperror (dns error)", Some(&dns));

    // No DNS server at all on that port: fails (after the resolver's timeouts), no panic.
    let closed = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
    let addr = closed.local_addr().expect("addr");
    drop(closed);
    let checker = SenderChecker::new(&SenderCheckSettings::Dkim {
        dns_server: Some(addr.to_string()),
    })
    .expect("checker");
    let signed = sign_ed25519(REPLY, &der, "customer.test", "sel");
    let verdict = checker.check(signed.as_bytes(), CUSTOMER).await;
    assert_fail_with(&verdict, "temperror (dns error)", None);
}

#[tokio::test]
async fn dkim_mode_applies_the_dmarc_policy() {
    let (der, public) = ed25519_key();
    let record = ed25519_record(&public);
    let dns = Dnsmasq::start(&[
        ("sel._domainkey.strict.test", &record),
        ("_dmarc.strict.test", "v=DMARC1; p=reject"),
    ]);
    let checker = dkim_checker(&dns);
    let mail = REPLY.replace("customer@customer.test", "customer@strict.test");

    // p=reject and no signature: fail, and the reason says DMARC.
    let verdict = checker.check(mail.as_bytes(), "customer@strict.test").await;
    assert_fail_with(
        &verdict,
        "dmarc=fail (p=reject; no_dkim_signature)",
        Some(&dns),
    );
    assert!(dns.log().contains("_dmarc.strict.test"));

    // p=reject and an aligned valid signature: DMARC passes, so does the check.
    let signed = sign_ed25519(&mail, &der, "strict.test", "sel");
    assert_eq!(
        checker
            .check(signed.as_bytes(), "customer@strict.test")
            .await,
        SenderVerdict::Pass,
        "{}",
        dns.log()
    );
}

#[tokio::test]
async fn dkim_mode_uses_dmarc_for_sibling_subdomains() {
    // From eu.shop.test, signed by mail.shop.test: neither is a subdomain of the other.
    let (der, public) = ed25519_key();
    let record = ed25519_record(&public);
    let mail = REPLY.replace("customer@customer.test", "customer@eu.shop.test");
    let signed = sign_ed25519(&mail, &der, "mail.shop.test", "sel");

    // Without a DMARC record: not aligned.
    let dns = Dnsmasq::start(&[("sel._domainkey.mail.shop.test", &record)]);
    let verdict = dkim_checker(&dns)
        .check(signed.as_bytes(), "customer@eu.shop.test")
        .await;
    assert_fail_with(&verdict, "not aligned", Some(&dns));

    // With one at shop.test, DMARC's tree walk makes shop.test the organisational domain of
    // both: aligned, pass.
    let dns = Dnsmasq::start(&[
        ("sel._domainkey.mail.shop.test", &record),
        ("_dmarc.shop.test", "v=DMARC1; p=quarantine"),
    ]);
    let verdict = dkim_checker(&dns)
        .check(signed.as_bytes(), "customer@eu.shop.test")
        .await;
    assert_eq!(verdict, SenderVerdict::Pass, "{}", dns.log());
}

#[tokio::test]
async fn dkim_mode_verifies_rsa_sha256() {
    let key = rsa_key();
    let record = format!("v=DKIM1; k=rsa; p={}", B64.encode(key.public_key()));
    let dns = Dnsmasq::start(&[("rsa._domainkey.customer.test", &record)]);
    let checker = dkim_checker(&dns);

    let signature = DkimSigner::from_key(key)
        .domain("customer.test")
        .selector("rsa")
        .headers(SIGNED_HEADERS)
        .sign(REPLY.as_bytes())
        .expect("sign");
    let signed = format!("{}{REPLY}", signature.to_header());
    assert_eq!(
        checker.check(signed.as_bytes(), CUSTOMER).await,
        SenderVerdict::Pass,
        "{}",
        dns.log()
    );
    let altered = signed.replace("Subject: Re: Your order 1042", "Subject: Re: order 9999");
    let verdict = checker.check(altered.as_bytes(), CUSTOMER).await;
    assert_fail_with(&verdict, "dkim=fail (signature mismatch)", Some(&dns));
}

#[tokio::test]
async fn authentication_results_mode_trusts_only_our_mta() {
    let checker = ar_checker();
    let with_ar = |header: &str| format!("Authentication-Results: {header}\r\n{REPLY}");

    // Our MTA says dkim=pass for the From domain: pass.
    let mail = with_ar(
        "mx.shop.example;\r\n\tdkim=pass (256-bit key) header.d=customer.test header.s=sel;\r\n\tspf=none",
    );
    assert_eq!(
        checker.check(mail.as_bytes(), CUSTOMER).await,
        SenderVerdict::Pass
    );

    // dmarc=pass for the From domain: pass (authserv-id compared case-insensitively).
    let mail = with_ar("MX.Shop.Example 1; dmarc=pass (p=reject) header.from=customer.test");
    assert_eq!(
        checker.check(mail.as_bytes(), CUSTOMER).await,
        SenderVerdict::Pass
    );

    // The same pass from another authserv-id (anyone can write that): fail.
    let mail = with_ar("mx.evil.example; dkim=pass header.d=customer.test");
    let verdict = checker.check(mail.as_bytes(), CUSTOMER).await;
    assert_fail_with(
        &verdict,
        "no authentication-results from mx.shop.example",
        None,
    );

    // Our MTA says dkim=fail: fail.
    let mail = with_ar("mx.shop.example; dkim=fail (bad signature) header.d=customer.test");
    let verdict = checker.check(mail.as_bytes(), CUSTOMER).await;
    assert_fail_with(&verdict, "dkim=fail", None);

    // dkim=pass but for another domain: fail.
    let mail = with_ar("mx.shop.example; dkim=pass header.d=forger.test");
    let verdict = checker.check(mail.as_bytes(), CUSTOMER).await;
    assert_fail_with(&verdict, "not aligned", None);

    // dmarc=fail from our MTA outweighs a dkim=pass: fail.
    let mail = with_ar(
        "mx.shop.example; dkim=pass header.d=mail.customer.test; dmarc=fail header.from=customer.test",
    );
    let verdict = checker.check(mail.as_bytes(), CUSTOMER).await;
    assert_fail_with(&verdict, "dmarc=fail", None);

    // No header at all: fail.
    let verdict = checker.check(REPLY.as_bytes(), CUSTOMER).await;
    assert_fail_with(&verdict, "no authentication-results", None);
}

#[tokio::test]
async fn from_header_must_be_one_address() {
    let checker = ar_checker();
    let mail = format!(
        "Authentication-Results: mx.shop.example; dkim=pass header.d=customer.test\r\n\
         From: Other <other@bank.test>\r\n{REPLY}"
    );
    let verdict = checker.check(mail.as_bytes(), CUSTOMER).await;
    assert_fail_with(&verdict, "multiple_from_addresses", None);
}

#[tokio::test]
async fn none_mode_passes_everything() {
    let checker = SenderChecker::new(&SenderCheckSettings::None).expect("checker");
    assert_eq!(
        checker.check(REPLY.as_bytes(), CUSTOMER).await,
        SenderVerdict::Pass
    );
    assert_eq!(
        checker.check(b"not even a mail", "x@y.test").await,
        SenderVerdict::Pass
    );
}

#[test]
fn settings_are_validated() {
    // The default uses the system resolver configuration (/etc/resolv.conf).
    assert!(SenderChecker::new(&SenderCheckSettings::default()).is_ok());
    assert!(
        SenderChecker::new(&SenderCheckSettings::Dkim {
            dns_server: Some("dns.example:53".to_owned())
        })
        .is_err()
    );
    assert!(
        SenderChecker::new(&SenderCheckSettings::AuthenticationResults {
            authserv_id: " ".to_owned()
        })
        .is_err()
    );
}
