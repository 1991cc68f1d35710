//! Test support: small fake HTTP peers, each on a random loopback port.
