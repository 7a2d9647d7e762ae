//! VRRS: leader names, pathways and clients (to be written).
