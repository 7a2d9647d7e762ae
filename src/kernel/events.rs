//! Link and address notifications for the runtime (`ip monitor link address`).

use super::LinkInfo;
use super::nl::{Msg, RCVBUF, grow_rcvbuf};
use super::parse::{
    RTM_DELADDR, RTM_DELLINK, RTM_NEWADDR, RTM_NEWLINK, address_from_payload, link_from_payload,
};
use anyhow::Context;
use futures::Stream;
use futures::channel::mpsc::UnboundedReceiver;
use ipnet::IpNet;
use netlink_packet_core::{NetlinkMessage, NetlinkPayload};
use netlink_proto::sys::{AsyncSocket, SocketAddr, protocols::NETLINK_ROUTE};
use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};
use tokio::task::JoinHandle;

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
pub struct EventStream {
    messages: UnboundedReceiver<(NetlinkMessage<Msg>, SocketAddr)>,
    connection: JoinHandle<()>,
}

impl Drop for EventStream {
    fn drop(&mut self) {
        // The connection task would otherwise linger until the next notification arrives.
        self.connection.abort();
    }
}

impl Stream for EventStream {
    type Item = KernelEvent;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Option<KernelEvent>> {
        loop {
            match Pin::new(&mut self.messages).poll_next(cx) {
                Poll::Ready(Some((message, _))) => {
                    if let Some(event) = to_event(message) {
                        return Poll::Ready(Some(event));
                    }
                }
                Poll::Ready(None) => return Poll::Ready(None),
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}

/// Subscribe to link and IPv4/IPv6 address notifications of the current thread's network
/// namespace (the connection task runs on the current tokio runtime).
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
    let (mut connection, _handle, messages) =
        netlink_proto::new_connection::<Msg>(NETLINK_ROUTE)
            .context("cannot open an rtnetlink socket for notifications")?;
    connection
        .socket_mut()
        .socket_mut()
        .bind(&SocketAddr::new(0, groups))
        .context("cannot subscribe to rtnetlink link/address notifications")?;
    // Creating or deleting 1,000 devices emits thousands of notifications in a burst; the
    // default buffer (~200 KiB) overflows long before the runtime can read them.
    grow_rcvbuf(connection.socket_mut().socket_mut(), RCVBUF);
    let connection = tokio::spawn(connection);
    Ok(EventStream {
        messages,
        connection,
    })
}

fn to_event(message: NetlinkMessage<Msg>) -> Option<KernelEvent> {
    match message.payload {
        NetlinkPayload::InnerMessage(Msg::Raw { kind, payload }) => match kind {
            RTM_NEWLINK => link_from_payload(&payload).map(KernelEvent::LinkChanged),
            RTM_DELLINK => link_from_payload(&payload).map(|l| KernelEvent::LinkRemoved {
                index: l.index,
                name: l.name,
            }),
            RTM_NEWADDR => address_from_payload(&payload)
                .map(|(index, address)| KernelEvent::AddressChanged { index, address }),
            RTM_DELADDR => address_from_payload(&payload)
                .map(|(index, address)| KernelEvent::AddressRemoved { index, address }),
            _ => None,
        },
        NetlinkPayload::Overrun(_) => Some(KernelEvent::Overrun),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use netlink_packet_core::{Emitable, NetlinkHeader};
    use netlink_packet_route::link::{LinkAttribute, LinkMessage};

    fn message(payload: NetlinkPayload<Msg>) -> NetlinkMessage<Msg> {
        NetlinkMessage::new(NetlinkHeader::default(), payload)
    }

    #[test]
    fn overrun_and_link_removal_map_to_events() {
        assert_eq!(
            to_event(message(NetlinkPayload::Overrun(Vec::new()))),
            Some(KernelEvent::Overrun)
        );
        let mut link = LinkMessage::default();
        link.header.index = 9;
        link.attributes.push(LinkAttribute::IfName("evt0".into()));
        let mut payload = vec![0; link.buffer_len()];
        link.emit(&mut payload);
        assert_eq!(
            to_event(message(NetlinkPayload::InnerMessage(Msg::Raw {
                kind: RTM_DELLINK,
                payload,
            }))),
            Some(KernelEvent::LinkRemoved {
                index: 9,
                name: "evt0".into()
            })
        );
    }
}
