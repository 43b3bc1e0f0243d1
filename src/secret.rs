//! A string that must never be printed: the Heroku API key, SMTP passwords.

use std::fmt;

/// Holds a secret value. `Debug` and `Display` print `********`, so a secret cannot leak through
/// a log line, an error message or a `{:?}` of a struct that contains it; the value is reached only
/// through [`Secret::expose`], at the one place that has to send it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The secret itself, for the request header that must carry it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The masked form shown wherever a secret would be printed.
    pub fn masked(&self) -> &'static str {
        MASK
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.masked())
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.masked())
    }
}

/// A URL that may carry a password (the API URL, the heartbeat URL): its `Debug` shows it
/// redacted, so a settings dump in a panic or a test failure cannot print the password.
#[derive(Clone, PartialEq, Eq)]
pub struct UrlWithSecrets(pub url::Url);

impl fmt::Debug for UrlWithSecrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&redacted(&self.0))
    }
}

impl std::ops::Deref for UrlWithSecrets {
    type Target = url::Url;

    fn deref(&self) -> &url::Url {
        &self.0
    }
}

/// `text` with the SMTP password replaced by `********` wherever it appears: plain, and as SMTP
/// AUTH sends it, base64 encoded alone (LOGIN) or with the user name (PLAIN). For error texts
/// from the mail library, which may echo what a server said about the exchange.
pub fn smtp_scrubbed(text: &str, user: &str, password: &Secret) -> String {
    use base64::engine::general_purpose::STANDARD;
    use base64::Engine;
    let plain = password.expose();
    if plain.is_empty() {
        return text.to_string();
    }
    let forms = [
        plain.to_string(),
        STANDARD.encode(plain),
        STANDARD.encode(format!("\0{user}\0{plain}")),
    ];
    forms.iter().fold(text.to_string(), |text, form| {
        text.replace(form, password.masked())
    })
}

/// Whether a URL's or SMTP login's user must be masked as well as its password: when it is the
/// password itself (Postmark's add-on gives one token for both) or stands alone without a
/// password (`https://TOKEN@host`), the two ways a token is put in a user's place. An empty
/// password (`https://TOKEN:@host`) is none, as [`url::Url::password`] has it. Compared
/// percent-decoded, so `a%40b` and `a@b` are the same user.
pub fn user_is_secret(user: &str, password: Option<&str>) -> bool {
    let decoded = |text: &str| percent_encoding::percent_decode_str(text).collect::<Vec<u8>>();
    match password {
        _ if user.is_empty() => false,
        None | Some("") => true,
        Some(password) => decoded(user) == decoded(password),
    }
}

/// A URL for display: any password replaced by `********`, and the user too when
/// [`user_is_secret`].
pub fn redacted(url: &url::Url) -> String {
    let mask_user = user_is_secret(url.username(), url.password());
    if url.password().is_none() && !mask_user {
        return url.to_string();
    }
    let mut shown = url.clone();
    // Both only fail for URLs that cannot have credentials, which have none to hide.
    if url.password().is_some() {
        let _ = shown.set_password(Some(MASK));
    }
    if mask_user {
        let _ = shown.set_username(MASK);
    }
    shown.to_string()
}

/// `text`, a setting's value (one URL, or text meant as one), as written, with its user and
/// password masked as [`redacted`] masks a URL. Works on the text rather than a parsed URL, so
/// that a value refused for not being a valid URL (a space in the host, say) is still quoted as
/// the user wrote it, minus the secrets.
///
/// In a valid URL the user and password run to the last `@` before the first `/`. In text that
/// is not one, or whose user or password a `?` or `#` cut short ([`userinfo_cut_short`]), they
/// run to the last `@` before the first `/` that follows an `@`: a space, a `?`, a `#` or a `/`
/// before it may be part of an unencoded password. That masks too much of some broken values
/// (`https://exa mple.com/a@b` shows as `https://********@b`), never too little.
pub fn redacted_value(text: &str) -> String {
    let valid = url::Url::parse(text.trim()).is_ok() && !userinfo_cut_short(text);
    redacted_each(text, |after| match after.find('@') {
        _ if valid => after.find('/').unwrap_or(after.len()),
        Some(first) => after[first..]
            .find('/')
            .map_or(after.len(), |slash| first + slash),
        None => after.len(),
    })
}

