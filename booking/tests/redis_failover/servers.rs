//! The Redis servers under test: a primary, a replica and three Sentinels
//! from `scripts/redis-sentinel.sh`, or three masters and three replicas
//! from `scripts/redis-cluster.sh`; how to kill the primary and to see that a
//! replica took over.

use std::collections::HashMap;
use std::ops::Deref;
use std::path::{Path, PathBuf};
use std::time::Duration;

use shared::infra::{ClusterSettings, RedisTopology, SentinelSettings};
use tokio::time::Instant;

/// The servers a script under `scripts/` started: `start` prints their
/// settings as `NAME=value` lines, one of which (`dir_var`) names the
/// directory that `stop <dir>` stops when this is dropped.
pub struct ScriptServers {
    script: &'static str,
    dir_var: &'static str,
    env: HashMap<String, String>,
}

impl ScriptServers {
    /// Run `scripts/<script> start`; a missing package that cannot be
    /// installed fails the test with the script's explanation.
    async fn start(script: &'static str, dir_var: &'static str) -> Self {
        let out = tokio::process::Command::new(Self::path(script))
            .arg("start")
            .output()
            .await
            .unwrap_or_else(|e| panic!("run scripts/{script}: {e}"));
        assert!(
            out.status.success(),
            "scripts/{script} start failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let env = String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        Self {
            script,
            dir_var,
            env,
        }
    }

    fn path(script: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../scripts")
            .join(script)
    }

    /// A setting the script printed.
    pub fn get(&self, name: &str) -> &str {
        self.env
            .get(name)
            .unwrap_or_else(|| panic!("the script printed no {name}"))
    }

    /// The script's own command, e.g. `kill <dir> <port>`.
    fn command(&self) -> std::process::Command {
        std::process::Command::new(Self::path(self.script))
    }
}

impl Drop for ScriptServers {
    fn drop(&mut self) {
        if let Some(dir) = self.env.get(self.dir_var) {
            let _ = self.command().args(["stop", dir]).status();
        }
    }
}

/// The servers of `scripts/redis-sentinel.sh start`, stopped when dropped.
pub struct SentinelSetup(ScriptServers);

impl Deref for SentinelSetup {
    type Target = ScriptServers;
    fn deref(&self) -> &ScriptServers {
        &self.0
    }
}

impl SentinelSetup {
    pub async fn start() -> Self {
        Self(ScriptServers::start("redis-sentinel.sh", "REDIS_SENTINEL_DIR").await)
    }

    fn settings(&self) -> SentinelSettings {
        SentinelSettings::parse(
            self.get("REDIS_SENTINELS"),
            self.get("REDIS_SENTINEL_MASTER"),
        )
        .expect("the script prints valid settings")
    }

    /// The primary's address as the first Sentinel names it.
    async fn named_primary_port(&self) -> Option<String> {
        let first = self.settings().sentinels[0].clone();
        let client = redis::Client::open(format!("redis://{}:{}", first.0, first.1)).ok()?;
        let mut conn = client.get_multiplexed_async_connection().await.ok()?;
        let addr: Vec<String> = redis::cmd("SENTINEL")
            .arg("get-master-addr-by-name")
            .arg(self.get("REDIS_SENTINEL_MASTER"))
            .query_async(&mut conn)
            .await
            .ok()?;
        addr.get(1).cloned()
    }
}

/// The servers of `scripts/redis-cluster.sh start`, stopped when dropped.
pub struct ClusterSetup(ScriptServers);

impl Deref for ClusterSetup {
    type Target = ScriptServers;
    fn deref(&self) -> &ScriptServers {
        &self.0
    }
}

impl ClusterSetup {
    pub async fn start() -> Self {
        Self(ScriptServers::start("redis-cluster.sh", "REDIS_CLUSTER_DIR").await)
    }

    fn settings(&self) -> ClusterSettings {
        ClusterSettings::parse(self.get("REDIS_CLUSTER_NODES"))
            .expect("the script prints valid settings")
    }

