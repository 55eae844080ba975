//! Ports of the products (catalog and inventory) service.
