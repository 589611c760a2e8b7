//! Money is exact on both backends, from the store to the wire, in values and in sums.

use serde_json::json;

use crate::helpers::*;
use crate::on_both_backends;

on_both_backends!(
    amounts_round_trip_exactly_including_the_column_limit,
    sums_are_exact_beyond_one_amount
);

const AMOUNTS: [&str; 5] = [
    "0.10",
    "19.99",
    "12345678901234.5678",
    "99999999999999.9999",
    "0.0001",
];

async fn amounts_round_trip_exactly_including_the_column_limit(app: TestApp) {
    let due = app.today() + chrono::Duration::days(3);
    let invoices: Vec<_> = AMOUNTS
        .iter()
        .enumerate()
        .map(|(n, value)| invoice(&format!("MONEY-{n:02}"), "ACC", "ORD", value, due))
        .collect();
    app.insert_order("ACC", "ORD", "99999999999999.9999", &invoices)
        .await;

    let data = app
        .admin_data(
            "{ invoices(orderId: \"ORD\", orderBy: {field: VALUE}) { nodes { id value } } \
               invoice(id: \"MONEY-03\") { value order { value } } }",
            json!({}),
        )
        .await;

    let mut expected: Vec<&str> = AMOUNTS.to_vec();
    expected.sort_by_key(|v| money(v));
    let values: Vec<&str> = data["invoices"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["value"].as_str().unwrap())
        .collect();
    assert_eq!(values, expected);
    assert_eq!(data["invoice"]["value"], "99999999999999.9999");
    assert_eq!(data["invoice"]["order"]["value"], "99999999999999.9999");
}

async fn sums_are_exact_beyond_one_amount(app: TestApp) {
    let due = app.today() + chrono::Duration::days(3);
    let invoices: Vec<_> = (0..3)
        .map(|n| {
            invoice(
                &format!("BIG-{n}"),
                "ACC",
                "ORD",
                "99999999999999.9999",
                due,
            )
        })
        .chain([invoice("SMALL", "ACC", "ORD", "0.0002", due)])
        .collect();
    app.insert_order("ACC", "ORD", "1.00", &invoices).await;

    let data = app
        .admin_data(
            "{ invoiceStatusTotals { status count value { amount currency } } \
               account(id: \"ACC\") { openBalance availableCredit } }",
            json!({}),
        )
        .await;

    let open = &data["invoiceStatusTotals"][0];
    assert_eq!(open["status"], "OPEN");
    assert_eq!(open["count"], 4);
    assert_eq!(
        open["value"],
        json!([{ "amount": "299999999999999.9999", "currency": "BRL" }])
    );
    assert_eq!(data["account"]["openBalance"], "299999999999999.9999");
    assert_eq!(data["account"]["availableCredit"], "-299999999998999.9999");
}

on_both_backends!(sums_past_64_bits_of_units_stay_exact);

async fn sums_past_64_bits_of_units_stay_exact(app: TestApp) {
    let due = app.today() + chrono::Duration::days(3);
    // Twelve of the largest amount exceed i64 in units: SQLite's SUM alone would overflow.
    let invoices: Vec<_> = (0..12)
        .map(|n| {
            invoice(
                &format!("MAX-{n:02}"),
                "ACC",
                "ORD",
                "99999999999999.9999",
                due,
            )
        })
        .collect();
    app.insert_order("ACC", "ORD", "1.00", &invoices).await;

    let data = app
        .admin_data(
            "{ invoiceStatusTotals { value { amount } } account(id: \"ACC\") { openBalance } }",
            json!({}),
        )
        .await;

    assert_eq!(
        data["invoiceStatusTotals"][0]["value"][0]["amount"],
        "1199999999999999.9988"
    );
    assert_eq!(data["account"]["openBalance"], "1199999999999999.9988");
}
