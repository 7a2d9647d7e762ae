//! Link and address notifications for the runtime (`ip monitor link address`).

use super::LinkInfo;
use super::nl::{RCVBUF, grow_rcvbuf, messages, recv_datagram};
use super::parse::{
    RTM_DELADDR, RTM_DELLINK, RTM_NEWADDR, RTM_NEWLINK, address_from_payload, link_from_payload,
};
use anyhow::Context;
use futures::Stream;
use ipnet::IpNet;
use netlink_sys::{Socket, SocketAddr, protocols::NETLINK_ROUTE};
use std::os::fd::AsRawFd;
use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};
use tokio::io::Interest;
use tokio::io::unix::AsyncFd;

/// A change the kernel announced.
#[derive(Debug, Clone, PartialEq)]
pub enum KernelEvent {
    /// RTM_NEWLINK: a link appeared or changed (flags, carrier, protodown, name, MAC...).
    /// `addresses` is always empty here: addresses have their own events.
    LinkChanged(LinkInfo),
    /// RTM_DELLINK.
    LinkRemoved { index: u32, name: String },
    /// RTM_NEWADDR: an address was added or its flags changed.
    AddressChanged { index: u32, address: IpNet },
    /// RTM_DELADDR.
    AddressRemoved { index: u32, address: IpNet },
    /// The receive buffer overflowed and notifications were lost: re-read the state
    /// ([`super::Kernel::snapshot`]).
    Overrun,
}

/// The stream returned by [`events`]; dropping it closes the socket.
///
/// Notifications are read straight from the socket into one reused buffer and turned into
/// events only as the stream is polled: a burst (4,000 devices changing at start-up) waits
/// in the kernel's socket buffer, not copied into the heap message by message by a task
/// that reads ahead of the runtime (that queue was 12 MB at 4,000 routers).
pub struct EventStream {
    socket: AsyncFd<Socket>,
    /// The datagram being read and how far.
    buf: Vec<u8>,
    at: usize,
}

impl Stream for EventStream {
    type Item = KernelEvent;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Option<KernelEvent>> {
        let this = &mut *self;
        loop {
            // What is left of the current datagram first.
            while this.at < this.buf.len() {
                let rest = &this.buf[this.at..];
                let Some((kind, _, _, payload)) = messages(rest).next() else {
                    this.at = this.buf.len();
                    break;
                };
                let len = u32::from_ne_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
                this.at += (len + 3) & !3;
                if let Some(event) = to_event(kind, payload) {
                    return Poll::Ready(Some(event));
                }
            }
            let mut ready = match this.socket.poll_read_ready(cx) {
                Poll::Ready(Ok(ready)) => ready,
                Poll::Ready(Err(_)) => return Poll::Ready(None),
                Poll::Pending => return Poll::Pending,
            };
            this.at = 0;
            match ready.try_io(|fd| recv_datagram(fd.as_raw_fd(), &mut this.buf)) {
                Ok(Ok(())) => {}
                // The kernel dropped notifications (receive buffer full).
                Ok(Err(e)) if e.raw_os_error() == Some(libc::ENOBUFS) => {
                    this.buf.clear();
                    return Poll::Ready(Some(KernelEvent::Overrun));
                }
                Ok(Err(e)) if e.kind() == std::io::ErrorKind::Interrupted => this.buf.clear(),
                Ok(Err(_)) => {
                    this.buf.clear();
                    return Poll::Ready(None);
                }
                Err(_would_block) => this.buf.clear(),
            }
        }
    }
}

/// Subscribe to link and IPv4/IPv6 address notifications of the current thread's network
/// namespace (the socket is registered with the current tokio runtime).
///
/// Subscribe first, then take a snapshot: a change between the two shows up as an event
/// instead of being lost. On [`KernelEvent::Overrun`] take a new snapshot.
pub async fn events() -> anyhow::Result<EventStream> {
    // rtnetlink multicast groups (linux/rtnetlink.h), bound as a bit mask.
    const RTNLGRP_LINK: u32 = 1;
    const RTNLGRP_IPV4_IFADDR: u32 = 5;
    const RTNLGRP_IPV6_IFADDR: u32 = 9;
    let groups = [RTNLGRP_LINK, RTNLGRP_IPV4_IFADDR, RTNLGRP_IPV6_IFADDR]
        .iter()
        .fold(0u32, |mask, g| mask | 1 << (g - 1));
    let mut socket =
        Socket::new(NETLINK_ROUTE).context("cannot open an rtnetlink socket for notifications")?;
    socket
        .bind(&SocketAddr::new(0, groups))
        .context("cannot subscribe to rtnetlink link/address notifications")?;
    // Creating or deleting 1,000 devices emits thousands of notifications in a burst; the
    // default buffer (~200 KiB) overflows long before the runtime can read them.
    grow_rcvbuf(&socket, RCVBUF);
    socket
        .set_non_blocking(true)
        .context("cannot make the notification socket non-blocking")?;
    // SAFETY: the AsyncFd owns the socket, so the fd stays open exactly as long as it is
    // registered.
    let socket = unsafe { AsyncFd::register_with_interest(socket, Interest::READABLE) }
        .map_err(|e| anyhow::anyhow!("register the notification socket: {e}"))?;
    Ok(EventStream {
        socket,
        buf: Vec::new(),
        at: 0,
    })
}

fn to_event(kind: u16, payload: &[u8]) -> Option<KernelEvent> {
    match kind {
        RTM_NEWLINK => link_from_payload(payload).map(KernelEvent::LinkChanged),
        RTM_DELLINK => link_from_payload(payload).map(|l| KernelEvent::LinkRemoved {
            index: l.index,
            name: l.name,
        }),
        RTM_NEWADDR => address_from_payload(payload)
            .map(|(index, address)| KernelEvent::AddressChanged { index, address }),
        RTM_DELADDR => address_from_payload(payload)
            .map(|(index, address)| KernelEvent::AddressRemoved { index, address }),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use netlink_packet_core::Emitable;
    use netlink_packet_route::link::{LinkAttribute, LinkMessage};

    #[test]
    fn link_removal_maps_to_an_event() {
        let mut link = LinkMessage::default();
        link.header.index = 9;
        link.attributes.push(LinkAttribute::IfName("evt0".into()));
        let mut payload = vec![0; link.buffer_len()];
        link.emit(&mut payload);
        assert_eq!(
            to_event(RTM_DELLINK, &payload),
            Some(KernelEvent::LinkRemoved {
                index: 9,
                name: "evt0".into()
            })
        );
        assert_eq!(to_event(3, &payload), None);
    }
}
