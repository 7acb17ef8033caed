//! A careful parser for the `Authentication-Results` header field (RFC 8601).
//!
//! Only what the sender check needs is kept: the authserv-id and, for each result, the
//! method, the result keyword and the `ptype.property=value` pairs. Comments (nested, with
//! quoted pairs) are dropped, quoted strings are unquoted, and whitespace (including folding)
//! may appear around `;`, `=` and `/` as CFWS allows. Anything that does not follow the grammar
//! makes the whole header unparseable (`None`): the caller then ignores it, which can only
//! lead to a failed check, never to a pass.

/// One parsed `Authentication-Results` header field.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct AuthResults {
    /// The authserv-id (as written; compare case-insensitively).
    pub(crate) authserv_id: String,
    /// The results, in order; empty for `none`.
    pub(crate) results: Vec<MethodResult>,
}

/// One `method=result` entry with its properties.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct MethodResult {
    /// The method, lower-cased (`dkim`, `dmarc`, `spf`, …), without its `/version`.
    pub(crate) method: String,
    /// The result keyword, lower-cased (`pass`, `fail`, …).
    pub(crate) result: String,
    /// `(ptype.property lower-cased, value as written)`, in order; `reason` is kept too.
    pub(crate) props: Vec<(String, String)>,
}

impl MethodResult {
    /// The first value of property `name` (`header.d`, `header.from`, …).
    pub(crate) fn prop(&self, name: &str) -> Option<&str> {
        self.props
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Token {
    /// A run of characters that are none of whitespace, `;`, `=`, `/`, `"`, `(`.
    Word(String),
    /// A quoted string, unquoted.
    Quoted(String),
    Semi,
    Equals,
    Slash,
}

/// Splits the (unfolded or folded) header value into tokens, dropping comments.
fn tokenize(value: &str) -> Option<Vec<Token>> {
    let mut tokens = Vec::new();
    let mut chars = value.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            c if c.is_whitespace() => {}
            ';' => tokens.push(Token::Semi),
            '=' => tokens.push(Token::Equals),
            '/' => tokens.push(Token::Slash),
            '(' => {
                // A comment, possibly nested, with quoted pairs.
                let mut depth = 1usize;
                loop {
                    match chars.next()? {
                        '\\' => {
                            chars.next()?;
                        }
                        '(' => depth += 1,
                        ')' => {
                            depth -= 1;
                            if depth == 0 {
                                break;
                            }
                        }
                        _ => {}
                    }
                }
            }
            ')' => return None,
            '"' => {
                let mut s = String::new();
                loop {
                    match chars.next()? {
                        '\\' => s.push(chars.next()?),
                        '"' => break,
                        c => s.push(c),
                    }
                }
                tokens.push(Token::Quoted(s));
            }
            c => {
                let mut s = String::from(c);
                while let Some(&n) = chars.peek() {
                    if n.is_whitespace() || matches!(n, ';' | '=' | '/' | '"' | '(' | ')') {
                        break;
                    }
                    s.push(n);
                    chars.next();
                }
                tokens.push(Token::Word(s));
            }
        }
    }
    Some(tokens)
}

