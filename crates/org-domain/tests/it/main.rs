//! Integration tests of org-domain: value-object properties, the first step of writes, and the membership state machine.

mod directory;
mod features;
mod intake;
mod risk;
mod services;
mod settings;
mod state_machine;
mod values;
