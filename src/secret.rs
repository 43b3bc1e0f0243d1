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
        "********"
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

/// A URL for display, with any password in it replaced by `********`.
pub fn redacted(url: &url::Url) -> String {
    if url.password().is_none() {
        return url.to_string();
    }
    let mut shown = url.clone();
    // Only fails for URLs that cannot have credentials, which have no password to hide.
    let _ = shown.set_password(Some("********"));
    shown.to_string()
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
    fn debug_and_display_never_show_the_value() {
        let key = Secret::new("hrku-0123456789abcdef");
        assert_eq!(format!("{key:?}"), "********");
        assert_eq!(format!("{key}"), "********");
        assert_eq!(key.expose(), "hrku-0123456789abcdef");
    }
}
