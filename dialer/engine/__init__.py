"""The running dialer: pacing loop, call and agent tracking, CDR batching."""
