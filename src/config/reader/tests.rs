//! The reader: keys, types and their problems, each located.
use super::*;

fn table(entries: Vec<(&str, ValueKind)>) -> Value {
    let origin = "x.toml".to_string();
    let map: config::Map<String, Value> = entries
        .into_iter()
        .map(|(k, v)| (k.to_string(), Value::new(Some(&origin), v)))
        .collect();
    Value::new(Some(&origin), map)
}

#[test]
fn leftovers_are_unknown_with_a_hint() {
    let mut r = Reader::new(Path::new("x.toml"), HashMap::new());
    let mut t = Table::root(table(vec![("levl", "info".into())]));
    assert!(matches!(t.string(&mut r, "level"), Field::Absent));
    t.finish(&mut r);
    let p = r.into_problems();
    assert_eq!(p.len(), 1);
    assert_eq!(p[0].key, "levl");
    assert!(
        p[0].message.contains("did you mean `level`"),
        "{}",
        p[0].message
    );
}

#[test]
fn wrong_type_is_reported_and_consumed() {
    let mut r = Reader::new(Path::new("x.toml"), HashMap::new());
    let mut t = Table::root(table(vec![("n", "ten".into())]));
    assert!(matches!(
        t.integer::<u32>(&mut r, "n", 0, 10),
        Field::Invalid
    ));
    t.finish(&mut r);
    let p = r.into_problems();
    assert_eq!(p.len(), 1, "{p:?}");
    assert!(p[0].message.contains("expected an integer"));
}

#[test]
fn secret_values_are_not_quoted() {
    let mut r = Reader::new(Path::new("x.toml"), HashMap::new());
    let mut t = Table::root(table(vec![("s", ValueKind::I64(987654))]));
    assert!(matches!(t.secret_string(&mut r, "s"), Field::Invalid));
    let p = r.into_problems();
    assert!(!p[0].message.contains("987654"), "{}", p[0].message);
}

#[test]
fn distance() {
    assert_eq!(edit_distance("time_zon", "time_zone"), 1);
    assert_eq!(edit_distance("", "abc"), 3);
}
