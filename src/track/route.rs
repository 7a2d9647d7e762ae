//! route objects: up while a route to exactly a prefix exists in a routing table (like
//! Cisco's `track ip route reachability`), from rtnetlink route notifications in the
//! runtime's network namespace.
//!
//! Subscribe, then dump: a change in between arrives as a notification. A notification
//! about the prefix (or a lost one: the socket overran) triggers a new dump of that
//! family, so several routes to one prefix (other metrics, other types) are counted right.

use super::Reporter;
use futures::StreamExt;
use ipnet::IpNet;
use netlink_packet_core::{NetlinkMessage, NetlinkPayload};
use netlink_packet_route::route::{RouteAddress, RouteAttribute, RouteMessage, RouteType};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use netlink_proto::sys::{AsyncSocket, SocketAddr};
use std::net::IpAddr;
use std::time::Duration;
use tokio::task::JoinHandle;

/// How long to wait before trying again when the netlink socket cannot be opened.
const RETRY: Duration = Duration::from_secs(1);

/// The routing table of a route message (the attribute holds tables above 255).
fn table_of(m: &RouteMessage) -> u32 {
    m.attributes
        .iter()
        .find_map(|a| match a {
            RouteAttribute::Table(t) => Some(*t),
            _ => None,
        })
        .unwrap_or(u32::from(m.header.table))
}

/// The destination prefix of a route message.
fn prefix_of(m: &RouteMessage) -> Option<IpNet> {
    let len = m.header.destination_prefix_length;
    let addr: IpAddr = match m.attributes.iter().find_map(|a| match a {
        RouteAttribute::Destination(d) => Some(d),
        _ => None,
    }) {
        Some(RouteAddress::Inet(a)) => (*a).into(),
        Some(RouteAddress::Inet6(a)) => (*a).into(),
        Some(_) => return None,
        // A default route carries no destination.
        None => match m.header.address_family {
            AddressFamily::Inet => std::net::Ipv4Addr::UNSPECIFIED.into(),
            AddressFamily::Inet6 => std::net::Ipv6Addr::UNSPECIFIED.into(),
            _ => return None,
        },
    };
    IpNet::new(addr, len).ok()
}

/// Does this route make the object up? Unreachable, blackhole and prohibit routes do not
/// reach anything.
pub fn matches(m: &RouteMessage, prefix: IpNet, table: u32) -> bool {
    let usable = !matches!(
        m.header.kind,
        RouteType::Unreachable | RouteType::BlackHole | RouteType::Prohibit
    );
    usable && table_of(m) == table && prefix_of(m) == Some(prefix)
}

/// Dump the family's routes: is there one for the object?
async fn present(handle: &rtnetlink::Handle, prefix: IpNet, table: u32) -> Result<bool, String> {
    let mut msg = RouteMessage::default();
    msg.header.address_family = match prefix {
        IpNet::V4(_) => AddressFamily::Inet,
        IpNet::V6(_) => AddressFamily::Inet6,
    };
    let mut routes = handle.route().get(msg).execute();
    let mut found = false;
    while let Some(r) = routes.next().await {
        let r = r.map_err(|e| e.to_string())?;
        found |= matches(&r, prefix, table);
    }
    Ok(found)
}

pub fn spawn(prefix: IpNet, table: u32, reporter: Reporter) -> JoinHandle<()> {
    tokio::spawn(async move {
        // rtnetlink groups (linux/rtnetlink.h), bound as a bit mask.
        const RTNLGRP_IPV4_ROUTE: u32 = 7;
        const RTNLGRP_IPV6_ROUTE: u32 = 11;
        let group = match prefix {
            IpNet::V4(_) => RTNLGRP_IPV4_ROUTE,
            IpNet::V6(_) => RTNLGRP_IPV6_ROUTE,
        };
        loop {
            let (mut conn, handle, mut messages) = match rtnetlink::new_connection() {
                Ok(c) => c,
                Err(e) => {
                    reporter.report(false, format!("cannot open rtnetlink: {e}"));
                    tokio::time::sleep(RETRY).await;
                    continue;
                }
            };
            if let Err(e) = conn
                .socket_mut()
                .socket_mut()
                .bind(&SocketAddr::new(0, 1 << (group - 1)))
            {
                reporter.report(
                    false,
                    format!("cannot subscribe to route notifications: {e}"),
                );
                tokio::time::sleep(RETRY).await;
                continue;
            }
            let conn = tokio::spawn(conn);
            let mut last: Option<bool> = None;
            let mut stale = true;
            loop {
                if stale {
                    match present(&handle, prefix, table).await {
                        Ok(up) => {
                            if last != Some(up) {
                                let said = if up { "route present" } else { "route absent" };
                                reporter.report(up, format!("{said}: {prefix} table {table}"));
                                last = Some(up);
                            }
                        }
                        Err(e) => {
                            // Not a route gone: keep the state, reconnect and look again.
                            reporter.record(format!("cannot read the routes: {e}"));
                            break;
                        }
                    }
                }
                let Some((msg, _)) = messages.next().await else {
                    break;
                };
                stale = relevant(&msg, prefix, table);
            }
            conn.abort();
            tokio::time::sleep(RETRY).await;
        }
    })
}

/// A notification that may change the answer: one about the prefix in the table, or an
/// error or overrun (something was lost).
fn relevant(msg: &NetlinkMessage<RouteNetlinkMessage>, prefix: IpNet, table: u32) -> bool {
    match &msg.payload {
        NetlinkPayload::InnerMessage(RouteNetlinkMessage::NewRoute(m))
        | NetlinkPayload::InnerMessage(RouteNetlinkMessage::DelRoute(m)) => {
            table_of(m) == table && prefix_of(m) == Some(prefix)
        }
        NetlinkPayload::InnerMessage(_) => false,
        _ => true,
    }
}
