//! The VRRP protocol: wire format, the sans-IO state machine, and socket I/O.

pub mod net;
pub mod packet;
pub mod router;
pub mod unicast;
