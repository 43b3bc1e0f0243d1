//! The notifier: tells the admins. For now every notice goes to the log (email comes next).

use actix::prelude::*;
use slog::warn;

use super::messages::{InjectPanic, SendNotice};
use super::supervisor::{guarded, Link, Supervisable};

/// Logs each notice as one warning line.
pub struct Notifier {
    app: String,
    process_type: String,
    link: Link,
}

impl Notifier {
    /// A notifier for `app`'s `process_type`.
    pub fn new(app: String, process_type: String, link: Link) -> Self {
        Notifier {
            app,
            process_type,
            link,
        }
    }
}

impl Actor for Notifier {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        self.link.back_off(ctx);
    }
}

impl Supervised for Notifier {
    fn restarting(&mut self, _: &mut Context<Self>) {
        self.link.restarting();
    }
}

impl Supervisable for Notifier {
    fn link(&self) -> &Link {
        &self.link
    }
}

impl Handler<SendNotice> for Notifier {
    type Result = ();

    fn handle(&mut self, msg: SendNotice, ctx: &mut Context<Self>) {
        guarded(self, ctx, |act, _| {
            warn!(
                act.link.log(),
                "notice kind={} app={}: {}",
                msg.notice.kind(),
                act.app,
                msg.notice.describe(&act.process_type)
            );
        });
    }
}

impl Handler<InjectPanic> for Notifier {
    type Result = ();

    fn handle(&mut self, _: InjectPanic, ctx: &mut Context<Self>) {
        guarded(self, ctx, |_, _| panic!("injected panic in the notifier"));
    }
}
