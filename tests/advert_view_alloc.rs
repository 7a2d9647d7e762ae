//! The receive path takes an advert in without allocating: `Received::vrid` and
//! `Received::view_for` (what the runtime's `on_packet` calls) read the receive buffer in
//! place. Checked with a counting allocator, which is why this is a test binary of its own.

use netvrrp::types::Family;
use netvrrp::vrrp::net::Received;
use netvrrp::vrrp::packet::{self, Advert, VRRP_GROUP_V4};
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::net::{IpAddr, Ipv4Addr};

/// Counts allocations of the current thread only, so the test harness's other threads do
/// not disturb the count.
struct Counting;

thread_local! {
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

// SAFETY: every call is forwarded to the system allocator unchanged; the counter is a
// thread-local Cell with const initialisation, which never allocates.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.with(|n| n.set(n.get() + 1));
        // SAFETY: the caller's contract is passed on as is.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

#[test]
fn viewing_a_received_advert_allocates_nothing() {
    let src = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2));
    let group = IpAddr::V4(VRRP_GROUP_V4);
    let vips: Vec<IpAddr> = (1..=20)
        .map(|i| IpAddr::V4(Ipv4Addr::new(10, 0, 1, i)))
        .collect();
    let bytes = packet::encode(&Advert::new(3, 42, 150, 100, &vips), src, group, true);
    let pkt = Received {
        parent_index: 2,
        family: Family::Ipv4,
        src,
        dst: group,
        ttl: 255,
        payload: &bytes,
        arrived: None,
    };

    let before = ALLOCATIONS.with(Cell::get);
    let mut sum = 0u64;
    for _ in 0..1000 {
        let vrid = pkt.vrid();
        let view = pkt.view_for(3, group).expect("valid advert");
        sum += u64::from(vrid.unwrap_or(0)) + u64::from(view.priority());
        sum += u64::from(view.interval_cs()) + view.addresses().len() as u64;
        sum += view.addresses().filter(IpAddr::is_ipv4).count() as u64;
    }
    let allocated = ALLOCATIONS.with(Cell::get) - before;

    assert_eq!(sum, 1000 * (42 + 150 + 100 + 20 + 20));
    assert_eq!(allocated, 0, "the receive path allocated {allocated} times");
    // The owned decode, for comparison, does allocate (its address list).
    let before = ALLOCATIONS.with(Cell::get);
    let owned = pkt.view_for(3, group).map(|v| v.to_advert());
    assert!(ALLOCATIONS.with(Cell::get) > before);
    assert_eq!(owned.map(|a| a.addresses), Ok(vips));
}
