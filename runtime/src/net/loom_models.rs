//! Loom models of the netpoller (written next).
