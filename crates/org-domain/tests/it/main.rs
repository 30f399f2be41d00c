//! Integration tests of org-domain: value-object properties and the membership state machine.

mod state_machine;
mod values;
