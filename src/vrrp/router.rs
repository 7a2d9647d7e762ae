//! The RFC 9568 / RFC 3768 state machine, sans-IO (to be written).
