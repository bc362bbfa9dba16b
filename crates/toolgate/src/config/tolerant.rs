//! Reads the raw configuration so that one run finds every structural error in it, where serde
//! alone stops at the first. A key its table does not have is recorded and skipped; a value that
//! cannot be read (wrong type, bad value, a table missing a required key) fails the pass, and the
//! document is read again with that key left out, until a pass reads through.
//!
//! Which keys a table has comes from the raw structs themselves (the field list serde hands to
//! `deserialize_struct`), so a key added to a raw struct is known here without more work. Map
//! keys are read as plain strings (the only keys TOML has).

use serde::de::{
    self, DeserializeOwned, DeserializeSeed, Deserializer, EnumAccess, IntoDeserializer, MapAccess,
    SeqAccess, VariantAccess, Visitor,
};
use std::cell::RefCell;
use std::collections::BTreeSet;
use std::fmt;

use super::keys::{child_path, index_path};

/// Passes at most: more than any configuration has keys.
const MAX_PASSES: usize = 512;

/// A structural problem with one key of the document.
#[derive(Debug)]
pub(super) enum Problem {
    /// A key its table does not have; `known` are the keys it does have.
    Unknown {
        path: String,
        key: String,
        known: &'static [&'static str],
    },
    /// A value that could not be read; `path` is the key that was left out (`""`: the document).
    Invalid {
        path: String,
        error: toml_edit::de::Error,
    },
}

/// What reading the document gave: the value, unless even the document as a whole could not be
/// read, and every problem in document order of discovery.
#[derive(Debug)]
pub(super) struct Reading<T> {
    pub value: Option<T>,
    pub problems: Vec<Problem>,
}

/// Reads `text` as a `T`, collecting every problem. `Err` only for text that is not TOML.
pub(super) fn read<T: DeserializeOwned>(text: &str) -> Result<Reading<T>, toml_edit::de::Error> {
    let mut skip = BTreeSet::new();
    let mut problems = Vec::new();
    let mut unknown_seen = BTreeSet::new();
    for _ in 0..MAX_PASSES {
        let document = toml_edit::de::Deserializer::parse(text)?;
        let pass = Pass {
            skip: &skip,
            failed_at: RefCell::new(None),
            unknown: RefCell::new(Vec::new()),
        };
        let result = T::deserialize(Tolerant {
            inner: document,
            path: String::new(),
            pass: &pass,
        });
        for u in pass.unknown.into_inner() {
            if let Problem::Unknown { path, .. } = &u {
                if unknown_seen.insert(path.clone()) {
                    problems.push(u);
                }
            }
        }
        match (result, pass.failed_at.into_inner()) {
            (Ok(value), _) => {
                return Ok(Reading {
                    value: Some(value),
                    problems,
                });
            }
            (Err(error), Some(path)) if !skip.contains(&path) => {
                skip.insert(path.clone());
                problems.push(Problem::Invalid { path, error });
            }
            (Err(error), _) => {
                problems.push(Problem::Invalid {
                    path: String::new(),
                    error,
                });
                break;
            }
        }
    }
    Ok(Reading {
        value: None,
        problems,
    })
}

/// The state of one pass over the document.
struct Pass<'a> {
    /// Keys left out because an earlier pass could not read them.
    skip: &'a BTreeSet<String>,
    /// The innermost key whose value failed this pass.
    failed_at: RefCell<Option<String>>,
    unknown: RefCell<Vec<Problem>>,
}

/// How a visitor's map is to be read.
#[derive(Clone, Copy)]
enum Shape {
    /// A struct: its keys are known.
    Struct(&'static [&'static str]),
    /// Any map: every key is accepted.
    Map,
    /// A deserializer's own protocol (a span, a datetime): passed through, the same key.
    Private,
}

/// A deserializer for the value at `path`.
struct Tolerant<'p, D> {
    inner: D,
    path: String,
    pass: &'p Pass<'p>,
}

impl<'p, D> Tolerant<'p, D> {
    fn visitor<V>(&self, visitor: V, shape: Shape) -> Wrap<'p, V> {
        Wrap {
            inner: visitor,
            path: self.path.clone(),
            pass: self.pass,
            shape,
        }
    }
}

macro_rules! forward_deserialize {
    ($($method:ident)*) => {
        $(
            fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
                let visitor = self.visitor(visitor, Shape::Map);
                self.inner.$method(visitor)
            }
        )*
    };
}

