//! A fuzz pass over the GraphQL endpoint, kept as a test so that it runs in CI for a
//! bounded time: every argument of every root field gets hostile variables (every scalar
//! out of range or of the wrong type, `Upload` outside multipart, crafted cursors, huge
//! strings and numbers, deeply nested lists and objects), and valid queries are mangled
//! into hostile texts and bodies. Whatever comes in, the answer is JSON with a 4xx or
//! 200 status, every error carries a code and none is `INTERNAL` or leaks internals, and
//! the server is still up at the end. `FUZZ_ROUNDS` (default 1) repeats the random part
//! with further seeds.

use std::collections::HashMap;

use base64::Engine;
use serde_json::{Value, json};

use crate::helpers::*;
use crate::on_both_backends;

on_both_backends!(
    hostile_variables_and_queries_never_break_the_gateway,
    hostile_upload_maps_never_break_the_gateway,
);

/// SplitMix64: a small, seeded, reproducible generator.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

fn nested_list(depth: usize) -> Value {
    (0..depth).fold(json!("x"), |inner, _| json!([inner]))
}

fn nested_object(depth: usize) -> Value {
    (0..depth).fold(json!("x"), |inner, _| json!({ "a": inner }))
}

fn b64(text: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(text)
}

/// Values that fit no type well.
fn anything() -> Vec<Value> {
    vec![
        Value::Null,
        json!(true),
        json!(0),
        json!(-1),
        json!(2_147_483_648_i64),
        json!(i64::MAX),
        json!(i64::MIN),
        json!(u64::MAX),
        json!(1e308),
        json!(-1e-308),
        json!(0.1),
        json!(""),
        json!(" "),
        json!("\u{0}"),
        json!("💥\u{202e}\u{feff}"),
        json!("' OR 1=1 --"),
        json!("x".repeat(200_000)),
        json!([]),
        json!(["a", 1, null]),
        json!((0..5000).map(|i| i.to_string()).collect::<Vec<_>>()),
        nested_list(60),
        json!({}),
        nested_object(60),
    ]
}

