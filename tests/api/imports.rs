//! CSV import and export: the round trip, files as spreadsheets write them, every kind of
//! bad row and bad file, dry runs, all-or-nothing, idempotence, stale exports, formula
//! neutralisation, who may do what, and (PostgreSQL) an import meeting another writer.

use chrono::Duration;
use serde_json::{Value, json};

use crate::helpers::*;
use crate::on_both_backends;

on_both_backends!(
    an_exported_file_edited_and_imported_marks_invoices_paid,
    files_as_excel_and_libreoffice_write_them_are_read,
    one_refused_row_applies_nothing_and_every_refusal_is_listed,
    apply_valid_rows_applies_the_rest_and_reports_the_refused,
    a_dry_run_reports_and_changes_nothing,
    importing_the_same_file_twice_changes_nothing_the_second_time,
    an_id_repeated_in_a_later_batch_is_refused_with_its_first_line,
    text_with_tabs_line_breaks_and_backslashes_is_stored_exactly,
    a_stale_export_never_undoes_a_later_change_but_pays_what_became_overdue,
    file_level_problems_are_one_clear_error,
    exports_neutralise_formulas_and_write_money_exactly,
    no_export_runs_a_formula_whichever_delimiter_the_spreadsheet_splits_on,
    exports_follow_the_filters_and_only_admins_export_or_import,
    the_import_history_lists_every_import_newest_first,
    an_import_longer_than_the_wait_answers_running_and_finishes_in_the_background,
    hostile_uploads_are_refused_and_the_server_stays_up,
);

const INVOICE: &str = "query($id: ID!) { invoice(id: $id) { status version paymentLink observation \
    history { status source actor importId } } }";

/// Four open invoices of one account: INV-1 to INV-4, due in a month.
async fn store(app: &TestApp) {
    let due = app.today() + Duration::days(30);
    app.insert_order(
        "ACC-1",
        "ORD-1",
        "400.00",
        &[
            invoice("INV-1", "ACC-1", "ORD-1", "1250.50", due),
            invoice("INV-2", "ACC-1", "ORD-1", "99.90", due),
            invoice("INV-3", "ACC-1", "ORD-1", "10.00", due),
            invoice("INV-4", "ACC-1", "ORD-1", "0.10", due),
        ],
    )
    .await;
}

async fn invoice_of(app: &TestApp, id: &str) -> Value {
    app.admin_data(INVOICE, json!({ "id": id })).await["invoice"].clone()
}