/// Parses one `Authentication-Results` header value (everything after the colon).
pub(crate) fn parse(value: &str) -> Option<AuthResults> {
    let tokens = tokenize(value)?;
    let mut it = tokens.into_iter().peekable();

    // authserv-id [ CFWS authres-version ]
    let authserv_id = match it.next()? {
        Token::Word(w) | Token::Quoted(w) => w,
        _ => return None,
    };
    if authserv_id.is_empty() {
        return None;
    }
    if let Some(Token::Word(w)) = it.peek() {
        if !w.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        it.next();
    }

    let mut results = Vec::new();
    match it.next() {
        // No `;` at all: only valid as the bare `none` form is not this; be strict.
        None => return None,
        Some(Token::Semi) => {}
        Some(_) => return None,
    }

    // `none` (no-result) or 1*resinfo.
    if let Some(Token::Word(w)) = it.peek()
        && w.eq_ignore_ascii_case("none")
    {
        it.next();
        return match it.next() {
            None => Some(AuthResults {
                authserv_id,
                results,
            }),
            _ => None,
        };
    }

    loop {
        // methodspec = method [ "/" version ] "=" result
        let method = match it.next()? {
            Token::Word(w) => w.to_ascii_lowercase(),
            _ => return None,
        };
        if it.peek() == Some(&Token::Slash) {
            it.next();
            match it.next()? {
                Token::Word(v) if v.bytes().all(|b| b.is_ascii_digit()) => {}
                _ => return None,
            }
        }
        if it.next()? != Token::Equals {
            return None;
        }
        let result = match it.next()? {
            Token::Word(w) => w.to_ascii_lowercase(),
            _ => return None,
        };

        // [reasonspec] *propspec, each `name = value`.
        let mut props = Vec::new();
        loop {
            match it.peek() {
                None | Some(Token::Semi) => break,
                Some(Token::Word(_)) => {}
                Some(_) => return None,
            }
            let name = match it.next()? {
                Token::Word(w) => w.to_ascii_lowercase(),
                _ => return None,
            };
            if it.next()? != Token::Equals {
                return None;
            }
            // A value may itself contain `/` (e.g. a path) or `=` is not allowed unquoted;
            // join adjacent words separated by `/` so `header.b=abc/def` stays one value.
            let mut value = match it.next()? {
                Token::Word(w) | Token::Quoted(w) => w,
                _ => return None,
            };
            while it.peek() == Some(&Token::Slash) {
                it.next();
                value.push('/');
                if let Some(Token::Word(w)) = it.peek() {
                    value.push_str(w);
                    it.next();
                }
            }
            props.push((name, value));
        }
        results.push(MethodResult {
            method,
            result,
            props,
        });

        match it.next() {
            None => break,
            Some(Token::Semi) => {
                // Tolerate a trailing `;`.
                if it.peek().is_none() {
                    break;
                }
            }
            Some(_) => return None,
        }
    }

    Some(AuthResults {
        authserv_id,
        results,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_typical_header() {
        let v = " mx.example.net;\r\n\tdkim=pass (2048-bit key; unprotected) header.d=customer.test\r\n header.s=sel header.b=\"AbC/+d\";\r\n spf=pass smtp.mailfrom=customer.test;\r\n dmarc=pass (p=reject dis=none) header.from=customer.test";
        let ar = parse(v).unwrap();
        assert_eq!(ar.authserv_id, "mx.example.net");
        assert_eq!(ar.results.len(), 3);
        assert_eq!(ar.results[0].method, "dkim");
        assert_eq!(ar.results[0].result, "pass");
        assert_eq!(ar.results[0].prop("header.d"), Some("customer.test"));
        assert_eq!(ar.results[0].prop("header.b"), Some("AbC/+d"));
        assert_eq!(ar.results[2].method, "dmarc");
        assert_eq!(ar.results[2].prop("header.from"), Some("customer.test"));
    }

    #[test]
    fn version_cfws_and_method_version() {
        let ar =
            parse("example.com 1 ; dkim/1 = fail reason=\"bad sig\" header.i = @customer.test")
                .unwrap();
        assert_eq!(ar.authserv_id, "example.com");
        assert_eq!(ar.results[0].method, "dkim");
        assert_eq!(ar.results[0].result, "fail");
        assert_eq!(ar.results[0].prop("reason"), Some("bad sig"));
        assert_eq!(ar.results[0].prop("header.i"), Some("@customer.test"));
    }

    #[test]
    fn none_and_garbage() {
        let ar = parse("mx.example.net; none").unwrap();
        assert!(ar.results.is_empty());
        assert!(parse("mx.example.net").is_none());
        assert!(parse("mx.example.net; dkim").is_none());
        assert!(parse("mx.example.net; dkim=pass (unterminated").is_none());
        assert!(parse("mx.example.net; dkim=pass header.d").is_none());
        assert!(parse("").is_none());
        // A comment cannot smuggle a second authserv-id in.
        let ar = parse("(mx.example.net) evil.example; dkim=pass header.d=customer.test").unwrap();
        assert_eq!(ar.authserv_id, "evil.example");
    }
}