/// Values aimed at one named type.
fn aimed_at(type_name: &str) -> Vec<Value> {
    match type_name {
        "ID" | "String" => vec![
            json!("A".repeat(10_000)),
            json!("INV\u{0}1"),
            json!("../../etc/passwd"),
            json!("%00%ff"),
            json!(b64(r#"{"k":"x","id":"\u0000"}"#)),
            json!(b64(r#"{"due":"-100000-01-01","id":"A"}"#)),
            json!(b64("[1e999999]")),
            json!("eyJ!!!"),
            json!("https://pay.example.com/\u{0}"),
            json!("javascript:alert(1)"),
            // Payment links that read one way and go another.
            json!("https://evil.example\\@pay.bank.com/"),
            json!("https://pay.bank.com@evil.example/"),
            json!("https://pay.bank.com/\u{202e}fdp.exe"),
            // Cursors: sealed-looking but forged, unsealed, and a long made-up list.
            json!("ZjF8MToyOg.AAAA"),
            json!(b64("f1|1:5000:1,2,3")),
            json!(format!(
                "{}.x",
                b64(&format!(
                    "f1|1:90000:{}",
                    (1..9000)
                        .map(|i| i.to_string())
                        .collect::<Vec<_>>()
                        .join(",")
                ))
            )),
            // Cells after a delimiter that a spreadsheet would run.
            json!("Pago;=1+2"),
        ],
        "Int" => vec![
            json!(2_147_483_647),
            json!(-2_147_483_648),
            json!(2_147_483_648_i64),
            json!(1.5),
            json!("1"),
        ],
        "Date" => vec![
            json!("2024-02-30"),
            json!("+002024-01-01"),
            json!("99999-01-01"),
            json!("-0001-01-01"),
            json!("2024-1-1"),
            json!("2024-01-01T00:00:00Z"),
        ],
        "DateTime" => vec![
            json!("2024-01-01T25:00:00Z"),
            json!("+275760-09-13T00:00:00Z"),
        ],
        "Decimal" => vec![
            json!("1e400"),
            json!("NaN"),
            json!("-0"),
            json!("99999999999999999999.99999"),
            json!("0.00001"),
            json!("1,5"),
            json!(" 1 "),
            json!("0x10"),
            json!(1.5),
            json!(-79228162514264337593543950335_f64),
        ],
        "Upload" => vec![
            json!("x"),
            json!("0"),
            json!({ "filename": "a.csv" }),
            // async-graphql's own marker, which it reads back with an `unwrap`.
            json!("#__graphql_file__:x"),
            json!("#__graphql_file__:-1"),
            json!("#__graphql_file__:99999999999999999999"),
            json!("#__graphql_file__:0"),
        ],
        "Boolean" => vec![json!("true"), json!(1)],
        _ => vec![json!("NOPE"), json!("paid"), json!(1)],
    }
}

/// A type reference of introspection, as written in a query (`[ID!]!`), and its name.
fn type_ref(reference: &Value) -> (String, String) {
    match reference["kind"].as_str() {
        Some("NON_NULL") => {
            let (inner, name) = type_ref(&reference["ofType"]);
            (format!("{inner}!"), name)
        }
        Some("LIST") => {
            let (inner, name) = type_ref(&reference["ofType"]);
            (format!("[{inner}]"), name)
        }
        _ => {
            let name = reference["name"].as_str().unwrap().to_owned();
            (name.clone(), name)
        }
    }
}

const TYPE_REF: &str = "fragment R on __Type { kind name ofType { kind name ofType { kind name \
                        ofType { kind name ofType { kind name } } } } }";

struct Schema {
    /// Input object name → its fields (name, named type).
    inputs: HashMap<String, Vec<(String, String)>>,
    /// Types with fields (objects, interfaces, unions): selections need `{ __typename }`.
    composite: Vec<String>,
    roots: Vec<RootField>,
}

/// A field of `Query`, `Mutation` or `Subscription`.
struct RootField {
    keyword: &'static str,
    name: String,
    /// (name, type as written, named type).
    args: Vec<(String, String, String)>,
    returns: String,
}

async fn introspect(app: &TestApp) -> Schema {
    let query = format!(
        "{{ __schema {{ queryType {{ name }} mutationType {{ name }} subscriptionType {{ name }} \
         types {{ name kind inputFields {{ name type {{ ...R }} }} \
         fields {{ name args {{ name type {{ ...R }} }} type {{ ...R }} }} }} }} }} {TYPE_REF}"
    );
    let body = app.admin_data(&query, json!({})).await;
    let schema = &body["__schema"];
    let mut inputs = HashMap::new();
    let mut composite = Vec::new();
    let mut roots = Vec::new();
    let root_names = [
        ("query", schema["queryType"]["name"].as_str()),
        ("mutation", schema["mutationType"]["name"].as_str()),
        ("subscription", schema["subscriptionType"]["name"].as_str()),
    ];
    for t in schema["types"].as_array().unwrap() {
        let name = t["name"].as_str().unwrap().to_owned();
        match t["kind"].as_str().unwrap() {
            "INPUT_OBJECT" => {
                let fields = t["inputFields"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|f| {
                        (
                            f["name"].as_str().unwrap().to_owned(),
                            type_ref(&f["type"]).1,
                        )
                    })
                    .collect();
                inputs.insert(name.clone(), fields);
            }
            "OBJECT" | "INTERFACE" | "UNION" => composite.push(name.clone()),
            _ => {}
        }
        let Some((keyword, _)) = root_names.iter().find(|(_, root)| *root == Some(&name)) else {
            continue;
        };
        for field in t["fields"].as_array().unwrap() {
            let args = field["args"]
                .as_array()
                .unwrap()
                .iter()
                .map(|a| {
                    let (written, named) = type_ref(&a["type"]);
                    (a["name"].as_str().unwrap().to_owned(), written, named)
                })
                .collect();
            roots.push(RootField {
                keyword,
                name: field["name"].as_str().unwrap().to_owned(),
                args,
                returns: type_ref(&field["type"]).1,
            });
        }
    }
    Schema {
        inputs,
        composite,
        roots,
    }
}

impl Schema {
    /// Every hostile value for the named type, input objects filled with hostile fields.
    fn values(&self, named: &str, rng: &mut Rng) -> Vec<Value> {
        let mut values = anything();
        values.extend(aimed_at(named));
        if let Some(fields) = self.inputs.get(named) {
            // Each field alone with each value aimed at its type: a value that only a
            // field's own parser sees (an `Upload` marker, say) reaches it.
            for (name, ty) in fields {
                for value in aimed_at(ty) {
                    values.push(json!({ name.as_str(): value }));
                }
            }
            for _ in 0..12 {
                let mut object = serde_json::Map::new();
                for (name, ty) in fields {
                    if rng.below(4) != 0 {
                        object.insert(name.clone(), self.value(ty, rng, 1));
                    }
                }
                values.push(Value::Object(object));
            }
        }
        values
    }

    fn value(&self, named: &str, rng: &mut Rng, depth: usize) -> Value {
        if let (Some(fields), true) = (self.inputs.get(named), depth < 3 && rng.below(2) == 0) {
            let object = fields
                .iter()
                .map(|(name, ty)| (name.clone(), self.value(ty, rng, depth + 1)))
                .collect();
            return Value::Object(object);
        }
        let mut pool = anything();
        pool.extend(aimed_at(named));
        rng.pick(&pool).clone()
    }
}

/// What every answer must look like, whatever was sent.
fn assert_safe(status: u16, text: &str, sent: &str) {
    let shown: String = sent.chars().take(300).collect();
    assert!(
        [200, 400, 404, 405, 408, 413, 415, 429].contains(&status),
        "status {status} for {shown}: {text}"
    );
    let body: Value = serde_json::from_str(text)
        .unwrap_or_else(|_| panic!("not JSON ({status}) for {shown}: {text}"));
    if let Some(errors) = body.get("errors") {
        for error in errors.as_array().expect("errors is a list") {
            let code = error["extensions"]["code"].as_str();
            assert!(
                code.is_some(),
                "an error without a code for {shown}: {error}"
            );
            assert_ne!(code, Some("INTERNAL"), "for {shown}: {error}");
        }
    } else {
        assert!(
            body.get("data").is_some(),
            "neither data nor errors: {text}"
        );
    }
    let lower = text.to_lowercase();
    for leak in [
        "sqlx",
        "sea_orm",
        "select ",
        "panicked",
        "/src/",
        ".rs:",
        "database error",
    ] {
        assert!(!lower.contains(leak), "{leak:?} leaked for {shown}: {text}");
    }
}

async fn send(app: &TestApp, token: Option<&str>, body: String) {
    let mut request = app
        .client
        .post(format!("{}/graphql", app.base))
        .header("content-type", "application/json")
        .body(body.clone());
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.expect("the gateway answers");
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    assert_safe(status, &text, &body);
}

async fn hostile_variables_and_queries_never_break_the_gateway(app: TestApp) {
    let due = app.today() + chrono::Duration::days(3);
    app.insert_invoice(invoice("ACC-01", "ACC", "ORD", "10.00", due))
        .await;
    let schema = introspect(&app).await;
    let tokens = [Some(app.admin()), Some(app.customer("ACC")), None];
    let rounds: u64 = std::env::var("FUZZ_ROUNDS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(1);
    let mut sent = 0;
    for round in 0..rounds {
        let mut rng = Rng(0xC0FFEE + round);
        // Every argument of every root field gets every hostile value, the field's other
        // arguments random ones.
        for RootField {
            keyword,
            name: field,
            args,
            returns,
        } in &schema.roots
        {
            let selection = if schema.composite.contains(returns) {
                "{ __typename }"
            } else {
                ""
            };
            let declared: Vec<String> = args
                .iter()
                .enumerate()
                .map(|(i, (_, written, _))| format!("$a{i}: {written}"))
                .collect();
            let passed: Vec<String> = args
                .iter()
                .enumerate()
                .map(|(i, (name, _, _))| format!("{name}: $a{i}"))
                .collect();
            let query = if args.is_empty() {
                format!("{keyword} {{ {field} {selection} }}")
            } else {
                format!(
                    "{keyword} Fuzz({}) {{ {field}({}) {selection} }}",
                    declared.join(", "),
                    passed.join(", ")
                )
            };
            for (target, (_, _, named)) in args.iter().enumerate() {
                for value in schema.values(named, &mut rng) {
                    let variables: serde_json::Map<String, Value> = args
                        .iter()
                        .enumerate()
                        .map(|(i, (_, _, other))| {
                            let v = if i == target {
                                value.clone()
                            } else {
                                schema.value(other, &mut rng, 0)
                            };
                            (format!("a{i}"), v)
                        })
                        .collect();
                    let token = rng.pick(&tokens).as_deref();
                    let body = json!({ "query": query, "variables": variables }).to_string();
                    send(&app, token, body).await;
                    sent += 1;
                }
            }
        }
        // Valid queries mangled: cut, spliced, repeated; and bodies that are not requests.
        let seeds = [
            "query Q($s: InvoiceStatus) { invoices(status: $s, first: 5) { edges { cursor node { id value account { name } } } pageInfo { hasNextPage } } }",
            "mutation { markInvoicePaid(input: {id: \"ACC-01\", expectedVersion: 1}) { invoice { status } userErrors { code } } }",
            "{ invoice(id: \"ACC-01\") { history { status source } account { invoices(last: 2) { nodes { id } } } } }",
            "fragment F on Invoice { id ...G } fragment G on Invoice { value } { invoices { nodes { ...F } } }",
        ];
        let noise = [
            "{",
            "}",
            "(",
            ")",
            "[",
            "]",
            ":",
            "$",
            "@",
            "!",
            "...",
            "\"",
            "\\",
            "#",
            "\n",
            "\u{0}",
            "💥",
            "first: -1",
            "after: \"!!\"",
            "@skip(if: 1)",
            "@include",
            "__schema",
            "9999999999999999999999",
            "1e999",
            "\"\\uD800\"",
        ];
        for _ in 0..300 {
            let seed = rng.pick(&seeds).to_string();
            let chars: Vec<char> = seed.chars().collect();
            let at = rng.below(chars.len());
            let mangled: String = match rng.below(4) {
                0 => chars[..at].iter().collect(),
                1 => {
                    let mut text: String = chars[..at].iter().collect();
                    text.push_str(noise[rng.below(noise.len())]);
                    text.extend(&chars[at..]);
                    text
                }
                2 => {
                    let end = (at + 1 + rng.below(20)).min(chars.len());
                    let slice: String = chars[at..end].iter().collect();
                    let mut text: String = chars[..end].iter().collect();
                    text.push_str(&slice.repeat(1 + rng.below(50)));
                    text.extend(&chars[end..]);
                    text
                }
                _ => format!(
                    "{}{seed}{}",
                    "{ a ".repeat(rng.below(200)),
                    "}".repeat(rng.below(200))
                ),
            };
            let token = rng.pick(&tokens).as_deref();
            let body = match rng.below(6) {
                0 => json!({ "query": mangled, "variables": rng.pick(&anything()) }).to_string(),
                1 => {
                    json!({ "query": mangled, "operationName": rng.pick(&anything()) }).to_string()
                }
                2 => json!({ "query": mangled, "extensions": rng.pick(&anything()) }).to_string(),
                3 => json!([{ "query": mangled }, { "query": mangled }]).to_string(),
                4 => mangled.clone(),
                _ => json!({ "query": mangled }).to_string(),
            };
            send(&app, token, body).await;
            sent += 1;
        }
    }
    eprintln!("fuzz: {sent} hostile requests");
    let alive = app
        .gql(Some(&app.admin()), "{ invoices { totalCount } }", json!({}))
        .await;
    assert_eq!(alive["data"]["invoices"]["totalCount"], 1, "{alive}");
}

/// Upload requests (GraphQL multipart) whose `operations` and `map` parts are hostile:
/// paths into nothing, into the query, through lists and huge indexes, maps of the wrong
/// shape, files named twice or never sent. Every answer is safe, and the gateway is up.
async fn hostile_upload_maps_never_break_the_gateway(app: TestApp) {
    let admin = app.admin();
    let import = "mutation($input: ImportInvoicesCsvInput!) { importInvoicesCsv(input: $input) { import { id } userErrors { code } } }";
    let operations = [
        json!({ "query": import, "variables": { "input": { "file": null } } }),
        json!({ "query": import, "variables": { "input": { "file": [null, null] } } }),
        json!({ "query": import, "variables": { "input": null } }),
        json!({ "query": import, "variables": { "input": { "file": { "a": null } } } }),
        json!({ "query": import, "variables": null }),
        json!({ "query": import }),
        json!([{ "query": import, "variables": { "file": null } }]),
        json!({ "query": 1 }),
        json!("operations"),
    ];
    let paths = [
        "variables.input.file",
        "variables.input.file.0",
        "variables.input.file.1",
        "variables.input.file.99999999999999999999",
        "variables.input.file.-1",
        "variables.input.file.a.b.c.d",
        "variables.input",
        "variables.input.dryRun",
        "variables",
        "variables.",
        "query",
        "operationName",
        "0.variables.file",
        "99.variables.file",
        "",
        ".",
        "variables.__proto__",
        "variables.input.__proto__.x",
        "#__graphql_file__:0",
    ];
    let mut rng = Rng(0xF11E_5EED);
    let mut maps: Vec<Value> = vec![
        json!({}),
        json!([]),
        json!(null),
        json!("0"),
        json!({ "0": "variables.input.file" }),
        json!({ "0": [] }),
        json!({ "0": [1] }),
        json!({ "0": [null] }),
        json!({ "x": ["variables.input.file"] }),
        json!({ "-1": ["variables.input.file"] }),
        json!({ "0": ["variables.input.file"], "1": ["variables.input.file"] }),
        json!({ "0": vec!["variables.input.file"; 5000] }),
    ];
    for _ in 0..60 {
        let files = 1 + rng.below(3);
        let mut map = serde_json::Map::new();
        for n in 0..files {
            let targets: Vec<&str> = (0..1 + rng.below(3)).map(|_| *rng.pick(&paths)).collect();
            map.insert(n.to_string(), json!(targets));
        }
        maps.push(Value::Object(map));
    }
    for (n, map) in maps.iter().enumerate() {
        let operations = &operations[n % operations.len()];
        let mut form = reqwest::multipart::Form::new()
            .text("operations", operations.to_string())
            .text("map", map.to_string());
        // Send fewer, as many, or more files than the map names.
        for part in 0..rng.below(3) {
            form = form.part(
                part.to_string(),
                reqwest::multipart::Part::bytes(b"Invoice ID,Status\nINV-1,Paid\n".to_vec())
                    .file_name("f.csv"),
            );
        }
        let response = app.post_multipart(Some(&admin), form).await;
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        assert_safe(status, &text, &format!("operations {operations} map {map}"));
    }
    let alive = app
        .gql(Some(&admin), "{ invoices { totalCount } }", json!({}))
        .await;
    assert_eq!(alive["data"]["invoices"]["totalCount"], 0, "{alive}");
}
