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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_display_never_show_the_value() {
        let key = Secret::new("hrku-0123456789abcdef");
        assert_eq!(format!("{key:?}"), "********");
        assert_eq!(format!("{key}"), "********");
        assert_eq!(key.expose(), "hrku-0123456789abcdef");
    }
}
