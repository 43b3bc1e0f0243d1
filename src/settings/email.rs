//! Settings for notices by email: admins, the SMTP server, and which notices to send.

use std::collections::HashMap;
use std::fmt;
use std::time::Duration;

use lettre::message::Mailbox;
use url::{Host, Url};

use super::Problem;
use crate::secret::{redacted, user_is_secret, Secret};

/// How the connection to the SMTP server is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpSecurity {
    /// `smtps://`: TLS from the first byte (usually port 465).
    ImplicitTls,
    /// `smtp://` to a remote server with a password: STARTTLS, and no mail if it is not offered,
    /// so the password never crosses the network in clear text.
    StartTlsRequired,
    /// `smtp://` to a loopback host, or without a password: STARTTLS when the server offers it.
    StartTlsIfOffered,
}

/// Where and how to send email.
#[derive(Clone, PartialEq, Eq)]
pub struct SmtpSettings {
    /// The server's host name or address.
    pub host: String,
    /// Its port.
    pub port: u16,
    /// TLS mode.
    pub security: SmtpSecurity,
    /// User name and password, if the server needs them.
    pub credentials: Option<(String, Secret)>,
    /// The URL with the password masked, for display.
    pub shown: String,
}

impl SmtpSettings {
    /// The login's user as it may be shown: masked when it is a token
    /// ([`crate::secret::user_is_secret`]); `None` without a login.
    pub fn user_shown(&self) -> Option<&str> {
        let (user, password) = self.credentials.as_ref()?;
        match user_is_secret(user, Some(password.expose())) {
            true => Some(password.masked()),
            false => Some(user),
        }
    }
}

impl fmt::Display for SmtpSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.shown)
    }
}

/// By hand, so that a user that is a token is masked like the password (a derived `Debug`
/// would print the user as it is, in any `{:?}` of the settings).
impl fmt::Debug for SmtpSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let credentials = self
            .credentials
            .as_ref()
            .map(|(_, password)| (self.user_shown().unwrap_or_default(), password));
        f.debug_struct("SmtpSettings")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("security", &self.security)
            .field("credentials", &credentials)
            .field("shown", &self.shown)
            .finish()
    }
}

/// The scale-diff notice: the dyno count ranged over more than `threshold` within `period`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScaleDiff {
    /// Most dynos between the lowest and highest count set within the period.
    pub threshold: u32,
    /// The period looked back over.
    pub period: Duration,
}

/// Parses `smtp://user:pass@host:587` or `smtps://user:pass@host:465`.
pub fn parse_smtp_url(text: &str) -> Result<SmtpSettings, String> {
    super::validate::refuse_userinfo_cut_short(text)?;
    let url = Url::parse(text).map_err(|error| format!("is not a URL ({error})"))?;
    let implicit = match url.scheme() {
        "smtps" => true,
        "smtp" => false,
        _ => {
            return Err(
                "must be smtp://user:password@host:587 or smtps://user:password@host:465".into(),
            )
        }
    };
    let host = match url.host() {
        Some(Host::Domain(domain)) if !domain.is_empty() => domain.to_string(),
        Some(Host::Ipv4(address)) => address.to_string(),
        Some(Host::Ipv6(address)) => address.to_string(),
        _ => return Err("has no host: smtp://user:password@host:587".into()),
    };
    let loopback = match url.host() {
        // smtp:// is not a scheme the URL standard knows, so even 127.0.0.1 arrives as a name.
        Some(Host::Domain(domain)) => {
            domain.eq_ignore_ascii_case("localhost")
                || domain
                    .parse::<std::net::IpAddr>()
                    .is_ok_and(|address| address.is_loopback())
        }
        Some(Host::Ipv4(address)) => address.is_loopback(),
        Some(Host::Ipv6(address)) => address.is_loopback(),
        None => false,
    };
    let decode = |part: &str| {
        percent_decode(part)
            .ok_or_else(|| "has a user or password that is not valid UTF-8".to_string())
    };
    let credentials = match url.password() {
        // A password is only ever sent with a user name: one alone is a mistake in the URL.
        Some(_) if url.username().is_empty() => {
            return Err("has a password but no user name: smtp://user:password@host:587".into())
        }
        Some(password) => Some((decode(url.username())?, Secret::new(decode(password)?))),
        None if !url.username().is_empty() => {
            return Err("has a user name but no password: smtp://user:password@host:587".into())
        }
        None => None,
    };
    let security = match (implicit, loopback, credentials.is_some()) {
        (true, _, _) => SmtpSecurity::ImplicitTls,
        (false, false, true) => SmtpSecurity::StartTlsRequired,
        _ => SmtpSecurity::StartTlsIfOffered,
    };
    Ok(SmtpSettings {
        host,
        port: url.port().unwrap_or(if implicit { 465 } else { 587 }),
        security,
        credentials,
        shown: redacted(&url),
    })
}