/// `text` with the user and password of each `scheme://` in it masked, `end` telling where the
/// part after a `://` that may hold them ends (a value is one URL, but a broken one may hold
/// more than one `://`).
fn redacted_each(text: &str, end: impl Fn(&str) -> usize) -> String {
    let mut shown = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("://") {
        let (before, after) = rest.split_at(at + 3);
        shown.push_str(before);
        let (authority, tail) = after.split_at(end(after));
        match authority.rsplit_once('@') {
            Some((userinfo, host)) => {
                shown.push_str(&redacted_userinfo(userinfo));
                shown.push('@');
                shown.push_str(host);
            }
            None => shown.push_str(authority),
        }
        rest = tail;
    }
    shown.push_str(rest);
    shown
}

/// Whether `text`, a URL as written, has a `?` or `#` before the first `/` after its `://`, and
/// an `@` anywhere after that: most likely a user or password with those characters unencoded,
/// which the URL standard reads as the start of a query or fragment, so that the URL means
/// another host (`https://tok?en/x@host` is the host `tok`), or is no URL at all. Such a URL is
/// refused, with advice to percent-encode them. So is a query with an `@` but no `/` before it
/// (`https://host?next=a@b`), which cannot be told apart: `https://host/?next=a@b` is the same.
pub fn userinfo_cut_short(text: &str) -> bool {
    let Some(at) = text.find("://") else {
        return false;
    };
    let after = &text[at + 3..];
    match after.find(['/', '?', '#']) {
        Some(stop) if !after[stop..].starts_with('/') => after[stop..].contains('@'),
        _ => false,
    }
}

fn redacted_userinfo(userinfo: &str) -> String {
    let (user, password) = match userinfo.split_once(':') {
        Some((user, password)) => (user, Some(password)),
        None => (userinfo, None),
    };
    let user = if user_is_secret(user, password) {
        MASK
    } else {
        user
    };
    match password {
        // Nothing to hide: shown as written, `user:` (a user standing alone, masked if any).
        Some("") => format!("{user}:"),
        Some(_) => format!("{user}:{MASK}"),
        None => user.to_string(),
    }
}

/// What a secret is replaced with.
const MASK: &str = "********";

/// `text` with `secret` masked wherever it appears as itself or as an answer may encode it: in
/// JSON (`\/`, `\"`, `\\`, `\u0068`) or percent-encoded (`%2F`), each character either way. For
/// bodies from the other end, before they are decoded, so the secret cannot come out of the
/// decoding either.
pub fn masked_echoes(text: &[u8], secret: &str) -> Vec<u8> {
    let secret = secret.as_bytes();
    if secret.is_empty() {
        return text.to_vec();
    }
    let mut masked = Vec::with_capacity(text.len());
    let mut at = 0;
    while at < text.len() {
        match echo_length(&text[at..], secret) {
            Some(length) => {
                masked.extend_from_slice(MASK.as_bytes());
                at += length;
            }
            None => {
                masked.push(text[at]);
                at += 1;
            }
        }
    }
    masked
}

/// The length of the echo of `secret` that `text` starts with, if it starts with one.
fn echo_length(text: &[u8], secret: &[u8]) -> Option<usize> {
    secret.iter().try_fold(0, |at, &wanted| {
        let rest = text.get(at..)?;
        let escaped = |prefix: &[u8], digits: usize| {
            let hex = rest.strip_prefix(prefix)?.get(..digits)?;
            let value = u32::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok()?;
            (value == u32::from(wanted)).then_some(prefix.len() + digits)
        };
        let length = match rest {
            [first, ..] if *first == wanted => Some(1),
            [b'\\', second, ..] if *second == wanted && b"/\"\\".contains(&wanted) => Some(2),
            _ if wanted.is_ascii() => escaped(b"\\u", 4).or_else(|| escaped(b"%", 2)),
            _ => None,
        };
        length.map(|length| at + length)
    })
}

