//! Where the services' Redis is, read once from the configuration (API.md
//! "Configuration"): one server, the primary Redis Sentinel names, or a
//! Redis Cluster.

use crate::settings::{ConfigError, var};

/// How the services reach Redis, read once from the configuration (API.md
/// "Configuration"): `REDIS_SENTINELS` with `REDIS_SENTINEL_MASTER`, or
/// `REDIS_CLUSTER_NODES`, or neither (the one server of `REDIS_URL`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum RedisTopology {
    /// One server at `REDIS_URL`.
    #[default]
    Server,
    /// The primary that Redis Sentinel names, followed across failovers.
    Sentinel(SentinelSettings),
    /// A Redis Cluster found from its seed nodes.
    Cluster(ClusterSettings),
}

impl RedisTopology {
    /// Read the variables above. Both Sentinel and Cluster set, or a bad
    /// value: an error naming the variable.
    pub fn from_env() -> Result<Self, ConfigError> {
        let sentinel = SentinelSettings::from_env()?;
        let cluster = ClusterSettings::from_env()?;
        match (sentinel, cluster) {
            (None, None) => Ok(Self::Server),
            (Some(sentinel), None) => Ok(Self::Sentinel(sentinel)),
            (None, Some(cluster)) => Ok(Self::Cluster(cluster)),
            (Some(_), Some(cluster)) => Err(ConfigError {
                name: "REDIS_CLUSTER_NODES",
                value: cluster
                    .nodes
                    .iter()
                    .map(|(h, p)| format!("{h}:{p}"))
                    .collect::<Vec<_>>()
                    .join(","),
                reason: "cannot be set together with REDIS_SENTINELS (a Redis Cluster fails over by itself)"
                    .into(),
            }),
        }
    }
}

/// The seed nodes of a Redis Cluster (`REDIS_CLUSTER_NODES`). Any reachable
/// seed is enough: the others and the slot map are learnt from it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterSettings {
    /// `(host, port)` of each seed, in the order given.
    pub nodes: Vec<(String, u16)>,
}

impl ClusterSettings {
    /// Read `REDIS_CLUSTER_NODES` (comma-separated `host:port`, IPv6 hosts in
    /// brackets): `None` when unset, an error naming it when malformed.
    pub fn from_env() -> Result<Option<Self>, ConfigError> {
        var("REDIS_CLUSTER_NODES")
            .map(|list| Self::parse(&list))
            .transpose()
    }

    /// Parse the list; see [`ClusterSettings::from_env`].
    pub fn parse(list: &str) -> Result<Self, ConfigError> {
        Ok(Self {
            nodes: parse_nodes("REDIS_CLUSTER_NODES", list)?,
        })
    }
}

/// Parse comma-separated `host:port` entries (IPv6 hosts in brackets) of the
/// variable `name`; at least one.
fn parse_nodes(name: &'static str, list: &str) -> Result<Vec<(String, u16)>, ConfigError> {
    let bad = |reason: &str| ConfigError {
        name,
        value: list.to_owned(),
        reason: reason.to_owned(),
    };
    let mut nodes = Vec::new();
    for entry in list.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let (host, port) = entry
            .rsplit_once(':')
            .ok_or_else(|| bad("each entry is host:port"))?;
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let port = port
            .parse::<u16>()
            .ok()
            .filter(|p| *p > 0)
            .ok_or_else(|| bad("a port is 1..=65535"))?;
        if host.is_empty() || host.contains(|c: char| c.is_whitespace() || c == '/') {
            return Err(bad("an entry has no valid host"));
        }
        nodes.push((host.to_owned(), port));
    }
    if nodes.is_empty() {
        return Err(bad("names no node"));
    }
    Ok(nodes)
}

/// The Sentinels to ask and the name of the primary they watch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentinelSettings {
    /// `REDIS_SENTINELS`: `(host, port)` of each Sentinel, in the order given.
    pub sentinels: Vec<(String, u16)>,
    /// `REDIS_SENTINEL_MASTER`: the master name of the Sentinels' configuration
    /// (`sentinel monitor <name> …`).
    pub master: String,
}

impl SentinelSettings {
    /// Read `REDIS_SENTINELS` (comma-separated `host:port`, IPv6 hosts in
    /// brackets) and `REDIS_SENTINEL_MASTER`. Neither set: `None` (Redis is
    /// `REDIS_URL`); one without the other, or a bad entry: an error naming
    /// the variable.
    pub fn from_env() -> Result<Option<Self>, ConfigError> {
        match (var("REDIS_SENTINELS"), var("REDIS_SENTINEL_MASTER")) {
            (None, None) => Ok(None),
            (Some(list), Some(master)) => Self::parse(&list, &master).map(Some),
            (Some(_), None) => Err(ConfigError {
                name: "REDIS_SENTINEL_MASTER",
                value: String::new(),
                reason: "must be set when REDIS_SENTINELS is".into(),
            }),
            (None, Some(master)) => Err(ConfigError {
                name: "REDIS_SENTINELS",
                value: master,
                reason: "must be set when REDIS_SENTINEL_MASTER is (the master name above)".into(),
            }),
        }
    }

    /// Parse the two values; see [`SentinelSettings::from_env`].
    pub fn parse(list: &str, master: &str) -> Result<Self, ConfigError> {
        let sentinels = parse_nodes("REDIS_SENTINELS", list)?;
        let master = master.trim();
        if master.is_empty() || master.contains(|c: char| c.is_whitespace() || c.is_control()) {
            return Err(ConfigError {
                name: "REDIS_SENTINEL_MASTER",
                value: master.to_owned(),
                reason: "a master name without spaces".into(),
            });
        }
        Ok(Self {
            sentinels,
            master: master.to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::{ClusterSettings, SentinelSettings};

    #[test]
    fn cluster_seeds_parse_and_bad_ones_name_the_variable() {
        let c = ClusterSettings::parse("10.0.0.1:7000, 10.0.0.2:7001,").unwrap();
        assert_eq!(
            c.nodes,
            vec![("10.0.0.1".to_owned(), 7000), ("10.0.0.2".to_owned(), 7001)]
        );
        for list in ["", " , ", "host", "host:0", "h:70000", ":7000"] {
            let e = ClusterSettings::parse(list).unwrap_err();
            assert_eq!(e.name, "REDIS_CLUSTER_NODES", "{list:?}");
        }
    }

    #[test]
    fn sentinel_lists_parse_and_bad_ones_name_the_variable() {
        let s =
            SentinelSettings::parse(" a.example:26379, 10.0.0.2:26380,[::1]:5000 ", " mymaster")
                .unwrap();
        assert_eq!(
            s.sentinels,
            vec![
                ("a.example".to_owned(), 26379),
                ("10.0.0.2".to_owned(), 26380),
                ("::1".to_owned(), 5000)
            ]
        );
        assert_eq!(s.master, "mymaster");
        for (list, master, name) in [
            ("", "m", "REDIS_SENTINELS"),
            ("host", "m", "REDIS_SENTINELS"),
            ("host:0", "m", "REDIS_SENTINELS"),
            ("host:70000", "m", "REDIS_SENTINELS"),
            (":26379", "m", "REDIS_SENTINELS"),
            ("h:1", " ", "REDIS_SENTINEL_MASTER"),
            ("h:1", "my master", "REDIS_SENTINEL_MASTER"),
        ] {
            let e = SentinelSettings::parse(list, master).unwrap_err();
            assert_eq!(e.name, name, "{list:?} {master:?}");
        }
    }
}