    /// The port of the master that serves `key`'s slot, as the first
    /// surviving node that answers sees it (`CLUSTER SLOTS`), skipping the
    /// node on `dead`.
    async fn master_of(&self, key: &str, dead: Option<u16>) -> Option<u16> {
        for port in self.get("REDIS_CLUSTER_PORTS").split_whitespace() {
            let port: u16 = port.parse().ok()?;
            if Some(port) == dead {
                continue;
            }
            let Ok(client) = redis::Client::open(format!("redis://127.0.0.1:{port}")) else {
                continue;
            };
            let Ok(mut conn) = client.get_multiplexed_async_connection().await else {
                continue;
            };
            let Ok(slot) = redis::cmd("CLUSTER")
                .arg("KEYSLOT")
                .arg(key)
                .query_async::<i64>(&mut conn)
                .await
            else {
                continue;
            };
            let Ok(slots) = redis::cmd("CLUSTER")
                .arg("SLOTS")
                .query_async::<redis::Value>(&mut conn)
                .await
            else {
                continue;
            };
            return master_in_slots(&slots, slot);
        }
        None
    }
}

/// The master's port for `slot` in a `CLUSTER SLOTS` answer: entries of
/// `[start, end, [host, port, id], replicas…]`.
fn master_in_slots(slots: &redis::Value, slot: i64) -> Option<u16> {
    let redis::Value::Array(ranges) = slots else {
        return None;
    };
    ranges.iter().find_map(|range| {
        let redis::Value::Array(fields) = range else {
            return None;
        };
        let int = |v: &redis::Value| match v {
            redis::Value::Int(n) => Some(*n),
            _ => None,
        };
        let (start, end) = (int(fields.first()?)?, int(fields.get(1)?)?);
        if !(start..=end).contains(&slot) {
            return None;
        }
        let redis::Value::Array(master) = fields.get(2)? else {
            return None;
        };
        u16::try_from(int(master.get(1)?)?).ok()
    })
}

/// The Redis under test.
pub enum Setup {
    Sentinel(SentinelSetup),
    Cluster(ClusterSetup),
}

impl Setup {
    pub fn topology(&self) -> RedisTopology {
        match self {
            Self::Sentinel(s) => RedisTopology::Sentinel(s.settings()),
            Self::Cluster(c) => RedisTopology::Cluster(c.settings()),
        }
    }

    /// SIGKILL the primary; on the cluster, the master of `key`'s slot.
    /// Returns the killed server's port.
    pub async fn kill_primary(&self, key: &str) -> u16 {
        match self {
            Self::Sentinel(s) => {
                let status = std::process::Command::new("sh")
                    .args(["-c", "kill -9 \"$1\"", "kill", s.get("REDIS_PRIMARY_PID")])
                    .status()
                    .expect("run kill");
                assert!(status.success(), "the primary was killed");
                s.get("REDIS_PRIMARY_PORT").parse().unwrap()
            }
            Self::Cluster(c) => {
                let port = c
                    .master_of(key, None)
                    .await
                    .expect("the cluster names the master of the queue's slot");
                let status = c
                    .command()
                    .args(["kill", c.get("REDIS_CLUSTER_DIR"), &port.to_string()])
                    .status()
                    .expect("run scripts/redis-cluster.sh kill");
                assert!(status.success(), "the master was killed");
                port
            }
        }
    }

    /// Check that a replica took over from the killed server on `killed`
    /// (on the cluster, waiting up to `by` for the nodes to agree).
    pub async fn assert_replica_took_over(&self, key: &str, killed: u16, by: Instant) {
        match self {
            Self::Sentinel(s) => assert_eq!(
                s.named_primary_port().await.as_deref(),
                Some(s.get("REDIS_REPLICA_PORT")),
                "the Sentinels promoted the replica: this was a real failover"
            ),
            Self::Cluster(c) => {
                let mut now = c.master_of(key, Some(killed)).await;
                while now.is_none_or(|port| port == killed) && Instant::now() < by {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    now = c.master_of(key, Some(killed)).await;
                }
                assert!(
                    now.is_some_and(|port| port != killed),
                    "a replica serves the queue's slot now (master {now:?}, killed {killed}): \
                     this was a real failover"
                );
            }
        }
    }
}
