//! The embedded API simulator: placeholder until the sandbox issue lands.
