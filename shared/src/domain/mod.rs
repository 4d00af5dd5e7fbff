//! The domain: identifiers, the order message, and the rules of spec §2. Pure, no I/O.

pub mod access;
pub mod entitlement;
pub mod ids;
pub mod order;
pub mod rules;

pub use ids::{Email, IdError, OrderId, Role, Serial, SupportId};
pub use order::{same_content, Day, Line, Order, OrderError, OrderStatus, Party, Site, DIGEST_VERSION};
pub use rules::{access, provisioning, Access, Placement, Reach};
