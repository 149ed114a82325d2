//! The pure model of taskflows.
