//! The VRRP protocol: wire format (the advert codec in [`packet`], the link/IP/ARP/NDP
//! layers around it in [`frames`]), the sans-IO state machine, and socket I/O.

pub mod frames;
pub mod net;
pub mod packet;
pub mod ra;
pub mod ra_net;
pub mod router;
pub mod unicast;