async fn status_of(app: &TestApp, id: &str) -> String {
    invoice_of(app, id).await["status"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// Parses a CSV (as the tests' spreadsheet) into rows of cells.
fn parse(bytes: &[u8]) -> Vec<Vec<String>> {
    let text = std::str::from_utf8(bytes).expect("exports are UTF-8");
    let text = text
        .strip_prefix('\u{feff}')
        .expect("exports start with a BOM");
    csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(text.as_bytes())
        .records()
        .map(|r| r.unwrap().iter().map(str::to_owned).collect())
        .collect()
}

fn write(rows: &[Vec<String>]) -> Vec<u8> {
    let mut out = csv::Writer::from_writer(vec![]);
    for row in rows {
        out.write_record(row).unwrap();
    }
    out.into_inner().unwrap()
}

fn column(rows: &[Vec<String>], name: &str) -> usize {
    rows[0].iter().position(|h| h == name).unwrap()
}

async fn export_all(app: &TestApp) -> Vec<Vec<String>> {
    let response = app.export(Some(&app.admin()), "").await;
    assert_eq!(response.status(), 200);
    parse(&response.bytes().await.unwrap())
}

/// `(line, column, code)` of each refused row of an import.
fn refusals(import: &Value) -> Vec<(i64, Option<String>, String)> {
    import["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["line"].as_i64().unwrap(),
                e["column"].as_str().map(str::to_owned),
                e["code"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/tests/fixtures/csv/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

async fn an_exported_file_edited_and_imported_marks_invoices_paid(app: TestApp) {
    store(&app).await;
    let mut rows = export_all(&app).await;
    assert_eq!(
        rows[0].join(","),
        "Invoice ID,Friendly ID,Account ID,Order ID,Installment,Value,Currency,Due Date,Status,Payment Link,Observation,Version"
    );
    let (id, status, link) = (
        column(&rows, "Invoice ID"),
        column(&rows, "Status"),
        column(&rows, "Payment Link"),
    );
    for row in rows.iter_mut().skip(1) {
        match row[id].as_str() {
            "INV-1" | "INV-2" => row[status] = "Paid".into(),
            "INV-3" => row[link] = "https://pay.example.com/i/3".into(),
            _ => {}
        }
    }

    let import = app.import_csv(write(&rows), json!({})).await;

    assert_eq!(import["state"], "APPLIED", "{import:#}");
    assert_eq!(import["fileName"], "invoices.csv");
    assert_eq!(import["actor"], "test-admin");
    assert_eq!(
        (
            &import["rowsTotal"],
            &import["rowsRead"],
            &import["rowsChanged"],
            &import["rowsUnchanged"],
            &import["rowsRefused"]
        ),
        (&json!(4), &json!(4), &json!(3), &json!(1), &json!(0))
    );
    let paid = invoice_of(&app, "INV-1").await;
    assert_eq!(paid["status"], "PAID");
    assert_eq!(paid["version"], 2);
    let event = paid["history"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(
        event,
        json!({ "status": "PAID", "source": "CSV_IMPORT", "actor": "test-admin", "importId": import["id"] })
    );
    assert_eq!(status_of(&app, "INV-2").await, "PAID");
    let linked = invoice_of(&app, "INV-3").await;
    assert_eq!(
        (&linked["status"], &linked["paymentLink"]),
        (&json!("OPEN"), &json!("https://pay.example.com/i/3"))
    );
    assert_eq!(invoice_of(&app, "INV-4").await["version"], 1, "untouched");
}

async fn files_as_excel_and_libreoffice_write_them_are_read(app: TestApp) {
    // Excel in a Brazilian locale: Windows-1252, `sep=;`, semicolons, CRLF, local
    // number and date formats in the read-only columns, Portuguese statuses.
    store(&app).await;
    let excel = app.import_csv(fixture("excel-pt-br.csv"), json!({})).await;
    assert_eq!(excel["state"], "APPLIED", "{excel:#}");
    assert_eq!(
        (&excel["rowsChanged"], &excel["rowsUnchanged"]),
        (&json!(3), &json!(1))
    );
    let one = invoice_of(&app, "INV-1").await;
    assert_eq!(one["status"], "PAID");
    assert_eq!(
        one["observation"], "Cobrança recebida – ok",
        "Windows-1252 decoded"
    );
    let two = invoice_of(&app, "INV-2").await;
    assert_eq!(
        (&two["status"], &two["paymentLink"]),
        (&json!("OPEN"), &json!("https://pay.example.com/b/2"))
    );
    assert_eq!(status_of(&app, "INV-3").await, "PAID");

    // LibreOffice: UTF-8, LF, only some columns, in another order, loosely named, an
    // extra column, a quoted cell with a comma and a line break.
    let libre_app = TestApp::spawn(app.backend).await.unwrap();
    store(&libre_app).await;
    let libre = libre_app
        .import_csv(fixture("libreoffice.csv"), json!({}))
        .await;
    assert_eq!(
        (&libre["state"], &libre["rowsChanged"]),
        (&json!("APPLIED"), &json!(3)),
        "{libre:#}"
    );
    let one = invoice_of(&libre_app, "INV-1").await;
    assert_eq!(one["status"], "PAID");
    assert_eq!(one["observation"], "Paid by wire, ref 77\nsecond line");
    assert_eq!(status_of(&libre_app, "INV-2").await, "CANCELLED");
    let three = invoice_of(&libre_app, "INV-3").await;
    assert_eq!(
        (&three["status"], &three["paymentLink"]),
        (&json!("OPEN"), &json!("https://pay.example.com/b/3"))
    );

    // Excel's "CSV UTF-8": a byte-order mark, CRLF, Spanish statuses, a leftover empty row.
    let spanish_app = TestApp::spawn(app.backend).await.unwrap();
    store(&spanish_app).await;
    let spanish = spanish_app
        .import_csv(fixture("excel-utf8-spanish.csv"), json!({}))
        .await;
    assert_eq!(spanish["state"], "APPLIED", "{spanish:#}");
    assert_eq!(spanish["rowsRead"], 3, "the leftover empty row is skipped");
    assert_eq!(status_of(&spanish_app, "INV-1").await, "PAID");
    assert_eq!(status_of(&spanish_app, "INV-2").await, "CANCELLED");
    let three = invoice_of(&spanish_app, "INV-3").await;
    assert_eq!(
        (&three["status"], &three["observation"]),
        (&json!("OPEN"), &json!("Señal recibida"))
    );
}

/// A file with one good row and one row for every way a row can be refused.
fn mixed_file() -> Vec<u8> {
    let text = "Invoice ID,Status,Payment Link,Version\n\
        INV-1,Paid,,1\n\
        NOPE,Paid,,1\n\
        INV-2,Payed,,1\n\
        INV-3,,,1\n\
        INV-4,Open,http://insecure.example.com,1\n\
        INV-1,Cancelled,,1\n\
        INV-2,Paid,,x\n\
        INV-3,Paid,,9\n\
        \"bad id\",Paid,,1\n";
    text.as_bytes().to_vec()
}

async fn one_refused_row_applies_nothing_and_every_refusal_is_listed(app: TestApp) {
    store(&app).await;

    let import = app.import_csv(mixed_file(), json!({})).await;

    assert_eq!(import["state"], "REJECTED", "{import:#}");
    assert_eq!(import["rowsRefused"], 8);
    assert_eq!(
        refusals(&import),
        vec![
            (3, Some("Invoice ID".into()), "NOT_FOUND".into()),
            (4, Some("Status".into()), "INVALID_STATUS".into()),
            (5, Some("Status".into()), "MISSING_VALUE".into()),
            (
                6,
                Some("Payment Link".into()),
                "INVALID_PAYMENT_LINK".into()
            ),
            (7, Some("Invoice ID".into()), "DUPLICATE_ROW".into()),
            (8, Some("Version".into()), "INVALID_VERSION".into()),
            (9, Some("Version".into()), "VERSION_CONFLICT".into()),
            (10, Some("Invoice ID".into()), "INVALID_ID".into()),
        ]
    );
    let messages: Vec<&str> = import["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["message"].as_str().unwrap())
        .collect();
    assert!(messages[4].contains("line 2"), "{}", messages[4]);
    assert_eq!(
        status_of(&app, "INV-1").await,
        "OPEN",
        "the valid row is not applied"
    );
    assert_eq!(invoice_of(&app, "INV-1").await["version"], 1);
}

async fn apply_valid_rows_applies_the_rest_and_reports_the_refused(app: TestApp) {
    store(&app).await;

    let import = app
        .import_csv(mixed_file(), json!({ "applyValidRows": true }))
        .await;

    assert_eq!(import["state"], "APPLIED", "{import:#}");
    assert_eq!(import["applyValidRows"], true);
    assert_eq!(
        (&import["rowsChanged"], &import["rowsRefused"]),
        (&json!(1), &json!(8))
    );
    assert_eq!(status_of(&app, "INV-1").await, "PAID");
    for id in ["INV-2", "INV-3", "INV-4"] {
        assert_eq!(status_of(&app, id).await, "OPEN");
    }
}

async fn a_dry_run_reports_and_changes_nothing(app: TestApp) {
    store(&app).await;
    let file = b"Invoice ID,Status\nINV-1,Paid\nINV-2,Open\n".to_vec();

    let import = app.import_csv(file, json!({ "dryRun": true })).await;

    assert_eq!(import["state"], "CHECKED");
    assert_eq!(import["dryRun"], true);
    assert_eq!(
        (&import["rowsChanged"], &import["rowsUnchanged"]),
        (&json!(1), &json!(1))
    );
    let one = invoice_of(&app, "INV-1").await;
    assert_eq!(
        (&one["status"], &one["version"]),
        (&json!("OPEN"), &json!(1))
    );
}

async fn importing_the_same_file_twice_changes_nothing_the_second_time(app: TestApp) {
    store(&app).await;
    let mut rows = export_all(&app).await;
    let status = column(&rows, "Status");
    for row in rows.iter_mut().skip(1) {
        row[status] = "Paid".into();
    }
    let file = write(&rows);

    let first = app.import_csv(file.clone(), json!({})).await;
    let second = app.import_csv(file, json!({})).await;

    assert_eq!(first["rowsChanged"], 4);
    assert_eq!(second["state"], "APPLIED", "{second:#}");
    assert_eq!(
        (&second["rowsChanged"], &second["rowsUnchanged"]),
        (&json!(0), &json!(4))
    );
    assert_eq!(
        invoice_of(&app, "INV-1").await["version"],
        2,
        "no second event"
    );
}

/// A file longer than one batch: the import remembers the ids of earlier batches.
async fn an_id_repeated_in_a_later_batch_is_refused_with_its_first_line(app: TestApp) {
    store(&app).await;
    let batch = credit_gateway::service::IMPORT_BATCH_ROWS;
    let mut file = String::from("Invoice ID,Status\nINV-1,Paid\n");
    for n in 0..batch {
        file.push_str(&format!("X-{n},Paid\n"));
    }
    // Line 1 is the header: INV-1 is first on line 2, and again past the first batch.
    let repeat_line = batch + 3;
    file.push_str("INV-1,Cancelled\nINV-2,Paid\n");

    let import = app
        .import_csv(file.into_bytes(), json!({ "applyValidRows": true }))
        .await;

    assert_eq!(import["state"], "APPLIED", "{import:#}");
    assert_eq!(
        (&import["rowsChanged"], &import["rowsRefused"]),
        (&json!(2), &json!(batch + 1))
    );
    let query = "query($id: ID!, $after: Int) { invoiceImport(id: $id) { \
        errors(first: 5, afterLine: $after) { line column code message } } }";
    let variables = json!({ "id": import["id"], "after": repeat_line - 1 });
    let errors = app.admin_data(query, variables).await["invoiceImport"]["errors"].clone();
    assert_eq!(
        errors,
        json!([{
            "line": repeat_line,
            "column": "Invoice ID",
            "code": "DUPLICATE_ROW",
            "message": "invoice `INV-1` is already on line 2: give each invoice one row"
        }])
    );
    assert_eq!(status_of(&app, "INV-1").await, "PAID");
    assert_eq!(
        status_of(&app, "INV-2").await,
        "PAID",
        "the last batch applies"
    );
}

/// Observations as people paste them: tabs, line breaks, backslashes (what `COPY`'s text
/// format must escape, with `\N`, its NULL), quotes and non-ASCII letters.
async fn text_with_tabs_line_breaks_and_backslashes_is_stored_exactly(app: TestApp) {
    store(&app).await;
    let first = "Paid in two parts:\n\t1) 600.00\r\n\t2) the rest \\ see C:\\notes\\N.txt";
    let second = "\\N\tço \"quoted\", 'single'\\\n\\.";
    for (observation, link) in [(first, "https://pay.example.com/a?b=1&c=%20"), (second, "")] {
        let file = write(&[
            vec![
                "Invoice ID".into(),
                "Observation".into(),
                "Payment Link".into(),
            ],
            vec!["INV-1".into(), observation.into(), link.into()],
        ]);
        let import = app.import_csv(file, json!({})).await;
        assert_eq!(import["state"], "APPLIED", "{import:#}");
        assert_eq!(import["rowsChanged"], 1);
    }

    let query = "query { invoice(id: \"INV-1\") { observation paymentLink history { \
        observationChange { from to } paymentLinkChange { from to } } } }";
    let invoice = app.admin_data(query, json!({})).await["invoice"].clone();
    assert_eq!(invoice["observation"], second);
    assert_eq!(
        invoice["paymentLink"],
        Value::Null,
        "an empty cell clears the link"
    );
    let history = invoice["history"].as_array().unwrap();
    assert_eq!(history.len(), 3, "{history:#?}");
    assert_eq!(
        history[1]["observationChange"],
        json!({ "from": null, "to": first })
    );
    assert_eq!(
        history[2]["observationChange"],
        json!({ "from": first, "to": second })
    );
    assert_eq!(
        history[2]["paymentLinkChange"],
        json!({ "from": "https://pay.example.com/a?b=1&c=%20", "to": null })
    );
}

async fn a_stale_export_never_undoes_a_later_change_but_pays_what_became_overdue(app: TestApp) {
    let today = app.today();
    app.insert_order(
        "ACC-1",
        "ORD-1",
        "20.00",
        &[
            invoice("LATE", "ACC-1", "ORD-1", "10.00", today - Duration::days(2)),
            invoice(
                "LINKED",
                "ACC-1",
                "ORD-1",
                "10.00",
                today + Duration::days(5),
            ),
        ],
    )
    .await;
    let mut rows = export_all(&app).await;
    // After the export: the sweeper makes LATE overdue; someone gives LINKED a link.
    app.running.gateway.sweep_overdue().await.unwrap();
    app.admin_data(
        "mutation { setPaymentLink(input: {id: \"LINKED\", paymentLink: \"https://pay.example.com/l\"}) { userErrors { code } } }",
        json!({}),
    )
    .await;
    let status = column(&rows, "Status");
    for row in rows.iter_mut().skip(1) {
        row[status] = "Paid".into();
    }

    let import = app
        .import_csv(write(&rows), json!({ "applyValidRows": true }))
        .await;

    assert_eq!(
        refusals(&import),
        vec![(3, Some("Version".into()), "VERSION_CONFLICT".into())]
    );
    assert_eq!(
        status_of(&app, "LATE").await,
        "PAID",
        "overdue since the export: paid"
    );
    let linked = invoice_of(&app, "LINKED").await;
    assert_eq!(
        (&linked["status"], &linked["paymentLink"]),
        (&json!("OPEN"), &json!("https://pay.example.com/l")),
        "the link set after the export is not undone"
    );
}

async fn file_level_problems_are_one_clear_error(app: TestApp) {
    store(&app).await;
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "wrong headers",
            b"Id,State\nINV-1,Paid\n".to_vec(),
            "INVALID_HEADER",
        ),
        (
            "no column to apply",
            b"Invoice ID,Value\nINV-1,1\n".to_vec(),
            "INVALID_HEADER",
        ),
        (
            "a workbook",
            b"PK\x03\x04\x14\x00\x06\x00".to_vec(),
            "INVALID_FILE",
        ),
        ("UTF-16", b"\xff\xfeI\x00n\x00".to_vec(), "INVALID_FILE"),
        ("empty", vec![], "INVALID_FILE"),
        (
            "binary",
            b"Invoice ID,Status\n\x00\x01\x02,Paid\n".to_vec(),
            "INVALID_FILE",
        ),
        (
            "an unclosed quote",
            format!("Invoice ID,Observation\nINV-1,\"{}", "x".repeat(70_000)).into_bytes(),
            "INVALID_FILE",
        ),
        (
            "a short unclosed quote",
            b"Invoice ID,Status,Observation\nINV-1,Open,\"paid by wire\nINV-2,Paid,card\n".to_vec(),
            "INVALID_FILE",
        ),
        (
            "mixed encodings",
            b"Invoice ID,Observation\nINV-1,Cobran\xc3\xa7a\nINV-2,caf\xe9\n".to_vec(),
            "INVALID_FILE",
        ),
        // Millions of empty cells: a few MB of file that once grew memory without bound.
        (
            "a header wider than a spreadsheet",
            format!("Invoice ID,Status{}\nINV-1,Paid\n", ",".repeat(3_000_000)).into_bytes(),
            "INVALID_HEADER",
        ),
        (
            "a row wider than a spreadsheet",
            format!(
                "Invoice ID,Status\nINV-1,Paid\nINV-2,Paid{}\n",
                ",".repeat(3_000_000)
            )
            .into_bytes(),
            "MALFORMED_ROW",
        ),
    ];
    for (what, bytes, code) in cases {
        let (status, body) = app
            .upload_csv(Some(&app.admin()), "bad.csv", bytes, json!({}))
            .await;
        assert_eq!(status, 200, "{what}: {body:#}");
        let payload = &body["data"]["importInvoicesCsv"];
        assert_eq!(payload["userErrors"][0]["code"], code, "{what}: {body:#}");
        assert_eq!(payload["userErrors"][0]["field"], json!(["input", "file"]));
        assert_eq!(payload["import"]["state"], "FAILED", "{what}");
        assert!(payload["import"]["problem"].as_str().unwrap().len() > 10);
        if what.ends_with("wider than a spreadsheet") {
            let line = if code == "MALFORMED_ROW" { 3 } else { 1 };
            assert_eq!(
                payload["import"]["errors"][0]["line"], line,
                "{what}: {body:#}"
            );
        }
    }
    assert_eq!(invoice_of(&app, "INV-1").await["version"], 1);

    let limited = TestApp::with(app.backend)
        .config(|config| {
            config.import_max_rows = 2;
            config.import_max_bytes = 1000;
        })
        .spawn()
        .await
        .unwrap();
    store(&limited).await;
    let (_, body) = limited
        .upload_csv(
            Some(&limited.admin()),
            "many.csv",
            b"Invoice ID,Status\nINV-1,Paid\nINV-2,Paid\nINV-3,Paid\n".to_vec(),
            json!({}),
        )
        .await;
    assert_eq!(
        body["data"]["importInvoicesCsv"]["userErrors"][0]["code"],
        "TOO_MANY_ROWS"
    );
    let (status, body) = limited
        .upload_csv(
            Some(&limited.admin()),
            "big.csv",
            vec![b'a'; 5000],
            json!({}),
        )
        .await;
    assert_eq!(status, 413, "{body:#}");
    assert_eq!(error_codes(&body), vec!["FILE_TOO_LARGE"]);
    assert_eq!(invoice_of(&limited, "INV-1").await["version"], 1);
}

async fn exports_neutralise_formulas_and_write_money_exactly(app: TestApp) {
    let due = app.today() + Duration::days(3);
    let mut risky = invoice(
        "=cmd|'/C.calc'!A0",
        "ACC-1",
        "-1+1",
        "12345678901234.5678",
        due,
    );
    risky.observation = Some("@SUM(A1:A9)".into());
    app.insert_order("ACC-1", "-1+1", "1.00", &[risky]).await;

    let rows = export_all(&app).await;

    let row = &rows[1];
    assert_eq!(row[column(&rows, "Invoice ID")], "'=cmd|'/C.calc'!A0");
    assert_eq!(row[column(&rows, "Order ID")], "'-1+1");
    assert_eq!(row[column(&rows, "Observation")], "'@SUM(A1:A9)");
    assert_eq!(row[column(&rows, "Value")], "12345678901234.5678");

    // The neutralised cells come back as they were: nothing to change.
    let import = app.import_csv(write(&rows), json!({})).await;
    assert_eq!(
        (&import["state"], &import["rowsUnchanged"]),
        (&json!("APPLIED"), &json!(1)),
        "{import:#}"
    );
}

/// A formula hidden after the other locale's delimiter: a comma export opened where `;`
/// separates cells (Brazilian Excel), and the reverse, by LibreOffice itself.
async fn no_export_runs_a_formula_whichever_delimiter_the_spreadsheet_splits_on(app: TestApp) {
    let Some(soffice) = soffice() else { return };
    let due = app.today() + Duration::days(3);
    let mut hidden = invoice("INV-1", "ACC-1", "X;=cmd|'/Ccalc'!A0", "10.00", due);
    hidden.observation = Some("Pago;=1+2 ok,=3+4\tx\t@SUM(A1) b;\"=5+6".into());
    hidden.payment_link = Some("https://pay.example.com/a;=1+2".into());
    app.insert_order("ACC-1", "X;=cmd|'/Ccalc'!A0", "10.00", &[hidden])
        .await;
    let dir = tempfile::tempdir().unwrap();
    for (name, query) in [("comma", ""), ("semicolon", "delimiter=semicolon")] {
        let response = app.export(Some(&app.admin()), query).await;
        let bytes = response.bytes().await.unwrap();
        for (opened_with, separator) in [("comma", 44), ("semicolon", 59)] {
            let formulas = formulas_libreoffice_finds(&soffice, dir.path(), &bytes, separator);
            assert!(
                formulas.is_empty(),
                "a {name} export opened with {opened_with}s: {formulas:?}\n{}",
                String::from_utf8_lossy(&bytes)
            );
        }
        // And the export imports back to exactly what it came from.
        let import = app.import_csv(bytes.to_vec(), json!({})).await;
        assert_eq!(import["rowsUnchanged"], 1, "{name}: {import:#}");
    }
    // The check can fail: the same text unprotected is a formula to LibreOffice.
    let naive = b"Invoice ID,Observation\r\nINV-1,Pago;=1+2\r\n";
    let found = formulas_libreoffice_finds(&soffice, dir.path(), naive, 59);
    assert_eq!(found, ["of:=1+2"], "the control file");
}

/// The formulas LibreOffice makes of a CSV file opened with cells separated by
/// `separator` (an ASCII code) and formulas evaluated, as its import dialog offers.
fn formulas_libreoffice_finds(
    soffice: &std::path::Path,
    dir: &std::path::Path,
    csv: &[u8],
    separator: u8,
) -> Vec<String> {
    let input = dir.join(format!("export-{separator}.csv"));
    std::fs::write(&input, csv).unwrap();
    // Fields: separator, text delimiter ("), UTF-8, from line 1, default cell formats,
    // language, quoted cells not forced to text, special numbers detected, (three export
    // options), formulas evaluated.
    let filter = format!("CSV:{separator},34,76,1,,0,false,true,false,false,false,-1,true");
    let status = std::process::Command::new(soffice)
        .args(["--headless", "--norestore", "--nolockcheck"])
        .arg(format!(
            "-env:UserInstallation=file://{}/profile",
            dir.display()
        ))
        .arg(format!("--infilter={filter}"))
        .args(["--convert-to", "fods", "--outdir"])
        .arg(dir)
        .arg(&input)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    let sheet = std::fs::read_to_string(input.with_extension("fods")).unwrap();
    sheet
        .split("table:formula=\"")
        .skip(1)
        .map(|rest| rest.split('"').next().unwrap().to_owned())
        .collect()
}

async fn exports_follow_the_filters_and_only_admins_export_or_import(app: TestApp) {
    store(&app).await;
    app.admin_data(
        "mutation { markInvoicePaid(input: {id: \"INV-2\"}) { userErrors { code } } }",
        json!({}),
    )
    .await;

    let paid = app
        .export(Some(&app.admin()), "status=PAID&delimiter=semicolon")
        .await;
    assert_eq!(paid.headers()["content-type"], "text/csv; charset=utf-8");
    assert!(
        paid.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .starts_with("attachment; filename=\"invoices-")
    );
    let text = String::from_utf8(paid.bytes().await.unwrap().to_vec()).unwrap();
    let lines: Vec<&str> = text.trim_end().split("\r\n").collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert!(lines[1].starts_with("\"INV-2\";"), "{text}");

    let customer = app.customer("ACC-1");
    let refused = app.export(Some(&customer), "").await;
    assert_eq!(refused.status(), 403);
    let anonymous = app.export(None, "").await;
    assert_eq!(anonymous.status(), 401);
    let bad = app.export(Some(&app.admin()), "statuss=PAID").await;
    assert_eq!(bad.status(), 400);
    let body: Value = bad.json().await.unwrap();
    assert_eq!(error_codes(&body), vec!["BAD_REQUEST"]);

    // A download link works without a header; its token opens nothing else.
    let url = app
        .admin_data(
            "{ invoiceExportUrl(accountId: \"ACC-1\", status: OPEN) }",
            json!({}),
        )
        .await["invoiceExportUrl"]
        .as_str()
        .unwrap()
        .to_owned();
    let download = app.get(&url).await;
    assert_eq!(download.status(), 200);
    assert_eq!(
        parse(&download.bytes().await.unwrap()).len(),
        4,
        "header and 3 open"
    );
    let token = url.rsplit_once("token=").unwrap().1;
    let misuse = app.gql(Some(token), "{ today }", json!({})).await;
    assert_eq!(error_codes(&misuse), vec!["UNAUTHENTICATED"]);
    // The token opens its own filter only: not every invoice of every account, not
    // another account, another status or the other delimiter.
    for edited in [
        format!("/export/invoices.csv?token={token}"),
        format!("/export/invoices.csv?accountId=ACC-2&status=OPEN&token={token}"),
        format!("/export/invoices.csv?accountId=ACC-1&token={token}"),
        format!("/export/invoices.csv?status=OPEN&accountId=ACC-1&dueTo=2999-01-01&token={token}"),
        format!(
            "/export/invoices.csv?status=OPEN&accountId=ACC-1&delimiter=semicolon&token={token}"
        ),
    ] {
        let refused = app.get(&edited).await;
        assert_eq!(refused.status(), 403, "{edited}");
        let body: Value = refused.json().await.unwrap();
        assert_eq!(error_codes(&body), vec!["FORBIDDEN"], "{edited}");
    }
    let reordered = format!("/export/invoices.csv?accountId=ACC-1&status=open&token={token}");
    assert_eq!(
        app.get(&reordered).await.status(),
        200,
        "the same filter, spelled otherwise"
    );
    let link_for_customer = app
        .gql(Some(&customer), "{ invoiceExportUrl }", json!({}))
        .await;
    assert_eq!(error_codes(&link_for_customer), vec!["FORBIDDEN"]);

    let file = b"Invoice ID,Status\nINV-1,Paid\n".to_vec();
    let (_, body) = app
        .upload_csv(Some(&customer), "x.csv", file.clone(), json!({}))
        .await;
    assert_eq!(error_codes(&body), vec!["FORBIDDEN"]);
    let (_, body) = app.upload_csv(None, "x.csv", file, json!({})).await;
    assert_eq!(error_codes(&body), vec!["UNAUTHENTICATED"]);
    assert_eq!(status_of(&app, "INV-1").await, "OPEN");
}

async fn the_import_history_lists_every_import_newest_first(app: TestApp) {
    store(&app).await;
    let first = app
        .import_csv(
            b"Invoice ID,Status\nINV-1,Paid\n".to_vec(),
            json!({ "dryRun": true }),
        )
        .await;
    let second = app
        .import_csv(b"Invoice ID,Status\nNOPE,Paid\n".to_vec(), json!({}))
        .await;
    let (_, _) = app
        .upload_csv(
            Some(&app.admin()),
            "broken.csv",
            b"nonsense".to_vec(),
            json!({}),
        )
        .await;

    let history = app
        .admin_data(
            "{ invoiceImports { id state fileName rowsRefused } }",
            json!({}),
        )
        .await["invoiceImports"]
        .clone();
    let states: Vec<&str> = history
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["state"].as_str().unwrap())
        .collect();
    assert_eq!(states, vec!["FAILED", "REJECTED", "CHECKED"]);
    assert_eq!(history[1]["id"], second["id"]);
    let next = app
        .admin_data(
            "query($after: ID) { invoiceImports(first: 5, after: $after) { id } }",
            json!({ "after": second["id"] }),
        )
        .await;
    assert_eq!(next["invoiceImports"], json!([{ "id": first["id"] }]));
    let one = app
        .admin_data(
            "query($id: ID!) { invoiceImport(id: $id) { state errors { line column code } } }",
            json!({ "id": second["id"] }),
        )
        .await;
    assert_eq!(
        one["invoiceImport"],
        json!({ "state": "REJECTED", "errors": [{ "line": 2, "column": "Invoice ID", "code": "NOT_FOUND" }] })
    );
    let customer = app
        .gql(
            Some(&app.customer("ACC-1")),
            "{ invoiceImports { id } }",
            json!({}),
        )
        .await;
    assert_eq!(customer["data"]["invoiceImports"], json!([]));
}

async fn an_import_longer_than_the_wait_answers_running_and_finishes_in_the_background(
    app: TestApp,
) {
    let app = TestApp::with(app.backend)
        .config(|config| {
            config.import_wait_seconds = 0;
        })
        .spawn()
        .await
        .unwrap();
    store(&app).await;

    // Two rows that apply and thousands that are not found: work enough to be caught
    // running.
    let mut file = String::from("Invoice ID,Status\nINV-1,Paid\nINV-2,Paid\n");
    for n in 0..5000 {
        file.push_str(&format!("NOPE-{n},Paid\n"));
    }
    let import = app
        .import_csv(file.into_bytes(), json!({ "applyValidRows": true }))
        .await;

    assert_eq!(import["state"], "RUNNING", "{import:#}");
    let finished = finished_import(&app, &import["id"]).await;
    assert_eq!(
        (
            &finished["state"],
            &finished["rowsChanged"],
            &finished["rowsRefused"]
        ),
        (&json!("APPLIED"), &json!(2), &json!(5000))
    );
    assert!(finished["finishedAt"].is_string());
    assert_eq!(status_of(&app, "INV-2").await, "PAID");
}

/// PostgreSQL: an invoice another writer holds keeps the import waiting, then the import
/// decides on, and writes over, what that writer committed, losing none of it. The rows
/// an import reads stay locked until it commits, and where each lies (which its final
/// `UPDATE` goes by) is read under that lock.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_import_waits_for_a_held_invoice_and_keeps_what_its_writer_committed() {
    use sea_orm::{ConnectionTrait, Database, DbBackend, Statement, TransactionTrait};

    let app = TestApp::with(Backend::Postgres)
        .config(|config| config.import_wait_seconds = 0)
        .spawn()
        .await;
    let Some(app) = app else {
        return;
    };
    store(&app).await;
    let db = Database::connect(&app.config.database_url).await.unwrap();
    let writer = db.begin().await.unwrap();
    writer
        .execute_unprepared(
            "UPDATE invoices SET observation = 'held', version = version + 1 WHERE id = 'INV-1'",
        )
        .await
        .unwrap();

    let file = "Invoice ID,Status\nINV-2,Paid\nINV-1,Paid\n";
    let import = app.import_csv(file.into(), json!({})).await;
    assert_eq!(import["state"], "RUNNING", "{import:#}");
    let waiting = Statement::from_string(
        DbBackend::Postgres,
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() \
         AND wait_event_type = 'Lock' AND query LIKE '%FOR UPDATE%'",
    );
    let mut waited = false;
    for _ in 0..200 {
        let rows = db.query_all_raw(waiting.clone()).await.unwrap();
        if rows[0].try_get_by_index::<i64>(0).unwrap() > 0 {
            waited = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(waited, "the import's read waits for the held invoice");
    writer.commit().await.unwrap();

    let finished = finished_import(&app, &import["id"]).await;
    assert_eq!(
        (&finished["state"], &finished["rowsChanged"]),
        (&json!("APPLIED"), &json!(2)),
        "{finished:#}"
    );
    let held = invoice_of(&app, "INV-1").await;
    assert_eq!(
        (&held["status"], &held["observation"], &held["version"]),
        (&json!("PAID"), &json!("held"), &json!(3)),
        "the writer's observation kept, the import's change on top of it"
    );
}

/// The import `id` once it is no longer running (waiting up to 30 s): its state and counts.
async fn finished_import(app: &TestApp, id: &Value) -> Value {
    let query = "query($id: ID!) { invoiceImport(id: $id) { \
        state rowsChanged rowsRefused finishedAt problem } }";
    let mut finished = Value::Null;
    for _ in 0..600 {
        finished = app.admin_data(query, json!({ "id": id })).await["invoiceImport"].clone();
        if finished["state"] != "RUNNING" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    finished
}

async fn hostile_uploads_are_refused_and_the_server_stays_up(app: TestApp) {
    store(&app).await;
    let admin = app.admin();

    // An Upload variable with no file behind it, in a plain JSON request: async-graphql
    // would read the marker's number with an `unwrap` (a panic on `x`).
    for marker in [
        "#__graphql_file__:0",
        "#__graphql_file__:x",
        "#__graphql_file__:-1",
        "#__graphql_file__:99999999999999999999",
    ] {
        let body = app
            .gql(
                Some(&admin),
                "mutation($f: Upload!) { importInvoicesCsv(input: {file: $f}) { import { id } userErrors { field code } } }",
                json!({ "f": marker }),
            )
            .await;
        assert_eq!(error_codes(&body), ["BAD_REQUEST"], "{marker}: {body:#}");
        assert_eq!(body["data"], Value::Null, "{marker}");
    }
    // The marker written into the document: an argument, a variable's default.
    for document in [
        r##"mutation { importInvoicesCsv(input: {file: "#__graphql_file__:x"}) { import { id } } }"##,
        r##"mutation($f: Upload = "#__graphql_file__:x") { importInvoicesCsv(input: {file: $f}) { import { id } } }"##,
        r##"mutation { importInvoicesCsv(input: {file: "\u0023__graphql_file__:-1"}) { import { id } } }"##,
    ] {
        let body = app.gql(Some(&admin), document, json!({})).await;
        assert_eq!(error_codes(&body), ["BAD_REQUEST"], "{document}: {body:#}");
    }

    // One upload given to two imports in one request: the second is refused.
    let query = "mutation($f: Upload!) { \
        a: importInvoicesCsv(input: {file: $f}) { import { state } userErrors { code } } \
        b: importInvoicesCsv(input: {file: $f}) { import { state } userErrors { code message } } }";
    let operations = json!({ "query": query, "variables": { "f": null } });
    let form = reqwest::multipart::Form::new()
        .text("operations", operations.to_string())
        .text("map", r#"{"0": ["variables.f"]}"#)
        .part(
            "0",
            reqwest::multipart::Part::bytes(b"Invoice ID,Status\nINV-1,Paid\n".to_vec())
                .file_name("twice.csv"),
        );
    let body: Value = app
        .post_multipart(Some(&admin), form)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(body["data"]["a"]["import"]["state"], "APPLIED", "{body:#}");
    assert_eq!(
        body["data"]["b"]["userErrors"][0]["code"], "INVALID_FILE",
        "{body:#}"
    );

    // A second file (or any part past `operations`, `map` and one file) is refused as
    // it streams in, before the import runs.
    let history = || async {
        app.admin_data("{ invoiceImports { id } }", json!({})).await["invoiceImports"]
            .as_array()
            .unwrap()
            .len()
    };
    let imports_before = history().await;
    let operations = json!({ "query": IMPORT, "variables": { "input": { "file": null } } });
    let mut form = reqwest::multipart::Form::new()
        .text("operations", operations.to_string())
        .text("map", r#"{"0": ["variables.input.file"]}"#);
    for n in 0..3 {
        form = form.part(
            n.to_string(),
            reqwest::multipart::Part::bytes(b"Invoice ID,Status\nINV-1,Paid\n".to_vec())
                .file_name(format!("f{n}.csv")),
        );
    }
    let response = app.post_multipart(Some(&admin), form).await;
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    assert_eq!(error_codes(&body), ["TOO_MANY_FILES"], "{body:#}");
    assert_eq!(history().await, imports_before, "nothing imported");

    // A map that points the one file at many variables (async-graphql opens the file
    // once per variable: 19,950 of them held 19,986 descriptors), or names more files
    // than the upload carries, is refused before the file is read.
    let many = vec!["variables.input.file"; 19_950];
    for map in [
        json!({ "0": many.clone() }),
        json!({ "0": ["variables.input.file", "variables.input.file"] }),
        json!({ "0": ["variables.input.file"], "1": ["variables.input.file"] }),
    ] {
        let form = reqwest::multipart::Form::new()
            .text("operations", operations.to_string())
            .text("map", map.to_string())
            .part(
                "0",
                reqwest::multipart::Part::bytes(b"Invoice ID,Status\nINV-1,Paid\n".to_vec())
                    .file_name("f.csv"),
            );
        let response = app.post_multipart(Some(&admin), form).await;
        assert_eq!(response.status(), 400);
        let body: Value = response.json().await.unwrap();
        assert_eq!(error_codes(&body), ["INVALID_UPLOAD_MAP"], "{body:#}");
    }
    // The same bomb with the map sent after the file, which async-graphql would accept.
    let form = reqwest::multipart::Form::new()
        .text("operations", operations.to_string())
        .part(
            "0",
            reqwest::multipart::Part::bytes(b"Invoice ID,Status\nINV-1,Paid\n".to_vec())
                .file_name("f.csv"),
        )
        .text("map", json!({ "0": many }).to_string());
    let response = app.post_multipart(Some(&admin), form).await;
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    assert_eq!(error_codes(&body), ["INVALID_UPLOAD_MAP"], "{body:#}");
    assert_eq!(history().await, imports_before, "nothing imported");

    // Uploads without an admin token are answered before the body is read.
    let (status, body) = app
        .upload_csv(
            Some(&app.customer("ACC-1")),
            "x.csv",
            b"Invoice ID,Status\n".to_vec(),
            json!({}),
        )
        .await;
    assert_eq!(
        (status, error_codes(&body)),
        (403, vec!["FORBIDDEN".to_owned()])
    );

    // The file's own problem is listed among the import's errors, at line 0.
    let (_, body) = app
        .upload_csv(Some(&admin), "bad.csv", b"Id,State\n".to_vec(), json!({}))
        .await;
    let import = &body["data"]["importInvoicesCsv"]["import"];
    assert_eq!(import["errors"][0]["line"], 0, "{body:#}");
    assert_eq!(import["errors"][0]["code"], "INVALID_HEADER");

    assert_eq!(
        status_of(&app, "INV-1").await,
        "PAID",
        "the server still answers"
    );
}
