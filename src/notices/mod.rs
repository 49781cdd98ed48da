//! Maintenance notices servers send ahead of (or during) a failover, turned into [`crate::events::Event::Notice`]s
//! on the run's timeline: Azure's pub/sub channel ([`azure`]) and the RESP3 push notices of smart client
//! handoffs ([`maint`]).

pub mod azure;
pub mod maint;
