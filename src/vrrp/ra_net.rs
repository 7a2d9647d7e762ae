//! The Router Solicitation receive socket of one parent: a raw ICMPv6 socket bound to it,
//! joined to all-routers (ff02::2), whose ICMPv6 filter passes type 133 only, so nothing else
//! wakes the event loop. The kernel verifies the ICMPv6 checksum of everything a raw ICMPv6
//! socket receives; the hop limit comes with each packet (IPV6_RECVHOPLIMIT) for
//! [`crate::vrrp::ra::check_solicitation`]. Answers are not sent here: they are RAs on the
//! frame batch (see [`crate::vrrp::net::FrameBatch::push_router_advert`]).

use crate::vrrp::ra::ICMPV6_ROUTER_SOLICITATION;
use anyhow::Context;
use socket2::{Domain, Protocol, Socket, Type};
use std::io;
use std::net::Ipv6Addr;
use std::num::NonZeroU32;
use std::os::fd::AsRawFd;
use tokio::io::unix::AsyncFd;

/// ff02::2, where hosts send their solicitations.
pub const ALL_ROUTERS_V6: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 2);
/// ICMP6_FILTER (linux/icmpv6.h), a socket option of level IPPROTO_ICMPV6.
const ICMP6_FILTER: libc::c_int = 1;

/// One received solicitation: its source, its IPv6 hop limit, its ICMPv6 length in the
/// caller's buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Solicitation {
    pub source: Ipv6Addr,
    pub hop_limit: u8,
    pub len: usize,
}

pub struct RsSocket {
    fd: AsyncFd<Socket>,
    cmsg: Vec<u8>,
}

/// The ICMP6_FILTER value that blocks every type but `pass` (a set bit blocks).
fn filter_passing(pass: u8) -> [u32; 8] {
    let mut f = [u32::MAX; 8];
    f[usize::from(pass >> 5)] &= !(1u32 << (pass & 31));
    f
}

impl RsSocket {
    pub fn open(parent_index: u32) -> anyhow::Result<RsSocket> {
        let idx = NonZeroU32::new(parent_index).context("interface index 0")?;
        let s = Socket::new(Domain::IPV6, Type::RAW, Some(Protocol::ICMPV6))
            .context("raw ICMPv6 socket for Router Solicitations")?;
        let filter = filter_passing(ICMPV6_ROUTER_SOLICITATION);
        // SAFETY: a valid fd, and a pointer/length pair describing the 32-byte filter.
        let rc = unsafe {
            libc::setsockopt(
                s.as_raw_fd(),
                libc::IPPROTO_ICMPV6,
                ICMP6_FILTER,
                filter.as_ptr().cast(),
                std::mem::size_of_val(&filter) as libc::socklen_t,
            )
        };
        if rc != 0 {
            return Err(io::Error::last_os_error()).context("ICMP6_FILTER");
        }
        s.bind_device_by_index_v6(Some(idx))
            .context("bind to the parent")?;
        s.set_recv_hoplimit_v6(true).context("IPV6_RECVHOPLIMIT")?;
        s.join_multicast_v6(&ALL_ROUTERS_V6, parent_index)
            .context("join ff02::2")?;
        s.set_nonblocking(true).context("non-blocking")?;
        // SAFETY: the AsyncFd owns the socket, so the fd stays open exactly as long as it is
        // registered.
        let fd = unsafe { AsyncFd::register(s) }
            .map_err(|e| anyhow::anyhow!("register with the event loop: {e}"))?;
        Ok(RsSocket {
            fd,
            cmsg: nix::cmsg_space!(libc::c_int),
        })
    }

    /// Ready when the event loop saw the socket readable.
    pub fn poll_ready(&self, cx: &mut std::task::Context<'_>) -> std::task::Poll<()> {
        match self.fd.poll_read_ready(cx) {
            std::task::Poll::Ready(_) => std::task::Poll::Ready(()),
            std::task::Poll::Pending => std::task::Poll::Pending,
        }
    }

    /// The next queued solicitation, its ICMPv6 message read into `buf`; `Ok(None)` when
    /// the queue is empty. A packet without a hop limit is skipped (it cannot be checked).
    pub fn try_recv(&mut self, buf: &mut [u8]) -> io::Result<Option<Solicitation>> {
        use nix::sys::socket::{ControlMessageOwned, MsgFlags, SockaddrStorage, recvmsg};
        loop {
            let got = {
                let mut iov = [io::IoSliceMut::new(buf)];
                recvmsg::<SockaddrStorage>(
                    self.fd.get_ref().as_raw_fd(),
                    &mut iov,
                    Some(&mut self.cmsg),
                    MsgFlags::empty(),
                )
                .map(|msg| {
                    let hop = msg.cmsgs().ok().and_then(|mut c| {
                        c.find_map(|c| match c {
                            ControlMessageOwned::Ipv6HopLimit(h) => u8::try_from(h).ok(),
                            _ => None,
                        })
                    });
                    let source = msg
                        .address
                        .and_then(|a| a.as_sockaddr_in6().map(|a| a.ip()));
                    (source, hop, msg.bytes)
                })
                .map_err(io::Error::from)
            };
            match got {
                Ok((Some(source), Some(hop_limit), len)) => {
                    return Ok(Some(Solicitation {
                        source,
                        hop_limit,
                        len,
                    }));
                }
                Ok(_) => continue,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    let _ = self.fd.try_io(tokio::io::Interest::READABLE, |_| {
                        Err::<(), _>(io::ErrorKind::WouldBlock.into())
                    });
                    return Ok(None);
                }
                Err(e) => return Err(e),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_filter_passes_solicitations_only() {
        let f = filter_passing(133);
        let blocked = |t: u8| f[usize::from(t >> 5)] & (1 << (t & 31)) != 0;
        assert!(!blocked(133));
        for t in [0u8, 128, 129, 134, 135, 136, 132, 255] {
            assert!(blocked(t), "type {t}");
        }
    }
}
