//! The SMTP transport, shared by the notifier and `check --online`: how it is built, what its
//! failures tell the user, and a login test that sends no mail.

use std::time::Duration;

use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::transport::smtp::Error;
use lettre::{AsyncSmtpTransport, Tokio1Executor};

use crate::secret::{printable, smtp_scrubbed};
use crate::settings::{SmtpSecurity, SmtpSettings};

/// The transport the notifier sends with.
pub type Mailer = AsyncSmtpTransport<Tokio1Executor>;

/// Builds the SMTP transport, giving up on a connect after `timeout` (lettre applies it to the
/// TCP connect only; the whole exchange is bounded by the caller). Certificates are always
/// verified.
pub fn mailer(smtp: &SmtpSettings, timeout: Duration) -> Result<Mailer, Error> {
    let parameters = TlsParameters::new(smtp.host.clone());
    let tls = match (smtp.security, parameters) {
        (SmtpSecurity::ImplicitTls, parameters) => Tls::Wrapper(parameters?),
        (SmtpSecurity::StartTlsRequired, parameters) => Tls::Required(parameters?),
        (SmtpSecurity::StartTlsIfOffered, Ok(parameters)) => Tls::Opportunistic(parameters),
        // Only loopback hosts or password-less relays get here: plain is what they offer.
        (SmtpSecurity::StartTlsIfOffered, Err(_)) => Tls::None,
    };
    let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(smtp.host.clone())
        .port(smtp.port)
        .tls(tls)
        .timeout(Some(timeout));
    if let Some((user, password)) = &smtp.credentials {
        builder = builder.credentials(Credentials::new(
            user.clone(),
            password.expose().to_string(),
        ));
    }
    Ok(builder.build())
}

/// What went wrong talking to the SMTP server, in words that say what to change where the
/// library's own are no help; the password taken out in any form it is sent in.
pub fn describe(error: &Error, smtp: Option<&SmtpSettings>) -> String {
    let text = error.to_string();
    // lettre has no error kind for this: a client error with this text is the only sign.
    if error.is_client() && text.contains("No compatible authentication mechanism") {
        return NO_LOGIN.to_string();
    }
    let text = scrubbed(&text, smtp);
    if error.status().is_some_and(|code| code.to_string() == "535") {
        return format!(
            "{text}: the SMTP server refused the user and password; check them in \
             AUTOSCALE_SMTP_URL"
        );
    }
    text
}

/// Connects, says EHLO, starts TLS as the settings ask, logs in when they carry a user, and
/// says QUIT: shows that notices can be emailed without sending any. All within `timeout`.
pub async fn try_login(smtp: &SmtpSettings, timeout: Duration) -> Result<(), String> {
    let transport = mailer(smtp, timeout).map_err(|error| describe(&error, Some(smtp)))?;
    // lettre's `test_connection` logs in (when credentials are set) before its NOOP.
    match actix_rt::time::timeout(timeout, transport.test_connection()).await {
        Ok(Ok(true)) => Ok(()),
        Ok(Ok(false)) => Err("the SMTP server did not answer NOOP after the login".into()),
        Ok(Err(error)) => Err(describe(&error, Some(smtp))),
        Err(_) => Err(no_answer_within(timeout)),
    }
}

/// An SMTP exchange that outlasted `timeout`, as the log and `check --online` say it.
pub fn no_answer_within(timeout: Duration) -> String {
    format!(
        "no answer from the SMTP server within {} s",
        timeout.as_secs_f64()
    )
}

/// A user and password are configured but the server offers no login lettre can use: said
/// this way in the log and by `check --online`.
const NO_LOGIN: &str = "the SMTP server offers no login (AUTH PLAIN or LOGIN) on this \
    connection; remove the user and password from AUTOSCALE_SMTP_URL, or use smtps:// or a \
    port that offers STARTTLS";

/// `text` with the SMTP password (plain, and as AUTH PLAIN and LOGIN encode it) masked and
/// control characters escaped, fit for the log: error texts may echo what a server said about
/// the exchange. A user that is a token is the password itself, so it is masked with it.
pub fn scrubbed(text: &str, smtp: Option<&SmtpSettings>) -> String {
    let masked = match smtp.and_then(|smtp| smtp.credentials.as_ref()) {
        Some((user, password)) => smtp_scrubbed(text, user, password),
        None => text.to_string(),
    };
    printable(&masked)
}

#[cfg(test)]
mod tests {
    use std::net::{SocketAddr, TcpStream};

    use super::*;

    /// A listener on 127.0.0.1 whose accept queue is full: the kernel drops further SYNs, so a
    /// connect to it neither succeeds nor fails until the client gives up.
    fn unanswered_port() -> (tokio::net::TcpListener, Vec<TcpStream>, SocketAddr) {
        let socket = tokio::net::TcpSocket::new_v4().expect("a socket");
        socket
            .bind("127.0.0.1:0".parse().expect("an address"))
            .expect("bind 127.0.0.1");
        let listener = socket.listen(0).expect("listen");
        let addr = listener.local_addr().expect("the bound address");
        let filling = (0..4)
            .filter_map(|_| TcpStream::connect_timeout(&addr, Duration::from_millis(200)).ok())
            .collect();
        (listener, filling, addr)
    }

    #[test]
    fn a_token_user_and_control_characters_are_scrubbed() {
        let smtp = crate::settings::load(&crate::settings::SettingsSource::from_vars([
            ("AUTOSCALE_HEROKU_APP_NAME", "acme-shop"),
            ("AUTOSCALE_HEROKU_API_KEY", "smtp-unit-key"),
            ("POSTMARK_SMTP_SERVER", "smtp.postmarkapp.com"),
            ("POSTMARK_API_TOKEN", "pmTOKEN"),
        ]))
        .expect("valid settings")
        .settings
        .smtp
        .expect("the add-on's server");
        assert_eq!(
            scrubbed("535 \u{1b}[31mno\u{1b}[0m for pmTOKEN\r\n", Some(&smtp)),
            r"535 \u{1b}[31mno\u{1b}[0m for ********  "
        );
        assert_eq!(smtp.user_shown(), Some("********"));
        assert_eq!(
            smtp.to_string(),
            "smtp://********:********@smtp.postmarkapp.com:587"
        );
    }

    #[actix_rt::test]
    async fn the_transport_gives_up_connecting_within_the_configured_timeout() {
        let (_listener, _filling, addr) = unanswered_port();
        let smtp = SmtpSettings {
            host: "127.0.0.1".into(),
            port: addr.port(),
            security: SmtpSecurity::StartTlsIfOffered,
            credentials: None,
            shown: format!("smtp://127.0.0.1:{}", addr.port()),
        };
        let transport = mailer(&smtp, Duration::from_millis(300)).expect("a transport");
        let started = std::time::Instant::now();
        // Only a guard against hanging: the default transport timeout is far longer.
        let outcome =
            actix_rt::time::timeout(Duration::from_secs(5), transport.test_connection()).await;
        let took = started.elapsed();
        assert!(
            matches!(outcome, Ok(Err(_))),
            "the connect must fail by itself within the configured 300 ms: {outcome:?} after \
             {took:?}"
        );
        assert!(took < Duration::from_secs(3), "took {took:?}");
    }
}
