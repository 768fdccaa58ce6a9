//! Domain vocabulary of accounts receivable: ids, money, business dates and the
//! invoice, payment, customer and activity records of the data contract.
//!
//! No I/O, no arrays: every other layer builds on these types. Amounts are integer
//! minor units with a currency ([`Money`]); floating point never appears here.

mod channel;
mod dates;
mod ids;
mod money;
mod records;
mod runs;

pub use channel::{channel_code, channel_name, normalise_channel, NO_CHANNEL, OTHER_CHANNEL, OTHER_CHANNEL_NAME};
pub use dates::{date_from_days, days_from_date, easter_sunday, parse_date_flexible, parse_span_days, Day, EPOCH};
pub use ids::{CustomerId, IdError, InvoiceId, MAX_ID_LEN};
pub use money::{Currency, Money, MoneyError};
pub use records::{Activity, ActivityKind, Customer, Invoice, Payment};
pub use runs::weekday;
pub use runs::{
    by_currency, days_to_month_end, settles_on_business_days, Holidays, PaymentRun, MIN_RUN_DATES, MIN_RUN_SHARE,
    MIN_TWICE_DATES, NO_HOLIDAYS, N_CALENDARS, N_RUNS, RUN_WINDOW,
};
