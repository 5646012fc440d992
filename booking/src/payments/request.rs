//! The body of `POST /v1/payments` and its OpenAPI schema (API.md, Booking):
//! `{"reservation_ids": [<uuid>, …]}` with 1 to `MAX_SEATS_PER_USER`
//! distinct ids, or the single form `{"reservation_id": <uuid>}` — exactly
//! one of the two, nothing else.

use std::collections::HashSet;

use serde::{Deserialize, Deserializer, Serialize};
use shared::ErrorCode;
use utoipa::ToSchema;
use utoipa::openapi::schema::{
    AdditionalProperties, ArrayBuilder, KnownFormat, ObjectBuilder, OneOfBuilder, Schema,
    SchemaFormat, Type,
};
use utoipa::openapi::{OpenApi, RefOr};
use uuid::Uuid;

use crate::error::ApiError;

/// The reservations to pay for. The schema in the document is
/// [`document`]'s (a `oneOf` of the two forms), not the derived one.
#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PayRequest {
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    reservation_ids: Option<Vec<Uuid>>,
    // Serialised exactly as the single-field body of earlier releases, so
    // an `Idempotency-Key` used with it before still fingerprints the same.
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    reservation_id: Option<Uuid>,
}

/// A field that, when present, must hold a value (`null` is `400`).
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<T>, D::Error> {
    T::deserialize(d).map(Some)
}

/// What to pay: the ids in the request's order, and whether the single
/// form was used (its answer also carries `"reservation_id"`).
pub struct Wanted {
    pub ids: Vec<Uuid>,
    pub single: bool,
}

impl PayRequest {
    /// The ids to pay; `400 INVALID_REQUEST` for neither or both forms, no
    /// ids, more than `max` (`MAX_SEATS_PER_USER`) or a repeated id.
    pub fn wanted(&self, max: u32) -> Result<Wanted, ApiError> {
        let invalid = |detail: String| ApiError::new(ErrorCode::InvalidRequest, detail);
        let ids = match (&self.reservation_ids, self.reservation_id) {
            (Some(ids), None) => ids.clone(),
            (None, Some(id)) => {
                return Ok(Wanted {
                    ids: vec![id],
                    single: true,
                });
            }
            _ => {
                return Err(invalid(
                    "give either `reservation_ids` or `reservation_id`".into(),
                ));
            }
        };
        if ids.is_empty() || ids.len() > max as usize {
            return Err(invalid(format!(
                "`reservation_ids`: 1 to {max} reservations per payment"
            )));
        }
        if ids.iter().collect::<HashSet<_>>().len() != ids.len() {
            return Err(invalid("`reservation_ids`: an id appears twice".into()));
        }
        Ok(Wanted { ids, single: false })
    }
}

/// Put the schema of [`PayRequest`] into `doc`: one of the two forms, the
/// list limited to `max` (`MAX_SEATS_PER_USER`, known only at start)
/// distinct ids.
pub fn document(doc: &mut OpenApi, max: u32) {
    let uuid = || {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::Uuid)))
    };
    let closed = || Some(AdditionalProperties::FreeForm(false));
    let many = ObjectBuilder::new()
        .property(
            "reservation_ids",
            ArrayBuilder::new()
                .items(uuid())
                .min_items(Some(1))
                .max_items(Some(max as usize))
                .unique_items(true)
                .description(Some(format!(
                    "1 to {max} distinct reservations, paid together: all or nothing"
                ))),
        )
        .required("reservation_ids")
        .additional_properties(closed());
    let one = ObjectBuilder::new()
        .property(
            "reservation_id",
            uuid().description(Some("One reservation (the single form)")),
        )
        .required("reservation_id")
        .additional_properties(closed());
    let schema: RefOr<Schema> = OneOfBuilder::new()
        .item(many)
        .item(one)
        .description(Some("The reservations to pay for (one of the two forms)"))
        .into();
    doc.components
        .get_or_insert_with(Default::default)
        .schemas
        .insert("PayRequest".to_owned(), schema);
}
