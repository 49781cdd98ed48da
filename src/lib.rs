//! redis-failover-probe: tells whether Redis connections survive a failover.
