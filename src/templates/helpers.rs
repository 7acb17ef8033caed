//! Helpers the engine registers, and the list of helper names templates may call.
//!
//! `{{money amount currency}}` formats integer minor units (`amount`, an integer, never a
//! float) in an ISO 4217 `currency` for the template's locale. The locale is taken from the
//! `locale=` hash parameter if given (`{{money total "EUR" locale="de"}}`), otherwise from
//! `@root.locale`, which [`super::TemplateEngine::render`] sets to the locale directory of the
//! template file it resolved (so a German template formats `12,00 €` even when the customer
//! asked for `de-AT`, and an English fallback formats `€12.00`). Without either, `en`.
//! An unknown currency or a non-integer amount is a render error.

use handlebars::{
    Context, Handlebars, Helper, HelperResult, Output, RenderContext, RenderErrorReason,
};

use crate::money::Money;

/// Helpers built into handlebars 6 (without optional features) plus `else`, which the parser
/// treats as part of a block.
pub const BUILTIN_HELPERS: &[&str] = &[
    "if", "unless", "each", "with", "lookup", "raw", "log", "eq", "ne", "gt", "gte", "lt", "lte",
    "and", "or", "not", "len", "else",
];

/// Helpers omnibridge registers.
pub const OUR_HELPERS: &[&str] = &["money"];

/// True if templates may call a helper of this name.
pub fn is_known(name: &str) -> bool {
    BUILTIN_HELPERS.contains(&name) || OUR_HELPERS.contains(&name)
}

/// Registers every helper in [`OUR_HELPERS`] on a registry.
pub fn register(registry: &mut Handlebars<'_>) {
    registry.register_helper("money", Box::new(money_helper));
}

/// `{{money amount currency [locale="xx"]}}`.
fn money_helper(
    h: &Helper<'_>,
    _: &Handlebars<'_>,
    ctx: &Context,
    _: &mut RenderContext<'_, '_>,
    out: &mut dyn Output,
) -> HelperResult {
    let amount = h
        .param(0)
        .ok_or(RenderErrorReason::ParamNotFoundForIndex("money", 0))?;
    let minor = amount.value().as_i64().ok_or_else(|| {
        RenderErrorReason::Other(format!(
            "money: amount must be an integer of minor units, got {}",
            amount.value()
        ))
    })?;
    let currency = h
        .param(1)
        .ok_or(RenderErrorReason::ParamNotFoundForIndex("money", 1))?
        .value()
        .as_str()
        .ok_or(RenderErrorReason::InvalidParamType("currency code string"))?;
    let money =
        Money::new(minor, currency).map_err(|e| RenderErrorReason::Other(format!("money: {e}")))?;
    let locale = h
        .hash_get("locale")
        .and_then(|v| v.value().as_str())
        .or_else(|| ctx.data().get("locale").and_then(|v| v.as_str()))
        .unwrap_or("en");
    out.write(&money.format(locale))?;
    Ok(())
}
