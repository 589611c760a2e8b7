//! `schema.graphql` is the SDL the code generates, and every type and field is described.

#[test]
fn schema_graphql_is_up_to_date() {
    let committed = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/schema.graphql"))
        .unwrap_or_default();
    let generated = credit_gateway::graphql::sdl(false);
    assert!(
        committed == generated,
        "schema.graphql is out of date: run `cargo run -- schema > schema.graphql` and commit it"
    );
}

#[test]
fn every_type_field_argument_and_value_has_a_description() {
    use async_graphql::parser::types::{TypeKind, TypeSystemDefinition};

    let document =
        async_graphql::parser::parse_schema(credit_gateway::graphql::sdl(false)).unwrap();
    let mut undocumented = Vec::new();
    for definition in document.definitions {
        let TypeSystemDefinition::Type(ty) = definition else {
            continue;
        };
        let ty = ty.node;
        let name = ty.name.node.to_string();
        // Built-in scalars are described by the GraphQL specification.
        if ["DateTime", "String", "Int", "Boolean", "ID", "Float"].contains(&name.as_str()) {
            continue;
        }
        if ty.description.is_none() {
            undocumented.push(name.clone());
        }
        match ty.kind {
            TypeKind::Object(object) => {
                for field in object.fields {
                    let field = field.node;
                    if field.description.is_none() {
                        undocumented.push(format!("{name}.{}", field.name.node));
                    }
                    for argument in field.arguments {
                        if argument.node.description.is_none() {
                            undocumented.push(format!(
                                "{name}.{}({})",
                                field.name.node, argument.node.name.node
                            ));
                        }
                    }
                }
            }
            TypeKind::Enum(enumeration) => {
                for value in enumeration.values {
                    if value.node.description.is_none() {
                        undocumented.push(format!("{name}.{}", value.node.value.node));
                    }
                }
            }
            TypeKind::InputObject(input) => {
                for field in input.fields {
                    if field.node.description.is_none() {
                        undocumented.push(format!("{name}.{}", field.node.name.node));
                    }
                }
            }
            _ => {}
        }
    }
    assert!(
        undocumented.is_empty(),
        "undocumented in the schema: {undocumented:#?}"
    );
}
