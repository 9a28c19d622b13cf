//! The one catalogue of Redis keys.
//!
//! Every key starts with the configured prefix. Keys carry a Redis Cluster hash tag so that the
//! keys one script touches always share a slot:
//!
//! - `{o.<org>}`: an organisation's applications and their indexes, idempotency records.
//! - `{p.<n>}`: everything of the applications in partition `n` (endpoints, messages, attempts,
//!   endpoint health), plus the partition's work stream, retry set and lease. Accepting a
//!   message (message hash + uid + list + stream entry) is therefore one atomic script.

use uuid::Uuid;

/// One piece of a key: text, or an id written as `format!` writes it (lowercase, hyphenated).
enum Piece<'a> {
    Text(&'a str),
    Id(Uuid),
}

impl<'a> From<&'a str> for Piece<'a> {
    fn from(text: &'a str) -> Self {
        Piece::Text(text)
    }
}

impl<'a> From<&'a String> for Piece<'a> {
    fn from(text: &'a String) -> Self {
        Piece::Text(text)
    }
}

impl From<Uuid> for Piece<'_> {
    fn from(id: Uuid) -> Self {
        Piece::Id(id)
    }
}

/// A key made of its pieces in one allocation of the right size (an organisation's keys
/// take two: its part first). Keys are made on every delivery (nine for a success's record)
/// and every accepted message, and `format!` spends most of its time in the formatting
/// machinery: the nine of a record take ~990 ns with it, ~325 ns here
/// (`cargo bench --bench engine -- keys`).
fn concat(pieces: &[Piece<'_>]) -> String {
    let len = pieces
        .iter()
        .map(|piece| match piece {
            Piece::Text(text) => text.len(),
            Piece::Id(_) => uuid::fmt::Hyphenated::LENGTH,
        })
        .sum();
    let mut key = String::with_capacity(len);
    for piece in pieces {
        match piece {
            Piece::Text(text) => key.push_str(text),
            Piece::Id(id) => key.push_str(id.hyphenated().encode_lower(&mut Uuid::encode_buffer())),
        }
    }
    key
}

/// `key!(part, ":ep:", endpoint, ":health")`: the pieces (`&str`, `&String` or `Uuid`)
/// joined, as `format!("{part}:ep:{endpoint}:health")` would.
macro_rules! key {
    ($($piece:expr),+ $(,)?) => {
        concat(&[$(Piece::from($piece)),+])
    };
}

/// Builds every key of one deployment.
#[derive(Debug, Clone)]
pub struct Keys {
    /// Prefix shared by every key (configurable so deployments and tests can share a Redis).
    prefix: String,
    /// Number of partitions; fixes which partition an application lives in.
    partitions: u16,
    /// `<prefix>:{p.<n>}` of every partition, built once: keys are made on every delivery.
    part_prefixes: Vec<String>,
}

impl Keys {
    pub fn new(prefix: &str, partitions: u16) -> Self {
        Keys {
            prefix: prefix.to_string(),
            partitions,
            part_prefixes: (0..partitions)
                .map(|n| format!("{prefix}:{{p.{n}}}"))
                .collect(),
        }
    }

    /// The prefix, for pattern scans in tests and tools.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// Number of partitions of the deployment.
    pub fn partitions(&self) -> u16 {
        self.partitions
    }

    /// Partition of an application: the random bits of its UUID, modulo P.
    pub fn partition_of(&self, app: Uuid) -> u16 {
        (app.as_u128() % u128::from(self.partitions)) as u16
    }

    fn org(&self, org: &str) -> String {
        key!(&self.prefix, ":{o.", org, "}")
    }

    fn part(&self, partition: u16) -> &str {
        &self.part_prefixes[usize::from(partition)]
    }

    fn app_part(&self, app: Uuid) -> &str {
        self.part(self.partition_of(app))
    }

    /// Token hash → what the token may do (its organisation, id, scope and expiry; a bare
    /// organisation name for tokens made before tokens had records). Not hash-tagged: a
    /// request names only its token, so the lookup cannot know the organisation's slot.
    pub fn token(&self, token_hash: &str) -> String {
        key!(&self.prefix, ":token:", token_hash)
    }

    /// A dashboard session, by the hash of its cookie value (the value itself is never
    /// stored): the token it acts with and its CSRF secret; expires with the session.
    pub fn session(&self, session_hash: &str) -> String {
        key!(&self.prefix, ":session:", session_hash)
    }

    /// Record of one token of an organisation (name, scope, times; never the token).
    pub fn org_token(&self, org: &str, token: Uuid) -> String {
        key!(&self.org(org), ":tok:", token)
    }

    /// Sorted set of an organisation's tokens in creation order.
    pub fn org_tokens(&self, org: &str) -> String {
        key!(&self.org(org), ":toks")
    }

    /// Hash of one application (org scope).
    pub fn app(&self, org: &str, app: Uuid) -> String {
        key!(&self.org(org), ":app:", app)
    }

    /// Sorted set of an organisation's applications in creation order.
    pub fn apps(&self, org: &str) -> String {
        key!(&self.org(org), ":apps")
    }

    /// Hash uid → application id within an organisation.
    pub fn app_uids(&self, org: &str) -> String {
        key!(&self.org(org), ":app_uids")
    }

    /// Hash of one event type of an organisation's catalogue.
    pub fn event_type(&self, org: &str, name: &str) -> String {
        key!(&self.org(org), ":et:", name)
    }

    /// Sorted set of an organisation's event-type names (score 0: in name order).
    pub fn event_types(&self, org: &str) -> String {
        key!(&self.org(org), ":ets")
    }

    /// Idempotency record of one key within an organisation.
    pub fn idempotency(&self, org: &str, key_hash: &str) -> String {
        key!(&self.org(org), ":idem:", key_hash)
    }

    /// Partition-side marker of an application: exists while the application does, holds the
    /// endpoint-set version that lets workers cache endpoints without staleness.
    pub fn app_marker(&self, app: Uuid) -> String {
        key!(self.app_part(app), ":app:", app)
    }

    /// Hash of one endpoint.
    pub fn endpoint(&self, app: Uuid, endpoint: Uuid) -> String {
        key!(self.app_part(app), ":ep:", endpoint)
    }

    /// Sorted set of an application's endpoints in creation order.
    pub fn endpoints(&self, app: Uuid) -> String {
        key!(self.app_part(app), ":app:", app, ":eps")
    }

    /// Hash uid → endpoint id within an application.
    pub fn endpoint_uids(&self, app: Uuid) -> String {
        key!(self.app_part(app), ":app:", app, ":ep_uids")
    }

    /// Hash of an endpoint's delivery health (circuit state, failure counters).
    pub fn endpoint_health(&self, app: Uuid, endpoint: Uuid) -> String {
        key!(self.app_part(app), ":ep:", endpoint, ":health")
    }

    /// Sorted set of an endpoint's attempts by start time (its attempt log).
    pub fn endpoint_log(&self, app: Uuid, endpoint: Uuid) -> String {
        key!(self.app_part(app), ":ep:", endpoint, ":log")
    }

    /// Hash of an endpoint's hourly and daily success and failure counts.
    pub fn endpoint_stats(&self, app: Uuid, endpoint: Uuid) -> String {
        key!(self.app_part(app), ":ep:", endpoint, ":stats")
    }

    /// Hash of one message (expires after the retention period).
    pub fn message(&self, app: Uuid, message: Uuid) -> String {
        key!(self.app_part(app), ":msg:", message)
    }

    /// List of a message's attempts, JSON each (expires with the message).
    pub fn attempts(&self, app: Uuid, message: Uuid) -> String {
        key!(self.app_part(app), ":msg:", message, ":attempts")
    }

    /// Sorted set of an application's messages in creation order.
    pub fn messages(&self, app: Uuid) -> String {
        key!(self.app_part(app), ":app:", app, ":msgs")
    }

    /// The reservation of a message uid within an application: one key per uid (not a hash)
    /// so each reservation expires with its message.
    pub fn message_uid(&self, app: Uuid, uid: &str) -> String {
        key!(self.app_part(app), ":app:", app, ":msg_uid:", uid)
    }

    /// The message an Idempotency-Key of an organisation created in an application: written by
    /// the accept script itself, so a retried request finds it even when its first answer was
    /// never stored.
    pub fn message_idempotency(&self, app: Uuid, org: &str, key_hash: &str) -> String {
        self.message_idempotency_by_name(app, &key!(org, ":", key_hash))
    }

    /// The same reservation by the name a message records it under (`<org>:<key hash>`).
    pub fn message_idempotency_by_name(&self, app: Uuid, name: &str) -> String {
        key!(self.app_part(app), ":app:", app, ":idem:", name)
    }

    /// The background jobs (recovery, erasure) of an application, so its purge finds them.
    pub fn recovery_jobs(&self, app: Uuid) -> String {
        key!(self.app_part(app), ":app:", app, ":jobs")
    }

    /// Purge requests of deleted applications of a partition.
    pub fn purges(&self, partition: u16) -> String {
        key!(self.part(partition), ":purges")
    }

    /// Hash of one recovery job of an endpoint (expires a day after its last progress).
    pub fn recovery(&self, app: Uuid, job: Uuid) -> String {
        key!(self.app_part(app), ":recover:", job)
    }

    /// Hash of one erasure job of an application (expires a day after its last progress).
    pub fn erasure(&self, app: Uuid, job: Uuid) -> String {
        key!(self.app_part(app), ":erase:", job)
    }

    /// Running erasure jobs of a partition (`<app>|<job>`, scored by creation), so its owner
    /// resumes those whose node died.
    pub fn erasures(&self, partition: u16) -> String {
        key!(self.part(partition), ":erasures")
    }

    /// The running recovery job of an endpoint (at most one at a time).
    pub fn recovering(&self, app: Uuid, endpoint: Uuid) -> String {
        key!(self.app_part(app), ":ep:", endpoint, ":recovering")
    }

    /// Work stream of a partition.
    pub fn stream(&self, partition: u16) -> String {
        key!(self.part(partition), ":stream")
    }

    /// Retry sorted set of a partition (score = due time in ms).
    pub fn retry(&self, partition: u16) -> String {
        key!(self.part(partition), ":retry")
    }

    /// Endpoints already done with a stream entry that fanned out to several, so a
    /// redelivered entry skips them (deleted when the entry is acknowledged).
    pub fn done(&self, partition: u16, entry: &str) -> String {
        key!(self.part(partition), ":done:", entry)
    }

    /// Deliveries of one endpoint held while its circuit is open, in arrival order.
    pub fn parked(&self, app: Uuid, endpoint: Uuid) -> String {
        key!(self.app_part(app), ":park:", endpoint)
    }

    /// One FIFO lane of an endpoint: its deliveries in creation order, the head first.
    pub fn lane(&self, app: Uuid, endpoint: Uuid, lane: &str) -> String {
        key!(self.app_part(app), ":ep:", endpoint, ":lane:", lane)
    }

    /// The names of an endpoint's non-empty lanes.
    pub fn endpoint_lanes(&self, app: Uuid, endpoint: Uuid) -> String {
        key!(self.app_part(app), ":ep:", endpoint, ":lanes")
    }

    /// The FIFO lanes of a partition, scored by when their head is due.
    pub fn lane_index(&self, partition: u16) -> String {
        key!(self.part(partition), ":lanes")
    }

    /// Endpoints of a partition with parked deliveries, scored by when to look at them next.
    pub fn parked_index(&self, partition: u16) -> String {
        key!(self.part(partition), ":parked")
    }

    /// Operational events of a partition's applications waiting to be relayed (a stream,
    /// written by the scripts whose changes they report: `queue::outbox`).
    pub fn outbox(&self, partition: u16) -> String {
        key!(self.part(partition), ":outbox")
    }

    /// Ownership lease of a partition.
    pub fn lease(&self, partition: u16) -> String {
        key!(self.part(partition), ":lease")
    }

    /// Fencing epoch of a partition, incremented on every acquisition.
    pub fn lease_epoch(&self, partition: u16) -> String {
        key!(self.part(partition), ":lease_epoch")
    }

    /// Sorted set of live worker nodes (score = last heartbeat, ms).
    pub fn nodes(&self) -> String {
        key!(&self.prefix, ":nodes")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Keys name data already stored: each must stay exactly as `format!` wrote it before
    /// keys were built piece by piece.
    #[test]
    fn keys_keep_their_stored_names() {
        let keys = Keys::new("octo", 64);
        let (app, endpoint, message, job) = (
            Uuid::new_v4(),
            Uuid::new_v4(),
            Uuid::new_v4(),
            Uuid::new_v4(),
        );
        let p = format!("octo:{{p.{}}}", keys.partition_of(app));
        let o = "octo:{o.org_1}";
        let n = keys.partition_of(app);
        let expected = [
            (keys.token("h"), "octo:token:h".to_string()),
            (keys.session("s"), "octo:session:s".to_string()),
            (keys.org_token("org_1", job), format!("{o}:tok:{job}")),
            (keys.org_tokens("org_1"), format!("{o}:toks")),
            (keys.app("org_1", app), format!("{o}:app:{app}")),
            (keys.apps("org_1"), format!("{o}:apps")),
            (keys.app_uids("org_1"), format!("{o}:app_uids")),
            (keys.event_type("org_1", "a.b"), format!("{o}:et:a.b")),
            (keys.event_types("org_1"), format!("{o}:ets")),
            (keys.idempotency("org_1", "k"), format!("{o}:idem:k")),
            (keys.app_marker(app), format!("{p}:app:{app}")),
            (keys.endpoint(app, endpoint), format!("{p}:ep:{endpoint}")),
            (keys.endpoints(app), format!("{p}:app:{app}:eps")),
            (keys.endpoint_uids(app), format!("{p}:app:{app}:ep_uids")),
            (
                keys.endpoint_health(app, endpoint),
                format!("{p}:ep:{endpoint}:health"),
            ),
            (
                keys.endpoint_log(app, endpoint),
                format!("{p}:ep:{endpoint}:log"),
            ),
            (
                keys.endpoint_stats(app, endpoint),
                format!("{p}:ep:{endpoint}:stats"),
            ),
            (keys.message(app, message), format!("{p}:msg:{message}")),
            (
                keys.attempts(app, message),
                format!("{p}:msg:{message}:attempts"),
            ),
            (keys.messages(app), format!("{p}:app:{app}:msgs")),
            (
                keys.message_uid(app, "u"),
                format!("{p}:app:{app}:msg_uid:u"),
            ),
            (
                keys.message_idempotency(app, "org_1", "k"),
                format!("{p}:app:{app}:idem:org_1:k"),
            ),
            (
                keys.message_idempotency_by_name(app, "org_1:k"),
                format!("{p}:app:{app}:idem:org_1:k"),
            ),
            (keys.recovery_jobs(app), format!("{p}:app:{app}:jobs")),
            (keys.purges(n), format!("{p}:purges")),
            (keys.recovery(app, job), format!("{p}:recover:{job}")),
            (keys.erasure(app, job), format!("{p}:erase:{job}")),
            (keys.erasures(n), format!("{p}:erasures")),
            (
                keys.recovering(app, endpoint),
                format!("{p}:ep:{endpoint}:recovering"),
            ),
            (keys.stream(n), format!("{p}:stream")),
            (keys.retry(n), format!("{p}:retry")),
            (keys.done(n, "1-2"), format!("{p}:done:1-2")),
            (keys.parked(app, endpoint), format!("{p}:park:{endpoint}")),
            (
                keys.lane(app, endpoint, "l"),
                format!("{p}:ep:{endpoint}:lane:l"),
            ),
            (
                keys.endpoint_lanes(app, endpoint),
                format!("{p}:ep:{endpoint}:lanes"),
            ),
            (keys.lane_index(n), format!("{p}:lanes")),
            (keys.parked_index(n), format!("{p}:parked")),
            (keys.outbox(n), format!("{p}:outbox")),
            (keys.lease(n), format!("{p}:lease")),
            (keys.lease_epoch(n), format!("{p}:lease_epoch")),
            (keys.nodes(), "octo:nodes".to_string()),
        ];
        for (key, want) in expected {
            assert_eq!(key, want);
        }
    }

    #[test]
    fn app_scoped_keys_share_the_partition_tag() {
        let keys = Keys::new("octo", 64);
        let app = Uuid::new_v4();
        let tag = format!("{{p.{}}}", keys.partition_of(app));
        for key in [
            keys.app_marker(app),
            keys.endpoints(app),
            keys.message(app, Uuid::new_v4()),
            keys.stream(keys.partition_of(app)),
            keys.retry(keys.partition_of(app)),
        ] {
            assert!(key.contains(&tag), "{key} lacks {tag}");
        }
    }
}
