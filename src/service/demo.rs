//! The demo store that `serve --demo` loads into an empty database: a few accounts and
//! orders, and invoices in every status, some overdue by date, some with payment links,
//! several with more than one installment. Dates are relative to today, so the demo
//! always shows the same picture.

use chrono::{DateTime, Duration, NaiveDate, SubsecRound, Utc};

use super::{AppError, UseCases};
use crate::domain::{
    Account, AccountStatus, ChangeSource, DocumentType, InvoiceStatus, Money, Order,
    new_friendly_id,
};
use crate::store::NewInvoice;

/// The demo account whose customer token `serve --demo` prints.
pub const DEMO_CUSTOMER_ACCOUNT: &str = "22222222000122_CNPJ";

fn money(text: &str) -> Money {
    Money::parse(text).expect("demo amounts are valid")
}

fn account(
    id: &str,
    doc_type: DocumentType,
    name: &str,
    email: &str,
    limit: &str,
    tolerance: &str,
    since: DateTime<Utc>,
) -> Account {
    Account {
        id: id.into(),
        document: id.split('_').next().unwrap_or(id).into(),
        document_type: doc_type,
        name: name.into(),
        email: email.into(),
        currency: "BRL".into(),
        credit_limit: money(limit),
        tolerance: money(tolerance),
        status: AccountStatus::Open,
        created_at: since,
        updated_at: since,
        version: 1,
    }
}

/// What happened to one installment, relative to today.
enum Fate {
    /// Open, due in this many days (negative: overdue by date, not yet swept).
    Open {
        due_in: i64,
        link: bool,
    },
    /// Persisted as overdue by the sweeper.
    Swept {
        due_in: i64,
    },
    Paid {
        due_in: i64,
    },
    Cancelled {
        due_in: i64,
    },
}

