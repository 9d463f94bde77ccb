//! OpenAPI schemas for the domain's newtypes, which travel as strings: exact decimals (never
//! floats, so no money is lost in JSON), tickers and client order ids.

use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};

use crate::domain::{ClientOrderId, Money, Price, Quantity, Symbol};

/// Declares `$name` a string in the OpenAPI document, with a description and an example.
macro_rules! string_schema {
    ($name:ty, $description:literal, $example:literal) => {
        impl utoipa::PartialSchema for $name {
            fn schema() -> RefOr<Schema> {
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .description(Some($description))
                    .examples([serde_json::json!($example)])
                    .into()
            }
        }

        impl utoipa::ToSchema for $name {}
    };
}

string_schema!(
    Price,
    "A price: an exact positive decimal, as text.",
    "187.25"
);
string_schema!(
    Quantity,
    "A quantity of shares: an exact non-negative decimal, as text.",
    "100"
);
string_schema!(
    Money,
    "An amount of money: an exact decimal, as text.",
    "-1250.50"
);
string_schema!(Symbol, "A ticker symbol.", "AAPL");
string_schema!(
    ClientOrderId,
    "The client order id the host gives each order (a UUID).",
    "8c5f6a1e-3b0e-4c59-9a53-4e0b8f8f1c11"
);