impl<'de, 'p, D: Deserializer<'de>> Deserializer<'de> for Tolerant<'p, D> {
    type Error = D::Error;

    forward_deserialize! {
        deserialize_any deserialize_bool deserialize_i8 deserialize_i16 deserialize_i32
        deserialize_i64 deserialize_i128 deserialize_u8 deserialize_u16 deserialize_u32
        deserialize_u64 deserialize_u128 deserialize_f32 deserialize_f64 deserialize_char
        deserialize_str deserialize_string deserialize_bytes deserialize_byte_buf
        deserialize_option deserialize_unit deserialize_seq deserialize_map
        deserialize_identifier
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, D::Error> {
        self.inner.deserialize_ignored_any(visitor)
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        let visitor = self.visitor(visitor, Shape::Map);
        self.inner.deserialize_unit_struct(name, visitor)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        let visitor = self.visitor(visitor, Shape::Map);
        self.inner.deserialize_newtype_struct(name, visitor)
    }

    fn deserialize_tuple<V: Visitor<'de>>(
        self,
        len: usize,
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        let visitor = self.visitor(visitor, Shape::Map);
        self.inner.deserialize_tuple(len, visitor)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        len: usize,
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        let visitor = self.visitor(visitor, Shape::Map);
        self.inner.deserialize_tuple_struct(name, len, visitor)
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        // `$__…` names are the toml deserializer's own protocols (`Spanned`, datetimes).
        let shape = if name.starts_with("$__") {
            Shape::Private
        } else {
            Shape::Struct(fields)
        };
        let visitor = self.visitor(visitor, shape);
        self.inner.deserialize_struct(name, fields, visitor)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        let visitor = self.visitor(visitor, Shape::Map);
        self.inner.deserialize_enum(name, variants, visitor)
    }

    fn is_human_readable(&self) -> bool {
        self.inner.is_human_readable()
    }
}

/// A visitor that hands on tolerant deserializers and maps.
struct Wrap<'p, V> {
    inner: V,
    path: String,
    pass: &'p Pass<'p>,
    shape: Shape,
}

impl<'p, V> Wrap<'p, V> {
    fn deserializer<D>(&self, inner: D) -> Tolerant<'p, D> {
        Tolerant {
            inner,
            path: self.path.clone(),
            pass: self.pass,
        }
    }
}

macro_rules! forward_visit {
    ($($method:ident($ty:ty))*) => {
        $(
            fn $method<E: de::Error>(self, v: $ty) -> Result<V::Value, E> {
                self.inner.$method(v)
            }
        )*
    };
}

