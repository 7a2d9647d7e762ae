//! VRRP wire format (to be written).