fn percent_decode(text: &str) -> Option<String> {
    percent_encoding::percent_decode_str(text)
        .decode_utf8()
        .ok()
        .map(|text| text.into_owned())
}

/// The SMTP server a Heroku mail add-on's variables describe.
#[derive(Debug, PartialEq, Eq)]
pub struct AddonSmtp {
    /// The server as an SMTP URL, password included.
    pub url: String,
    /// Which variables it came from, to cite them by.
    pub source: &'static str,
    /// A variable that cannot be used: refused, never silently replaced by a default (a port
    /// that is not a number must not become 587). `url` then uses the default, so that the
    /// other checks still see a mail server and do not also say there is none.
    pub problem: Option<Problem>,
}

/// The SMTP server from a Heroku mail add-on's variables, and which add-on it was. Read only
/// when `AUTOSCALE_SMTP_URL` is unset.
pub fn smtp_url_from_addons(env: &HashMap<String, String>) -> Option<AddonSmtp> {
    let get = |name: &str| env.get(name).map(|v| v.trim()).filter(|v| !v.is_empty());
    let url = |user: &str, password: &str, host: &str, port: u16| {
        let mut url = Url::parse("smtp://localhost").ok()?;
        url.set_host(Some(host)).ok()?;
        url.set_port(Some(port)).ok()?;
        url.set_username(user).ok()?;
        url.set_password(Some(password)).ok()?;
        Some(url.to_string())
    };
    let found = |url: Option<String>, source, problem| {
        url.map(|url| AddonSmtp {
            url,
            source,
            problem,
        })
    };
    if let (Some(server), Some(login), Some(password)) = (
        get("MAILGUN_SMTP_SERVER"),
        get("MAILGUN_SMTP_LOGIN"),
        get("MAILGUN_SMTP_PASSWORD"),
    ) {
        let port = get(MAILGUN_PORT_VARIABLE).map(|port| parse_port(MAILGUN_PORT_VARIABLE, port));
        let (port, problem) = match port {
            None => (587, None),
            Some(Ok(port)) => (port, None),
            Some(Err(problem)) => (587, Some(problem)),
        };
        return found(
            url(login, password, server, port),
            "MAILGUN_SMTP_*",
            problem,
        );
    }
    if let (Some(user), Some(password)) = (get("SENDGRID_USERNAME"), get("SENDGRID_PASSWORD")) {
        let url = url(user, password, "smtp.sendgrid.net", 587);
        return found(url, "SENDGRID_USERNAME/SENDGRID_PASSWORD", None);
    }
    if let Some(key) = get("SENDGRID_API_KEY") {
        let url = url("apikey", key, "smtp.sendgrid.net", 587);
        return found(url, "SENDGRID_API_KEY", None);
    }
    if let (Some(server), Some(token)) = (get("POSTMARK_SMTP_SERVER"), get("POSTMARK_API_TOKEN")) {
        let url = url(token, token, server, 587);
        return found(url, "POSTMARK_SMTP_SERVER/POSTMARK_API_TOKEN", None);
    }
    None
}

const MAILGUN_PORT_VARIABLE: &str = "MAILGUN_SMTP_PORT";

/// A TCP port from the variable `name`; 0 is no port a server listens on.
fn parse_port(name: &str, text: &str) -> Result<u16, Problem> {
    match text.parse::<u16>() {
        Ok(port) if port > 0 => Ok(port),
        _ => Err(Problem {
            setting: name.into(),
            value: Some(text.into()),
            message: "must be a port number from 1 to 65535, like 587".into(),
        }),
    }
}

/// Parses one address, `ops@example.com` or `Ops <ops@example.com>`.
pub fn parse_mailbox(text: &str) -> Result<Mailbox, String> {
    text.trim().parse::<Mailbox>().map_err(|_| {
        format!(
            "\"{}\" is not an email address like ops@example.com or Ops <ops@example.com>",
            text.trim()
        )
    })
}

/// Parses a comma-separated list of addresses; commas inside quoted names do not split.
pub fn parse_admins(text: &str) -> Result<Vec<Mailbox>, String> {
    let mut parts = Vec::new();
    let mut current = String::new();
    let mut quoted = false;
    for c in text.chars() {
        match c {
            '"' => {
                quoted = !quoted;
                current.push(c);
            }
            ',' if !quoted => parts.push(std::mem::take(&mut current)),
            _ => current.push(c),
        }
    }
    parts.push(current);
    parts
        .iter()
        .filter(|part| !part.trim().is_empty())
        .map(|part| parse_mailbox(part))
        .collect()
}

/// `true`/`false` (also `yes`/`no`, `1`/`0`, `on`/`off`), as the seed's Python booleans allowed.
pub fn parse_bool(text: &str) -> Result<bool, String> {
    match text.trim().to_ascii_lowercase().as_str() {
        "true" | "yes" | "1" | "on" => Ok(true),
        "false" | "no" | "0" | "off" => Ok(false),
        _ => Err("must be true or false (also yes/no, on/off, 1/0, in any case)".into()),
    }
}

