//! The one format of a unit of work, owned here: written into partition streams (by the
//! accept script, resends and the retry mover) and into retry sets, read back by partition
//! readers. Scripts never parse it: they move it as an opaque string.
//!
//! `<app>|<message>|<created ms or empty>|<endpoint or empty>|<attempts made>[|<nonce>]`:
//! a fan-out task has no endpoint; a refresh task (an endpoint changed) has no message; a
//! retry set member carries a random nonce, so two retries of one delivery chain can never
//! collapse into one member, and starts with the application id, so an application's retries
//! can be found by pattern when it is deleted.

use uuid::Uuid;

/// Deliver a message to every matching endpoint of its application, or to one endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Task {
    pub app: Uuid,
    pub message: Uuid,
    /// Message creation time (ms), for the create→delivery lag; absent on retries.
    pub created: Option<i64>,
    pub target: Target,
}

/// Which endpoints a task is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// Every enabled endpoint of the application whose subscription matches the message.
    Fanout,
    /// One endpoint: a retry, a postponed delivery or a resend; `attempts` were made already
    /// in this delivery chain.
    Endpoint { id: Uuid, attempts: u32 },
    /// No delivery: the endpoint changed (updated, paused, disabled, deleted); the partition
    /// reloads it and tells its actor, so queued deliveries follow the change at once.
    Refresh { id: Uuid },
}

impl Task {
    /// A new message's task.
    pub fn fanout(app: Uuid, message: Uuid, created: i64) -> Task {
        Task {
            app,
            message,
            created: Some(created),
            target: Target::Fanout,
        }
    }

    /// The task telling the partition that `endpoint` of `app` changed.
    pub fn refresh(app: Uuid, endpoint: Uuid) -> Task {
        Task {
            app,
            message: Uuid::nil(),
            created: None,
            target: Target::Refresh { id: endpoint },
        }
    }

    /// The stream form.
    pub fn encode(&self) -> String {
        let created = self.created.map(|c| c.to_string()).unwrap_or_default();
        match self.target {
            Target::Fanout => format!("{}|{}|{created}||0", self.app, self.message),
            Target::Endpoint { id, attempts } => {
                format!("{}|{}|{created}|{id}|{attempts}", self.app, self.message)
            }
            Target::Refresh { id } => format!("{}||{created}|{id}|0", self.app),
        }
    }

    /// The retry-set form: the stream form and a random nonce.
    pub fn retry_member(&self) -> String {
        let nonce: u32 = rand::random();
        format!("{}|{nonce:08x}", self.encode())
    }

    /// Parses either form; `None` for anything else (the entry is then dropped as broken).
    pub fn decode(text: &str) -> Option<Task> {
        let mut parts = text.split('|');
        let app = Uuid::parse_str(parts.next()?).ok()?;
        let message = match parts.next()? {
            "" => None,
            id => Some(Uuid::parse_str(id).ok()?),
        };
        let created = match parts.next()? {
            "" => None,
            ms => Some(ms.parse().ok()?),
        };
        let endpoint = parts.next()?;
        let attempts: u32 = parts.next()?.parse().ok()?;
        let target = match (message, endpoint) {
            (Some(_), "") => Target::Fanout,
            (Some(_), id) => Target::Endpoint {
                id: Uuid::parse_str(id).ok()?,
                attempts,
            },
            (None, "") => return None,
            (None, id) => Target::Refresh {
                id: Uuid::parse_str(id).ok()?,
            },
        };
        let message = message.unwrap_or(Uuid::nil());
        // An optional nonce, then nothing.
        if parts.nth(1).is_some() {
            return None;
        }
        Some(Task {
            app,
            message,
            created,
            target,
        })
    }

    /// A ZSCAN pattern matching every retry member of `app`.
    pub fn app_pattern(app: Uuid) -> String {
        format!("{app}|*")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(target: Target, created: Option<i64>) -> Task {
        Task {
            app: Uuid::new_v4(),
            message: Uuid::new_v4(),
            created,
            target,
        }
    }

    #[test]
    fn both_forms_round_trip() {
        let endpoint = Target::Endpoint {
            id: Uuid::new_v4(),
            attempts: 3,
        };
        for task in [
            sample(Target::Fanout, Some(1_700_000_000_000)),
            sample(endpoint, None),
            sample(endpoint, Some(5)),
            Task::refresh(Uuid::new_v4(), Uuid::new_v4()),
        ] {
            assert_eq!(Task::decode(&task.encode()), Some(task.clone()));
            assert_eq!(Task::decode(&task.retry_member()), Some(task.clone()));
            assert!(task.retry_member().starts_with(&task.app.to_string()));
        }
    }

    #[test]
    fn malformed_text_is_refused() {
        let task = sample(Target::Fanout, Some(1));
        let good = task.encode();
        for bad in [
            "",
            "x|y",
            &good.replace("|0", "|x"),
            &format!("{good}|nonce|extra"),
            &good.replacen('-', "", 1),
        ] {
            assert_eq!(Task::decode(bad), None, "{bad:?}");
        }
    }
}
