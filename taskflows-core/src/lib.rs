//! The pure model of taskflows.
pub mod calendar;
