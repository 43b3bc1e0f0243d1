//! The notifier: every notice goes to the log; with admins and an SMTP server, by email too.
//!
//! Sending never holds anything up: mail goes out from a queue in the background, one message
//! at a time, and a failed send is retried with backoff while heartbeats and scaling go on.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use lettre::message::header::ContentType;
use lettre::{AsyncTransport, Message};
use slog::{error, info, warn};

use crate::actors::messages::{InjectPanic, SendNotice};
use crate::backoff::Backoff;
use crate::notify::email::{compose, is_emailed};
use crate::notify::smtp::{describe, mailer, no_answer_within, scrubbed, Mailer};
use crate::notify::NoticeKind;
use crate::settings::Settings;
use crate::supervision::{guarded, guarded_call, Link, Supervisable};

/// How long one SMTP exchange may take before it counts as failed.
pub const SMTP_TIMEOUT: Duration = Duration::from_secs(20);
/// Attempts per email before it is given up (with the backoff, about two hours).
const MAX_ATTEMPTS: u32 = 10;
/// Emails waiting beyond this are dropped, the oldest waiting one first: a dead server must not
/// eat memory.
const MAX_QUEUED: usize = 50;

/// How failed emails are retried: 30 s, doubling to 30 min.
pub const EMAIL_RETRY: Backoff =
    Backoff::new(Duration::from_secs(30), Duration::from_secs(30 * 60));

/// What the email at the front of the queue is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Delivery {
    /// Nothing under way: the next notice is sent at once.
    Idle,
    /// An SMTP exchange is under way.
    Sending,
    /// The front email failed and waits out its backoff. Notices that arrive meanwhile queue
    /// behind it: sending them would hit a refusing server again and again, each attempt
    /// spending one of the front email's.
    WaitingToRetry,
}

struct Outgoing {
    kind: NoticeKind,
    message: Message,
    failures: u32,
}

/// Logs each notice, and emails the admins the kinds the settings ask for.
pub struct NotifierActor {
    settings: Arc<Settings>,
    retry: Backoff,
    link: Link,
    mailer: Option<Mailer>,
    queue: VecDeque<Outgoing>,
    state: Delivery,
    announced: bool,
    timeout: Duration,
}

impl NotifierActor {
    /// A notifier for `settings`, retrying failed emails as `retry` says.
    pub fn new(settings: Arc<Settings>, retry: Backoff, link: Link) -> Self {
        NotifierActor {
            settings,
            retry,
            link,
            mailer: None,
            queue: VecDeque::new(),
            state: Delivery::Idle,
            announced: false,
            timeout: SMTP_TIMEOUT,
        }
    }

    /// Bounds each SMTP exchange (connect to the server's last reply), and the transport's own
    /// connect, to `timeout` instead of [`SMTP_TIMEOUT`] (tests use a short one).
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    fn announce(&mut self) {
        if std::mem::replace(&mut self.announced, true) {
            return;
        }
        let log = self.link.log();
        match (&self.settings.smtp, self.settings.admins.len()) {
            (_, 0) => info!(
                log,
                "notices go to the log only; set AUTOSCALE_ADMINS and AUTOSCALE_SMTP_URL to \
                 email them"
            ),
            (Some(smtp), admins) => info!(
                log,
                "notices are emailed to {admins} admin(s) through {}:{}", smtp.host, smtp.port
            ),
            (None, _) => {}
        }
    }

    fn queue_email(&mut self, msg: &SendNotice) {
        let kind = msg.notice.kind();
        if self.mailer.is_none() || !is_emailed(kind, &self.settings) {
            return;
        }
        let text = compose(&msg.notice, &msg.context, &self.settings);
        let mut builder = Message::builder()
            .from(self.settings.email_from.clone())
            .subject(text.subject)
            .header(ContentType::TEXT_PLAIN);
        for admin in &self.settings.admins {
            builder = builder.to(admin.clone());
        }
        match builder.body(text.body) {
            Ok(message) => {
                if self.queue.len() >= MAX_QUEUED {
                    let front_in_delivery = !matches!(self.state, Delivery::Idle);
                    if let Some(dropped) = drop_oldest_waiting(&mut self.queue, front_in_delivery) {
                        warn!(
                            self.link.log(),
                            "email queue full: dropped the oldest notice kind={}", dropped.kind
                        );
                    }
                }
                self.queue.push_back(Outgoing {
                    kind,
                    message,
                    failures: 0,
                });
            }
            Err(error) => error!(
                self.link.log(),
                "cannot build the email kind={kind}: {error}"
            ),
        }
    }