/// The default sender, naming the app.
pub fn default_sender(app: &str) -> Mailbox {
    let fallback = || "heroku-autoscale <heroku-autoscale@localhost>".parse::<Mailbox>();
    format!("heroku-autoscale <heroku-autoscale@{app}.herokuapp.com>")
        .parse::<Mailbox>()
        .or_else(|_| fallback())
        .expect("the fallback sender is a valid address")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn smtp_urls_choose_tls_so_passwords_stay_encrypted() {
        let remote = parse_smtp_url("smtp://user:p%40ss@smtp.example.com").unwrap();
        assert_eq!(remote.port, 587);
        assert_eq!(remote.security, SmtpSecurity::StartTlsRequired);
        let (user, password) = remote.credentials.clone().unwrap();
        assert_eq!((user.as_str(), password.expose()), ("user", "p@ss"));
        assert_eq!(remote.to_string(), "smtp://user:********@smtp.example.com");
        assert!(!format!("{remote:?}").contains("p@ss"));

        let implicit = parse_smtp_url("smtps://u:p@smtp.example.com").unwrap();
        assert_eq!(
            (implicit.port, implicit.security),
            (465, SmtpSecurity::ImplicitTls)
        );
        let local = parse_smtp_url("smtp://127.0.0.1:2525").unwrap();
        assert_eq!(
            (local.port, local.security),
            (2525, SmtpSecurity::StartTlsIfOffered)
        );
        assert_eq!(local.credentials, None);
    }

    #[test]
    fn a_password_to_a_loopback_server_does_not_demand_starttls() {
        for url in [
            "smtp://u:p@127.0.0.1:2525",
            "smtp://u:p@localhost:2525",
            "smtp://u:p@[::1]:2525",
        ] {
            let local = parse_smtp_url(url).unwrap();
            assert_eq!(local.security, SmtpSecurity::StartTlsIfOffered, "{url}");
        }
        let remote = parse_smtp_url("smtp://u:p@10.0.0.7:2525").unwrap();
        assert_eq!(remote.security, SmtpSecurity::StartTlsRequired);
    }

    #[test]
    fn bad_smtp_urls_are_refused() {
        assert!(parse_smtp_url("http://smtp.example.com")
            .unwrap_err()
            .contains("smtp://"));
        assert!(parse_smtp_url("smtp.example.com:587").is_err());
        assert!(parse_smtp_url("smtp://user@smtp.example.com")
            .unwrap_err()
            .contains("no password"));
    }

    #[test]
    fn admins_are_a_comma_separated_list_with_names() {
        let admins = parse_admins("Ops <ops@example.com>, dev@example.com").unwrap();
        assert_eq!(admins.len(), 2);
        assert_eq!(admins[0].email.to_string(), "ops@example.com");
        assert_eq!(admins[0].name.as_deref(), Some("Ops"));
        let quoted = parse_admins("\"Doe, Jane\" <jane@example.com>").unwrap();
        assert_eq!(quoted.len(), 1);
        let error = parse_admins("ops@example.com, not-an-address").unwrap_err();
        assert!(
            error.contains("\"not-an-address\" is not an email address"),
            "{error}"
        );
    }

    #[test]
    fn mail_addon_variables_make_an_smtp_url() {
        let env: HashMap<String, String> = [
            ("MAILGUN_SMTP_SERVER", "smtp.mailgun.org"),
            ("MAILGUN_SMTP_PORT", "2525"),
            ("MAILGUN_SMTP_LOGIN", "postmaster@acme.mailgun.org"),
            ("MAILGUN_SMTP_PASSWORD", "pw/with:odd@chars"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let addon = smtp_url_from_addons(&env).unwrap();
        assert_eq!((addon.source, addon.problem), ("MAILGUN_SMTP_*", None));
        let smtp = parse_smtp_url(&addon.url).unwrap();
        assert_eq!((smtp.host.as_str(), smtp.port), ("smtp.mailgun.org", 2525));
        let (user, password) = smtp.credentials.unwrap();
        assert_eq!(user, "postmaster@acme.mailgun.org");
        assert_eq!(password.expose(), "pw/with:odd@chars");

        let sendgrid: HashMap<String, String> =
            [("SENDGRID_API_KEY".to_string(), "SG.key".to_string())].into();
        let url = smtp_url_from_addons(&sendgrid).unwrap().url;
        assert_eq!(parse_smtp_url(&url).unwrap().host, "smtp.sendgrid.net");
        assert_eq!(smtp_url_from_addons(&HashMap::new()), None);
    }

    #[test]
    fn booleans_accept_the_usual_spellings() {
        assert_eq!(parse_bool("True"), Ok(true));
        assert_eq!(parse_bool("no"), Ok(false));
        assert!(parse_bool("maybe").is_err());
    }
}
