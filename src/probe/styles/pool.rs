//! One direct connection per node endpoint, made by the factory on first use and kept: the per-node
//! clients a cluster library holds. A kept client reconnects with the factory's backoff by itself, which is
//! what "keeps retrying the same endpoint" means for the emulated styles.

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use fred::prelude::{Client, ClientLike};

use crate::connect::{self, Factory};
use crate::error::{AppError, AppResult};
use crate::topology::Endpoint;

/// Per-node clients, keyed by endpoint.
pub(super) struct NodePool {
    factory: Arc<Factory>,
    clients: Mutex<HashMap<Endpoint, Client>>,
    /// One creation at a time per endpoint, so concurrent operations share one new connection.
    creating: Mutex<HashMap<Endpoint, Arc<tokio::sync::Mutex<()>>>>,
    closed: AtomicBool,
}

impl NodePool {
    pub(super) fn new(factory: Arc<Factory>) -> Arc<Self> {
        Arc::new(NodePool {
            factory,
            clients: Mutex::new(HashMap::new()),
            creating: Mutex::new(HashMap::new()),
            closed: AtomicBool::new(false),
        })
    }

    /// The client for `ep`, connecting it first if there is none yet.
    pub(super) async fn get(self: &Arc<Self>, ep: &Endpoint) -> AppResult<Client> {
        if let Some(client) = self.existing(ep) {
            return Ok(client);
        }
        // The connection is made in a task of its own: an operation abandoned at its timeout must not
        // abandon a half-made client (it would reconnect forever with nobody to close it).
        let pool = Arc::clone(self);
        let ep = ep.clone();
        tokio::spawn(async move { pool.create(ep).await })
            .await
            .map_err(|e| AppError::Connect(format!("connecting task failed: {e}")))?
    }

    /// Whether the pooled connection to `ep` is up; `None` when there is none.
    pub(super) fn connected(&self, ep: &Endpoint) -> Option<bool> {
        self.existing(ep).map(|c| c.is_connected())
    }

    fn existing(&self, ep: &Endpoint) -> Option<Client> {
        lock(&self.clients).get(ep).cloned()
    }

    async fn create(&self, ep: Endpoint) -> AppResult<Client> {
        let gate = Arc::clone(lock(&self.creating).entry(ep.clone()).or_default());
        let _one_at_a_time = gate.lock().await;
        if let Some(client) = self.existing(&ep) {
            return Ok(client);
        }
        if self.closed.load(Ordering::SeqCst) {
            return Err(AppError::Connect(format!("{ep}: client closed")));
        }
        let client = self.factory.node(&ep).await?;
        if self.closed.load(Ordering::SeqCst) {
            connect::quit(&client).await;
            return Err(AppError::Connect(format!("{ep}: client closed")));
        }
        lock(&self.clients).insert(ep, client.clone());
        Ok(client)
    }

    /// Closes the clients of endpoints not in `keep` (nodes that left the map), in the background.
    pub(super) fn retain(&self, keep: &BTreeSet<Endpoint>) {
        let gone: Vec<Client> = {
            let mut clients = lock(&self.clients);
            let gone_eps: Vec<Endpoint> = clients.keys().filter(|ep| !keep.contains(*ep)).cloned().collect();
            gone_eps.iter().filter_map(|ep| clients.remove(ep)).collect()
        };
        for client in gone {
            tokio::spawn(async move { connect::quit(&client).await });
        }
    }

    /// Closes every client; later creations are refused.
    pub(super) async fn close(&self) {
        self.closed.store(true, Ordering::SeqCst);
        let all: Vec<Client> = lock(&self.clients).drain().map(|(_, c)| c).collect();
        let mut quits = tokio::task::JoinSet::new();
        for client in all {
            quits.spawn(async move { connect::quit(&client).await });
        }
        while quits.join_next().await.is_some() {}
    }
}

/// Locks a std mutex, ignoring poisoning: the guarded maps stay consistent at every await-free step.
pub(super) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
