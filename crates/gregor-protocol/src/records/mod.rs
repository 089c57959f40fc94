//! Record batches (v2) and legacy message sets, with compression.