/// `text` made safe to put in a log line or an email: control characters (C0, DEL, C1) and the
/// Unicode controls that reorder text are shown escaped (`\u{1b}`), line breaks and tabs as a
/// space. For texts from the other end (API error bodies, SMTP replies, the app), which could
/// otherwise recolour a terminal, forge a log line or hide what follows.
pub fn printable(text: &str) -> String {
    let mut shown = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\t' | '\n' | '\r' | '\u{0b}' | '\u{0c}' => shown.push(' '),
            c if c.is_control() || is_bidi_control(c) => shown.extend(c.escape_unicode()),
            c => shown.push(c),
        }
    }
    shown
}

fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{061c}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// `text` from the other end, fit for a log line or an email: `secret` masked in any form
/// [`masked_echoes`] knows, then [`printable`].
pub fn scrubbed(text: &str, secret: &str) -> String {
    let masked = masked_echoes(text.as_bytes(), secret);
    printable(&String::from_utf8_lossy(&masked))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_scrubbed_from_error_texts() {
        let secret = Secret::new("hunter2");
        assert_eq!(
            smtp_scrubbed("535 bad password hunter2 for hunter2", "mailer", &secret),
            "535 bad password ******** for ********"
        );
        assert_eq!(smtp_scrubbed("535 denied", "mailer", &secret), "535 denied");
        assert_eq!(
            smtp_scrubbed("535 denied", "mailer", &Secret::new("")),
            "535 denied"
        );
    }

    #[test]
    fn smtp_passwords_are_scrubbed_in_their_auth_encodings_too() {
        let password = Secret::new("hunter2");
        // base64("hunter2") and base64("\0mailer\0hunter2"), as LOGIN and PLAIN send them.
        let echoed = "535 5.7.8 rejected aHVudGVyMg== and AG1haWxlcgBodW50ZXIy for hunter2";
        assert_eq!(
            smtp_scrubbed(echoed, "mailer", &password),
            "535 5.7.8 rejected ******** and ******** for ********"
        );
        assert_eq!(
            smtp_scrubbed("535 denied", "mailer", &password),
            "535 denied"
        );
    }

    #[test]
    fn passwords_in_urls_are_masked_for_display() {
        let url = url::Url::parse("https://user:hunter2@example.com/health").unwrap();
        assert_eq!(redacted(&url), "https://user:********@example.com/health");
        let plain = url::Url::parse("https://example.com/").unwrap();
        assert_eq!(redacted(&plain), "https://example.com/");
    }

    #[test]
    fn a_user_that_is_a_token_is_masked_with_the_password() {
        let shown = |text: &str| redacted(&url::Url::parse(text).unwrap());
        // Postmark: the token is both user and password.
        assert_eq!(
            shown("smtp://pmTOKEN:pmTOKEN@smtp.postmarkapp.com:587"),
            "smtp://********:********@smtp.postmarkapp.com:587"
        );
        assert_eq!(
            shown("https://TOKEN@example.com/up"),
            "https://********@example.com/up"
        );
        assert_eq!(
            shown("smtp://apikey:SG.key@smtp.sendgrid.net"),
            "smtp://apikey:********@smtp.sendgrid.net"
        );
        assert!(user_is_secret("a%40b", Some("a@b")));
        assert!(!user_is_secret("", None));
    }

    #[test]
    fn urls_in_text_are_masked_as_written_even_when_they_do_not_parse() {
        assert_eq!(
            redacted_value("http://user:pw@example.com"),
            "http://user:********@example.com"
        );
        assert_eq!(
            redacted_value("https://user:pw@exa mple.com/a@b?c=d:e@f"),
            "https://user:********@exa mple.com/a@b?c=d:e@f"
        );
        assert_eq!(
            redacted_value("a tok@x ftp://TOK@h/p and smtp://t:t@h"),
            "a tok@x ftp://********@h/p and smtp://********:********@h"
        );
        // A password with an @ or a / in it, unencoded: the host starts after the last @.
        assert_eq!(
            redacted_value("smtp://u:p@ss@h:25"),
            "smtp://u:********@h:25"
        );
        assert_eq!(
            redacted_value("https://u:pa/ss@host/up"),
            "https://u:********@host/up"
        );
        for plain in [
            "",
            "/heroku-autoscale/heartbeat/v1",
            "https://example.com/a@b",
            "3",
        ] {
            assert_eq!(redacted_value(plain), plain);
        }
    }

    #[test]
    fn a_password_with_an_unencoded_hash_or_question_mark_is_masked_whole() {
        // Not URLs (the part after `#` or `?` ends the host: "invalid port number"), but meant
        // as one: the user and password run to the last `@`.
        for (text, shown) in [
            (
                "https://user:pa#ss@app.example.com/hb",
                "https://user:********@app.example.com/hb",
            ),
            (
                "https://user:pa#ss@api.example.com",
                "https://user:********@api.example.com",
            ),
            (
                "https://user:s3cr?t@app.example.com/hb",
                "https://user:********@app.example.com/hb",
            ),
            (
                "smtp://user:a?b#c/d@smtp.example.com:587",
                "smtp://user:********@smtp.example.com:587",
            ),
            (
                "https://user:p#w@exa mple.com/x@y",
                "https://user:********@exa mple.com/x@y",
            ),
        ] {
            assert!(url::Url::parse(text).is_err(), "{text}");
            assert_eq!(redacted_value(text), shown);
        }
        // URLs that parse, with what was meant as credentials moved into a query or fragment
        // (host `tok`, fragment `en@app.example.com`): masked as written all the same.
        for (text, shown) in [
            (
                "https://tok#en@app.example.com/hb",
                "https://********@app.example.com/hb",
            ),
            (
                "https://tok?en@app.example.com",
                "https://********@app.example.com",
            ),
            (
                "https://us?er:pw@app.example.com/",
                "https://us?er:********@app.example.com/",
            ),
            ("https://user@host?x#y", "https://********@host?x#y"),
            ("https://user@host?x=a@b#y", "https://********@b#y"),
        ] {
            assert!(url::Url::parse(text).is_ok(), "{text}");
            assert_eq!(redacted_value(text), shown);
        }
        // After a `/`, an `@` belongs to the path, query or fragment.
        for plain in ["https://example.com/a?b=c@d", "https://example.com/#x@y"] {
            assert_eq!(redacted_value(plain), plain);
        }
    }

    #[test]
    fn credentials_cut_short_by_a_hash_or_question_mark_are_told_apart() {
        for cut in [
            "https://user:pa#ss@app.example.com/hb",
            "https://tok#en@app.example.com/hb",
            "https://user:s3cr?t@api.example.com",
            "smtp://u:p?w@smtp.example.com:587",
        ] {
            assert!(userinfo_cut_short(cut), "{cut}");
        }
        for whole in [
            "https://user:pa%23ss@app.example.com/hb",
            "https://user:pw@app.example.com/hb?x=a@b#c@d",
            "https://app.example.com/hb?who=a@b",
            "https://app.example.com/",
            "/heroku-autoscale/heartbeat/v1",
            "smtp://127.0.0.1:2525",
        ] {
            assert!(!userinfo_cut_short(whole), "{whole}");
        }
    }

    #[test]
    fn an_empty_password_leaves_a_user_standing_alone_which_is_masked() {
        assert!(user_is_secret("hkTOKEN", Some("")));
        for (text, shown) in [
            (
                "http://hkTOKEN:@example.com",
                "http://********:@example.com",
            ),
            ("smtp://pmTOKEN:@host", "smtp://********:@host"),
        ] {
            assert_eq!(redacted_value(text), shown);
            assert_eq!(redacted_value(text), shown);
        }
        let url = url::Url::parse("http://hkTOKEN:@example.com").unwrap();
        assert_eq!(redacted(&url), "http://********@example.com/");
    }

    #[test]
    fn a_setting_value_is_one_url_so_a_space_does_not_end_its_password() {
        for (text, shown) in [
            // Valid URLs (the space is percent-encoded), refused for their scheme.
            (
                "http://user:my secret@example.com",
                "http://user:********@example.com",
            ),
            (
                "ftp://user:my secret@host/hb",
                "ftp://user:********@host/hb",
            ),
            ("https://tok en@host/a@b", "https://********@host/a@b"),
            // Not URLs: the user and password run to the last @ before the / after an @.
            (
                "https://user:my secret@exa mple.com/a@b?c=d:e@f",
                "https://user:********@exa mple.com/a@b?c=d:e@f",
            ),
            (
                "smtp://u:a b@c d@exa mple.com:587",
                "smtp://u:********@exa mple.com:587",
            ),
            ("https://u:pa/s s@host/up", "https://u:********@host/up"),
            (
                "https://user:p#w @exa mple.com/x@y",
                "https://user:********@exa mple.com/x@y",
            ),
            // Credentials cut short by a ? or #, the URL valid or not.
            (
                "https://tok?en/x@app.example.com/hb",
                "https://********@app.example.com/hb",
            ),
            ("https://user:123?/x@host", "https://user:********@host"),
            (
                "https://user:pa#ss@app.example.com/hb",
                "https://user:********@app.example.com/hb",
            ),
        ] {
            assert_eq!(redacted_value(text), shown, "{text}");
        }
        for plain in [
            "",
            "/heroku-autoscale/heartbeat/v1",
            "https://example.com/a@b",
            "https://example.com/a b@c",
            "https://example.com/a?b=c@d",
            "https://[::1]:8080/hb",
            "3",
        ] {
            assert_eq!(redacted_value(plain), plain);
        }
        // Free text keeps ending a URL at a space, so each of several URLs is masked.
        assert_eq!(
            redacted_value("a tok@x ftp://TOK@h/p and smtp://t:t@h"),
            "a tok@x ftp://********@h/p and smtp://********:********@h"
        );
    }

    #[test]
    fn credentials_ending_in_a_query_or_fragment_before_a_slash_are_cut_short() {
        for cut in [
            "https://tok?en/x@app.example.com/hb",
            "https://user:123?/x@host",
            "https://tok#en/x@app.example.com/hb",
            "smtp://tok?en/x@smtp.example.com:587",
            "https://app.example.com?next=ops@example.com",
            "https://user:my pa?ss/x@host",
        ] {
            assert!(userinfo_cut_short(cut), "{cut}");
        }
        for whole in [
            "https://host/path?next=a@b",
            "https://user@host/",
            "https://[::1]:8080/hb",
            "https://host?x=1",
            "https://host#top",
            "https://user:pw@host/hb?x=1#a@b",
            "/hb?x=1",
            "smtp://mailer:pw%3Fx@smtp.example.com:587",
        ] {
            assert!(!userinfo_cut_short(whole), "{whole}");
        }
    }

    #[test]
    fn a_secret_is_masked_in_every_form_an_answer_may_echo_it() {
        let masked =
            |text: &str| String::from_utf8(masked_echoes(text.as_bytes(), "hk/se\"c")).unwrap();
        assert_eq!(masked(r#"Bearer hk/se"c."#), "Bearer ********.");
        assert_eq!(masked(r#"Bearer hk\/se\"c."#), "Bearer ********.");
        assert_eq!(masked(r"\u0068\u006B\u002fse\u0022c"), "********");
        assert_eq!(masked("hk%2Fse%22c"), "********");
        assert_eq!(masked(r#"hk\/se\"chk/se\u0022c"#), "****************");
        // Almost the secret, and escapes of other characters, stay as they were.
        for text in [r"hk\/se", r#"\u0069k/se\"c"#, r"hk\\se", "", r"\u00", "%2"] {
            assert_eq!(masked(text), text);
        }
        assert_eq!(masked_echoes(b"abc", ""), b"abc");
    }

    #[test]
    fn control_characters_are_shown_escaped() {
        assert_eq!(
            printable("\u{1b}[31mred\u{1b}[0m\u{7}\u{9b}\u{7f}"),
            r"\u{1b}[31mred\u{1b}[0m\u{7}\u{9b}\u{7f}"
        );
        assert_eq!(printable("two\r\nlines\tand é"), "two  lines and é");
        assert_eq!(printable("evil\u{202e}txt"), r"evil\u{202e}txt");
        assert_eq!(
            scrubbed("\u{1b}]0;k\u{7} key", "key"),
            r"\u{1b}]0;k\u{7} ********"
        );
    }

    #[test]
    fn debug_and_display_never_show_the_value() {
        let key = Secret::new("hrku-0123456789abcdef");
        assert_eq!(format!("{key:?}"), "********");
        assert_eq!(format!("{key}"), "********");
        assert_eq!(key.expose(), "hrku-0123456789abcdef");
    }
}