    /// Sends the first queued email unless one is on its way or waiting to be retried.
    fn send_next(&mut self, ctx: &mut Context<Self>) {
        if self.state != Delivery::Idle {
            return;
        }
        let (Some(mailer), Some(next)) = (self.mailer.clone(), self.queue.front()) else {
            return;
        };
        self.state = Delivery::Sending;
        let message = next.message.clone();
        // lettre's own timeout covers only the TCP connect; a server that accepts and then
        // stalls must not hold the queue forever.
        let timeout = self.timeout;
        let settings = self.settings.clone();
        let send = async move {
            match actix_rt::time::timeout(timeout, mailer.send(message)).await {
                Ok(outcome) => outcome
                    .map(|_| ())
                    .map_err(|e| describe(&e, settings.smtp.as_ref())),
                Err(_) => Err(no_answer_within(timeout)),
            }
        };
        let delivered = guarded_call(
            self,
            send,
            |outcome, act, ctx| {
                act.state = Delivery::Idle;
                act.sent(outcome, ctx);
            },
            || (),
        );
        ctx.spawn(delivered);
    }

    fn sent(&mut self, outcome: Result<(), String>, ctx: &mut Context<Self>) {
        let admins = self.settings.admins.len();
        let Some(mut email) = self.queue.pop_front() else {
            return;
        };
        let log = self.link.log();
        match outcome {
            Ok(()) => {
                info!(
                    log,
                    "emailed notice kind={} to {admins} admin(s)", email.kind
                );
                self.send_next(ctx);
            }
            Err(failure) => {
                email.failures += 1;
                if email.failures >= MAX_ATTEMPTS {
                    error!(
                        log,
                        "email notice kind={} given up after {} attempts: {failure}; check \
                         AUTOSCALE_SMTP_URL",
                        email.kind,
                        email.failures
                    );
                    self.send_next(ctx);
                    return;
                }
                let wait = self.retry.after(email.failures);
                warn!(
                    log,
                    "email notice kind={} failed: {failure}; retrying in {} s (heartbeats and \
                     scaling go on)",
                    email.kind,
                    wait.as_secs_f64()
                );
                self.queue.push_front(email);
                self.state = Delivery::WaitingToRetry;
                ctx.run_later(wait, |act, ctx| {
                    act.state = Delivery::Idle;
                    guarded(act, ctx, NotifierActor::send_next);
                });
            }
        }
    }
}

/// Makes room in a full queue: drops the oldest email that is only waiting its turn. The front
/// one, while it is being sent or waits to be retried, stays: its outcome is booked against it,
/// and its retry schedule must hold.
fn drop_oldest_waiting<T>(queue: &mut VecDeque<T>, front_in_delivery: bool) -> Option<T> {
    queue.remove(usize::from(front_in_delivery))
}

impl Actor for NotifierActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        self.link.back_off(ctx);
        guarded(self, ctx, |act, _| {
            act.announce();
            if act.settings.admins.is_empty() {
                return;
            }
            if let Some(smtp) = &act.settings.smtp {
                match mailer(smtp, act.timeout) {
                    Ok(mailer) => act.mailer = Some(mailer),
                    Err(failure) => error!(
                        act.link.log(),
                        "cannot set up email through {smtp}: {}; notices go to the log only",
                        scrubbed(&failure.to_string(), act.settings.smtp.as_ref())
                    ),
                }
            }
        });
    }
}

impl Supervised for NotifierActor {
    fn restarting(&mut self, _: &mut Context<Self>) {
        // The email being handled may be what made it panic: start with an empty queue.
        if !self.queue.is_empty() {
            warn!(
                self.link.log(),
                "dropping {} queued email(s) after a failure",
                self.queue.len()
            );
        }
        self.queue.clear();
        // A restart drops the context's timers too: no retry is pending any more.
        self.state = Delivery::Idle;
        self.mailer = None;
        self.link.restarting();
    }
}

impl Supervisable for NotifierActor {
    fn link(&self) -> &Link {
        &self.link
    }
}

impl Handler<SendNotice> for NotifierActor {
    type Result = ();

    fn handle(&mut self, msg: SendNotice, ctx: &mut Context<Self>) {
        guarded(self, ctx, |act, ctx| {
            warn!(
                act.link.log(),
                "notice kind={} app={}: {}{}",
                msg.notice.kind(),
                act.settings.heroku_app_name,
                msg.notice.describe(&act.settings.process_type),
                if msg.context.dry_run {
                    " (dry run)"
                } else {
                    ""
                }
            );
            act.queue_email(&msg);
            act.send_next(ctx);
        });
    }
}

impl Handler<InjectPanic> for NotifierActor {
    type Result = ();

    fn handle(&mut self, _: InjectPanic, ctx: &mut Context<Self>) {
        guarded(self, ctx, |_, _| panic!("injected panic in the notifier"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_queue_drops_the_oldest_waiting_email_never_the_one_in_delivery() {
        let mut queue: VecDeque<u32> = (1..=4).collect();
        assert_eq!(drop_oldest_waiting(&mut queue, true), Some(2));
        assert_eq!(queue, [1, 3, 4]);
        assert_eq!(drop_oldest_waiting(&mut queue, false), Some(1));
        assert_eq!(queue, [3, 4]);
    }
}
