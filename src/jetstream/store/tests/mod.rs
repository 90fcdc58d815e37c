//! Tests of the stream store: the record format, the store against a model, recovery.

mod model;
mod record_props;
mod sim;
mod store_props;
mod store_units;
