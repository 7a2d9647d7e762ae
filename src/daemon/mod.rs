//! The runtime process (to be written).
