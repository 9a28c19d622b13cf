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
        format!("{}:{{o.{org}}}", self.prefix)
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
        format!("{}:token:{token_hash}", self.prefix)
    }

    /// A dashboard session, by the hash of its cookie value (the value itself is never
    /// stored): the token it acts with and its CSRF secret; expires with the session.
    pub fn session(&self, session_hash: &str) -> String {
        format!("{}:session:{session_hash}", self.prefix)
    }

    /// Record of one token of an organisation (name, scope, times; never the token).
    pub fn org_token(&self, org: &str, token: Uuid) -> String {
        format!("{}:tok:{token}", self.org(org))
    }

    /// Sorted set of an organisation's tokens in creation order.
    pub fn org_tokens(&self, org: &str) -> String {
        format!("{}:toks", self.org(org))
    }

    /// Hash of one application (org scope).
    pub fn app(&self, org: &str, app: Uuid) -> String {
        format!("{}:app:{app}", self.org(org))
    }

    /// Sorted set of an organisation's applications in creation order.
    pub fn apps(&self, org: &str) -> String {
        format!("{}:apps", self.org(org))
    }

    /// Hash uid → application id within an organisation.
    pub fn app_uids(&self, org: &str) -> String {
        format!("{}:app_uids", self.org(org))
    }

    /// Hash of one event type of an organisation's catalogue.
    pub fn event_type(&self, org: &str, name: &str) -> String {
        format!("{}:et:{name}", self.org(org))
    }

    /// Sorted set of an organisation's event-type names (score 0: in name order).
    pub fn event_types(&self, org: &str) -> String {
        format!("{}:ets", self.org(org))
    }

    /// Idempotency record of one key within an organisation.
    pub fn idempotency(&self, org: &str, key_hash: &str) -> String {
        format!("{}:idem:{key_hash}", self.org(org))
    }

    /// Partition-side marker of an application: exists while the application does, holds the
    /// endpoint-set version that lets workers cache endpoints without staleness.
    pub fn app_marker(&self, app: Uuid) -> String {
        format!("{}:app:{app}", self.app_part(app))
    }

    /// Hash of one endpoint.
    pub fn endpoint(&self, app: Uuid, endpoint: Uuid) -> String {
        format!("{}:ep:{endpoint}", self.app_part(app))
    }

    /// Sorted set of an application's endpoints in creation order.
    pub fn endpoints(&self, app: Uuid) -> String {
        format!("{}:app:{app}:eps", self.app_part(app))
    }

    /// Hash uid → endpoint id within an application.
    pub fn endpoint_uids(&self, app: Uuid) -> String {
        format!("{}:app:{app}:ep_uids", self.app_part(app))
    }

    /// Hash of an endpoint's delivery health (circuit state, failure counters).
    pub fn endpoint_health(&self, app: Uuid, endpoint: Uuid) -> String {
        format!("{}:ep:{endpoint}:health", self.app_part(app))
    }

    /// Sorted set of an endpoint's attempts by start time (its attempt log).
    pub fn endpoint_log(&self, app: Uuid, endpoint: Uuid) -> String {
        format!("{}:ep:{endpoint}:log", self.app_part(app))
    }

    /// Hash of an endpoint's hourly and daily success and failure counts.
    pub fn endpoint_stats(&self, app: Uuid, endpoint: Uuid) -> String {
        format!("{}:ep:{endpoint}:stats", self.app_part(app))
    }

    /// Hash of one message (expires after the retention period).
    pub fn message(&self, app: Uuid, message: Uuid) -> String {
        format!("{}:msg:{message}", self.app_part(app))
    }

    /// List of a message's attempts, JSON each (expires with the message).
    pub fn attempts(&self, app: Uuid, message: Uuid) -> String {
        format!("{}:msg:{message}:attempts", self.app_part(app))
    }

    /// Sorted set of an application's messages in creation order.
    pub fn messages(&self, app: Uuid) -> String {
        format!("{}:app:{app}:msgs", self.app_part(app))
    }

    /// The reservation of a message uid within an application: one key per uid (not a hash)
    /// so each reservation expires with its message.
    pub fn message_uid(&self, app: Uuid, uid: &str) -> String {
        format!("{}:app:{app}:msg_uid:{uid}", self.app_part(app))
    }

    /// The message an Idempotency-Key of an organisation created in an application: written by
    /// the accept script itself, so a retried request finds it even when its first answer was
    /// never stored.
    pub fn message_idempotency(&self, app: Uuid, org: &str, key_hash: &str) -> String {
        self.message_idempotency_by_name(app, &format!("{org}:{key_hash}"))
    }

    /// The same reservation by the name a message records it under (`<org>:<key hash>`).
    pub fn message_idempotency_by_name(&self, app: Uuid, name: &str) -> String {
        format!("{}:app:{app}:idem:{name}", self.app_part(app))
    }

    /// The background jobs (recovery, erasure) of an application, so its purge finds them.
    pub fn recovery_jobs(&self, app: Uuid) -> String {
        format!("{}:app:{app}:jobs", self.app_part(app))
    }

    /// Purge requests of deleted applications of a partition.
    pub fn purges(&self, partition: u16) -> String {
        format!("{}:purges", self.part(partition))
    }

    /// Hash of one recovery job of an endpoint (expires a day after its last progress).
    pub fn recovery(&self, app: Uuid, job: Uuid) -> String {
        format!("{}:recover:{job}", self.app_part(app))
    }

    /// Hash of one erasure job of an application (expires a day after its last progress).
    pub fn erasure(&self, app: Uuid, job: Uuid) -> String {
        format!("{}:erase:{job}", self.app_part(app))
    }

    /// Running erasure jobs of a partition (`<app>|<job>`, scored by creation), so its owner
    /// resumes those whose node died.
    pub fn erasures(&self, partition: u16) -> String {
        format!("{}:erasures", self.part(partition))
    }

    /// The running recovery job of an endpoint (at most one at a time).
    pub fn recovering(&self, app: Uuid, endpoint: Uuid) -> String {
        format!("{}:ep:{endpoint}:recovering", self.app_part(app))
    }

    /// Work stream of a partition.
    pub fn stream(&self, partition: u16) -> String {
        format!("{}:stream", self.part(partition))
    }

    /// Retry sorted set of a partition (score = due time in ms).
    pub fn retry(&self, partition: u16) -> String {
        format!("{}:retry", self.part(partition))
    }

    /// Endpoints already done with a stream entry that fanned out to several, so a
    /// redelivered entry skips them (deleted when the entry is acknowledged).
    pub fn done(&self, partition: u16, entry: &str) -> String {
        format!("{}:done:{entry}", self.part(partition))
    }

    /// Deliveries of one endpoint held while its circuit is open, in arrival order.
    pub fn parked(&self, app: Uuid, endpoint: Uuid) -> String {
        format!("{}:park:{endpoint}", self.app_part(app))
    }

    /// One FIFO lane of an endpoint: its deliveries in creation order, the head first.
    pub fn lane(&self, app: Uuid, endpoint: Uuid, lane: &str) -> String {
        format!("{}:ep:{endpoint}:lane:{lane}", self.app_part(app))
    }

    /// The names of an endpoint's non-empty lanes.
    pub fn endpoint_lanes(&self, app: Uuid, endpoint: Uuid) -> String {
        format!("{}:ep:{endpoint}:lanes", self.app_part(app))
    }

    /// The FIFO lanes of a partition, scored by when their head is due.
    pub fn lane_index(&self, partition: u16) -> String {
        format!("{}:lanes", self.part(partition))
    }

    /// Endpoints of a partition with parked deliveries, scored by when to look at them next.
    pub fn parked_index(&self, partition: u16) -> String {
        format!("{}:parked", self.part(partition))
    }

    /// Operational events of a partition's applications waiting to be relayed (a stream,
    /// written by the scripts whose changes they report: `queue::outbox`).
    pub fn outbox(&self, partition: u16) -> String {
        format!("{}:outbox", self.part(partition))
    }

    /// Ownership lease of a partition.
    pub fn lease(&self, partition: u16) -> String {
        format!("{}:lease", self.part(partition))
    }

    /// Fencing epoch of a partition, incremented on every acquisition.
    pub fn lease_epoch(&self, partition: u16) -> String {
        format!("{}:lease_epoch", self.part(partition))
    }

    /// Sorted set of live worker nodes (score = last heartbeat, ms).
    pub fn nodes(&self) -> String {
        format!("{}:nodes", self.prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
