//! `detections_ext` end to end (see main.rs).