impl<'de, V: Visitor<'de>> Visitor<'de> for Wrap<'_, V> {
    type Value = V::Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.inner.expecting(f)
    }

    forward_visit! {
        visit_bool(bool) visit_i8(i8) visit_i16(i16) visit_i32(i32) visit_i64(i64)
        visit_i128(i128) visit_u8(u8) visit_u16(u16) visit_u32(u32) visit_u64(u64)
        visit_u128(u128) visit_f32(f32) visit_f64(f64) visit_char(char) visit_str(&str)
        visit_borrowed_str(&'de str) visit_string(String) visit_bytes(&[u8])
        visit_borrowed_bytes(&'de [u8]) visit_byte_buf(Vec<u8>)
    }

    fn visit_none<E: de::Error>(self) -> Result<V::Value, E> {
        self.inner.visit_none()
    }

    fn visit_unit<E: de::Error>(self) -> Result<V::Value, E> {
        self.inner.visit_unit()
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<V::Value, D::Error> {
        let d = self.deserializer(d);
        self.inner.visit_some(d)
    }

    fn visit_newtype_struct<D: Deserializer<'de>>(self, d: D) -> Result<V::Value, D::Error> {
        let d = self.deserializer(d);
        self.inner.visit_newtype_struct(d)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<V::Value, A::Error> {
        self.inner.visit_seq(Seq {
            inner: seq,
            path: self.path,
            pass: self.pass,
            index: 0,
        })
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<V::Value, A::Error> {
        self.inner.visit_map(Map {
            inner: map,
            path: self.path,
            pass: self.pass,
            shape: self.shape,
            current: None,
        })
    }

    fn visit_enum<A: EnumAccess<'de>>(self, data: A) -> Result<V::Value, A::Error> {
        self.inner.visit_enum(Enum {
            inner: data,
            path: self.path,
            pass: self.pass,
        })
    }
}

/// A table being read: unknown and left-out keys are skipped; a value that fails marks its key.
struct Map<'p, A> {
    inner: A,
    path: String,
    pass: &'p Pass<'p>,
    shape: Shape,
    /// The path of the key whose value is next.
    current: Option<String>,
}

impl<'de, A: MapAccess<'de>> MapAccess<'de> for Map<'_, A> {
    type Error = A::Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, A::Error> {
        let known = match self.shape {
            Shape::Private => return self.inner.next_key_seed(seed),
            Shape::Struct(fields) => Some(fields),
            Shape::Map => None,
        };
        loop {
            let Some(key) = self.inner.next_key::<String>()? else {
                return Ok(None);
            };
            let path = child_path(&self.path, &key);
            if self.pass.skip.contains(&path) {
                self.inner.next_value::<de::IgnoredAny>()?;
                continue;
            }
            if let Some(known) = known.filter(|k| !k.contains(&key.as_str())) {
                self.pass
                    .unknown
                    .borrow_mut()
                    .push(Problem::Unknown { path, key, known });
                self.inner.next_value::<de::IgnoredAny>()?;
                continue;
            }
            self.current = Some(path);
            return seed.deserialize(key.into_deserializer()).map(Some);
        }
    }

    fn next_value_seed<S: DeserializeSeed<'de>>(&mut self, seed: S) -> Result<S::Value, A::Error> {
        let path = match self.shape {
            Shape::Private => self.path.clone(),
            _ => self.current.take().unwrap_or_else(|| self.path.clone()),
        };
        let result = self.inner.next_value_seed(Seed {
            inner: seed,
            path: path.clone(),
            pass: self.pass,
        });
        if result.is_err() && !matches!(self.shape, Shape::Private) {
            // The innermost key marks first; the tables around it see the same error pass by.
            self.pass.failed_at.borrow_mut().get_or_insert(path);
        }
        result
    }

    fn size_hint(&self) -> Option<usize> {
        self.inner.size_hint()
    }
}

/// An array being read: its elements are read tolerantly, at `path[i]`.
struct Seq<'p, A> {
    inner: A,
    path: String,
    pass: &'p Pass<'p>,
    index: usize,
}

impl<'de, A: SeqAccess<'de>> SeqAccess<'de> for Seq<'_, A> {
    type Error = A::Error;

    fn next_element_seed<S: DeserializeSeed<'de>>(
        &mut self,
        seed: S,
    ) -> Result<Option<S::Value>, A::Error> {
        let path = index_path(&self.path, self.index);
        self.index += 1;
        self.inner.next_element_seed(Seed {
            inner: seed,
            path,
            pass: self.pass,
        })
    }

    fn size_hint(&self) -> Option<usize> {
        self.inner.size_hint()
    }
}

/// An enum being read: its content is read tolerantly, at the same path.
struct Enum<'p, A> {
    inner: A,
    path: String,
    pass: &'p Pass<'p>,
}

impl<'de, 'p, A: EnumAccess<'de>> EnumAccess<'de> for Enum<'p, A> {
    type Error = A::Error;
    type Variant = Enum<'p, A::Variant>;

    fn variant_seed<S: DeserializeSeed<'de>>(
        self,
        seed: S,
    ) -> Result<(S::Value, Self::Variant), A::Error> {
        let (value, variant) = self.inner.variant_seed(seed)?;
        let variant = Enum {
            inner: variant,
            path: self.path,
            pass: self.pass,
        };
        Ok((value, variant))
    }
}

impl<'de, A: VariantAccess<'de>> VariantAccess<'de> for Enum<'_, A> {
    type Error = A::Error;

    fn unit_variant(self) -> Result<(), A::Error> {
        self.inner.unit_variant()
    }

    fn newtype_variant_seed<S: DeserializeSeed<'de>>(self, seed: S) -> Result<S::Value, A::Error> {
        self.inner.newtype_variant_seed(Seed {
            inner: seed,
            path: self.path,
            pass: self.pass,
        })
    }

    fn tuple_variant<V: Visitor<'de>>(self, len: usize, visitor: V) -> Result<V::Value, A::Error> {
        let visitor = Wrap {
            inner: visitor,
            path: self.path,
            pass: self.pass,
            shape: Shape::Map,
        };
        self.inner.tuple_variant(len, visitor)
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, A::Error> {
        let visitor = Wrap {
            inner: visitor,
            path: self.path,
            pass: self.pass,
            shape: Shape::Struct(fields),
        };
        self.inner.struct_variant(fields, visitor)
    }
}