/// Seeds the demo store into an empty database. Returns `false`, changing nothing, when
/// the database already holds the demo store; refuses a database with other data, so that
/// `--demo` never hands out tokens over a real store.
pub async fn seed_demo(gateway: &UseCases) -> Result<bool, AppError> {
    let store = &gateway.store;
    if store.has_accounts().await? {
        return match store.account(DEMO_CUSTOMER_ACCOUNT).await? {
            Some(_) => Ok(false),
            None => Err(AppError::Forbidden(
                "--demo needs an empty database (or one that --demo seeded): this one holds other data".into(),
            )),
        };
    }
    let now = Utc::now().trunc_subsecs(6);
    let today = gateway.today();
    let ago = |days: i64| now - Duration::days(days);
    let accounts = vec![
        account(
            "11111111111_CPF",
            DocumentType::Cpf,
            "Ana Souza",
            "ana.souza@example.com",
            "5000.00",
            "0.10",
            ago(400),
        ),
        account(
            DEMO_CUSTOMER_ACCOUNT,
            DocumentType::Cnpj,
            "Padaria Pão Quente Ltda",
            "compras@paoquente.example.com",
            "50000.00",
            "0.30",
            ago(380),
        ),
        account(
            "33333333000133_CNPJ",
            DocumentType::Cnpj,
            "Oficina Ferreira & Filhos",
            "financeiro@oficinaferreira.example.com",
            "20000.00",
            "0.20",
            ago(300),
        ),
        account(
            "7c9e6679-7425-40de-944b-e07fc1f0d4b9",
            DocumentType::Other,
            "Maria Oliveira",
            "maria.oliveira@example.com",
            "1500.00",
            "0.00",
            ago(90),
        ),
    ];
    use Fate::*;
    let plan: Vec<(&str, &str, &str, &str, Vec<Fate>)> = vec![
        (
            "1375060513100-01",
            "A424887D0F2D45028FE5C96E9B0E1A2D",
            DEMO_CUSTOMER_ACCOUNT,
            "1200.00",
            vec![
                Paid { due_in: -25 },
                Open {
                    due_in: -5,
                    link: true,
                },
                Open {
                    due_in: 35,
                    link: true,
                },
            ],
        ),
        (
            "1375060513200-01",
            "B7F1C2D3E4A5468798A1B2C3D4E5F601",
            "11111111111_CPF",
            "249.90",
            vec![Open {
                due_in: 10,
                link: true,
            }],
        ),
        (
            "1375060513300-01",
            "C1D2E3F4A5B6478899AABBCCDDEEFF02",
            "11111111111_CPF",
            "300.00",
            vec![
                Paid { due_in: -10 },
                Open {
                    due_in: 20,
                    link: false,
                },
            ],
        ),
        (
            "1375060513400-01",
            "D9E8F7A6B5C44D3E2F1A0B9C8D7E6F03",
            "33333333000133_CNPJ",
            "10000.00",
            vec![
                Paid { due_in: -30 },
                Swept { due_in: -20 },
                Open {
                    due_in: 10,
                    link: false,
                },
                Open {
                    due_in: 40,
                    link: false,
                },
            ],
        ),
        (
            "1375060513500-01",
            "E0F1A2B3C4D54E6F708192A3B4C5D604",
            "33333333000133_CNPJ",
            "980.75",
            vec![Cancelled { due_in: 15 }],
        ),
        (
            "1375060513600-01",
            "F5A4B3C2D1E04F9E8D7C6B5A49382705",
            "7c9e6679-7425-40de-944b-e07fc1f0d4b9",
            "89.90",
            vec![Open {
                due_in: -2,
                link: true,
            }],
        ),
        (
            "1375060513700-01",
            "0A1B2C3D4E5F46A7B8C9D0E1F2A3B406",
            DEMO_CUSTOMER_ACCOUNT,
            "6251.00",
            vec![
                Open {
                    due_in: 15,
                    link: false,
                },
                Open {
                    due_in: 45,
                    link: false,
                },
            ],
        ),
        (
            "1375060513800-01",
            "1B2C3D4E5F6A47B8C9D0E1F2A3B4C507",
            "7c9e6679-7425-40de-944b-e07fc1f0d4b9",
            "45.00",
            vec![Cancelled { due_in: 5 }],
        ),
    ];
    let mut orders = Vec::new();
    let mut invoices = Vec::new();
    for (n, (order_id, transaction, account_id, total, fates)) in plan.into_iter().enumerate() {
        let created = ago(60 - n as i64 * 5);
        let total = money(total);
        let count = fates.len() as i32;
        orders.push(Order {
            id: order_id.into(),
            account_id: account_id.into(),
            value: total,
            currency: "BRL".into(),
            created_at: created,
        });
        // Installments split the total evenly (the demo totals divide exactly).
        let each = Money::from_units(total.units() / i64::from(count));
        for (i, fate) in fates.into_iter().enumerate() {
            let installment = i as i32 + 1;
            let friendly_id = new_friendly_id(installment);
            let (due_in, link, later) = match fate {
                Open { due_in, link } => (due_in, link, vec![]),
                Swept { due_in } => (
                    due_in,
                    false,
                    vec![(InvoiceStatus::Overdue, ago(-due_in - 1))],
                ),
                Paid { due_in } => (due_in, true, vec![(InvoiceStatus::Paid, ago(-due_in + 2))]),
                Cancelled { due_in } => (due_in, false, vec![(InvoiceStatus::Cancelled, ago(3))]),
            };
            let due_date: NaiveDate = today + Duration::days(due_in);
            invoices.push(NewInvoice {
                id: format!("{transaction}-{installment:02}"),
                payment_link: link
                    .then(|| format!("https://pay.example.com/invoice/{friendly_id}")),
                friendly_id,
                account_id: account_id.into(),
                order_id: order_id.into(),
                installment,
                number_of_installments: count,
                value: each,
                currency: "BRL".into(),
                due_date,
                observation: (installment == 1 && count > 1)
                    .then(|| "First installment of a multi-installment order".into()),
                created_at: created,
                later_statuses: later,
            });
        }
    }
    store
        .insert_all(&accounts, &orders, &invoices, "demo", ChangeSource::Seed)
        .await?;
    Ok(true)
}