/// A seed whose value is read tolerantly at `path`.
struct Seed<'p, S> {
    inner: S,
    path: String,
    pass: &'p Pass<'p>,
}

impl<'de, S: DeserializeSeed<'de>> DeserializeSeed<'de> for Seed<'_, S> {
    type Value = S::Value;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<S::Value, D::Error> {
        self.inner.deserialize(Tolerant {
            inner: d,
            path: self.path,
            pass: self.pass,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;
    use std::collections::BTreeMap;
    use toml::Spanned;

    #[derive(Debug, Deserialize, Default)]
    #[serde(deny_unknown_fields)]
    struct Root {
        #[serde(default)]
        top: Top,
        #[serde(default)]
        items: BTreeMap<String, Spanned<Item>>,
    }

    #[derive(Debug, Deserialize, Default)]
    #[serde(deny_unknown_fields)]
    struct Top {
        name: Option<Spanned<String>>,
        size: Option<usize>,
        #[serde(default)]
        tags: Vec<String>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Item {
        kind: String,
        on: Option<Spanned<bool>>,
    }

    fn summary(problems: &[Problem]) -> Vec<String> {
        problems
            .iter()
            .map(|p| match p {
                Problem::Unknown { path, .. } => format!("unknown {path}"),
                Problem::Invalid { path, error } => format!("invalid {path}: {}", error.message()),
            })
            .collect()
    }

    #[test]
    fn a_good_document_reads_through_in_one_pass() {
        let r: Reading<Root> =
            read("[top]\nname = \"n\"\ntags = [\"a\"]\n[items.x]\nkind = \"k\"\non = true\n")
                .unwrap();
        assert!(r.problems.is_empty(), "{:?}", r.problems);
        let root = r.value.unwrap();
        assert_eq!(root.top.name.unwrap().into_inner(), "n");
        assert_eq!(root.top.tags, ["a"]);
        assert_eq!(
            root.items["x"].get_ref().on.as_ref().map(|o| *o.get_ref()),
            Some(true)
        );
    }

    #[test]
    fn every_problem_is_found_and_the_rest_still_read() {
        let r: Reading<Root> = read(
            "[top]\nnmae = \"n\"\nsize = \"big\"\ntags = [\"a\", 2]\n\
             [items.x]\nkind = \"k\"\non = \"yes\"\ncolour = 1\n\
             [items.y]\non = true\n\
             [items.z]\nkind = \"z\"\n\
             [extra]\n",
        )
        .unwrap();
        // In the order found: a pass ends at the first value it cannot read.
        assert_eq!(
            summary(&r.problems),
            [
                "unknown top.nmae",
                "invalid top.size: invalid type: string \"big\", expected usize",
                "invalid top.tags: invalid type: integer `2`, expected a string",
                "invalid items.x.on: invalid type: string \"yes\", expected a boolean",
                "unknown items.x.colour",
                "invalid items.y: missing field `kind`",
                "unknown extra",
            ]
        );
        let root = r.value.unwrap();
        assert_eq!(root.top.size, None);
        assert!(
            root.top.tags.is_empty(),
            "a key that cannot be read is left out"
        );
        assert_eq!(
            root.items.keys().collect::<Vec<_>>(),
            ["x", "z"],
            "a table that cannot be read is left out, its siblings kept"
        );
        assert_eq!(root.items["x"].get_ref().kind, "k");
    }

    #[test]
    fn unknown_keys_name_the_keys_their_table_has() {
        let r: Reading<Root> = read("[items.\"a b\"]\nkind = \"k\"\nkidn = 1\n").unwrap();
        let [Problem::Unknown { path, key, known }] = &r.problems[..] else {
            panic!("{:?}", r.problems)
        };
        assert_eq!(
            (path.as_str(), key.as_str(), *known),
            ("items.\"a b\".kidn", "kidn", &["kind", "on"][..])
        );
    }

    #[test]
    fn text_that_is_not_toml_is_an_error() {
        assert!(read::<Root>("[top\n").is_err());
    }
}
