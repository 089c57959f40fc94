use bytes::Bytes;
use proptest::prelude::*;

use super::*;
use crate::error::Error;

fn reader(b: &'static [u8]) -> Reader {
    Reader::new(Bytes::from_static(b))
}

#[test]
fn varint_matches_kafka_examples() {
    // Zig-zag examples from the Kafka protocol guide.
    for (v, enc) in [
        (0i32, &[0u8][..]),
        (-1, &[1]),
        (1, &[2]),
        (-2, &[3]),
        (300, &[0xd8, 0x04]),
    ] {
        let mut w = Writer::new();
        w.varint(v);
        assert_eq!(w.as_slice(), enc, "encoding {v}");
        assert_eq!(
            Reader::new(Bytes::copy_from_slice(enc))
                .varint("v")
                .unwrap(),
            v
        );
    }
}

#[test]
fn overlong_varint_is_refused() {
    let err = reader(&[0xff, 0xff, 0xff, 0xff, 0xff, 0x01])
        .uvarint("x")
        .unwrap_err();
    assert!(
        matches!(err, Error::VarintTooLong { max_bytes: 5, .. }),
        "{err}"
    );
}

#[test]
fn truncated_int_names_field() {
    let err = reader(&[0, 1]).i32("throttle_time_ms").unwrap_err();
    assert_eq!(
        err.to_string(),
        "field throttle_time_ms: truncated input, needed 4 bytes but 2 remain"
    );
}

#[test]
fn huge_array_count_refused_before_allocating() {
    // i32::MAX elements claimed with 2 bytes left.
    let err = reader(&[0x7f, 0xff, 0xff, 0xff, 0, 0])
        .array_len(4, "topics")
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::BadLength {
                length: 2147483647,
                remaining: 2,
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn null_string_and_null_not_allowed() {
    assert_eq!(reader(&[0xff, 0xff]).nullable_string("s").unwrap(), None);
    let err = reader(&[0xff, 0xff]).string("name").unwrap_err();
    assert!(matches!(err, Error::NullNotAllowed { .. }), "{err}");
    assert_eq!(reader(&[0]).compact_nullable_string("s").unwrap(), None);
}

#[test]
fn strings_are_zero_copy_slices() {
    let input = Bytes::from_static(&[0, 3, b'a', b'b', b'c']);
    let s = Reader::new(input.clone()).string("s").unwrap();
    assert_eq!(s, "abc");
    assert_eq!(s.as_bytes().as_ptr(), input[2..].as_ptr());
}

#[test]
fn invalid_utf8_is_an_error() {
    let err = reader(&[0, 1, 0xff]).string("topic").unwrap_err();
    assert!(matches!(err, Error::InvalidUtf8 { .. }), "{err}");
}

#[test]
fn tagged_section_orders_known_and_unknown() {
    let unknown = [RawTaggedField {
        tag: 1,
        data: Bytes::from_static(b"u"),
    }];
    let known = vec![
        Writer::tagged_body(0, |w| {
            w.i8(7);
            Ok(())
        })
        .unwrap(),
        (5, Bytes::from_static(b"k")),
    ];
    let mut w = Writer::new();
    w.tagged_section(known, &unknown).unwrap();
    assert_eq!(w.as_slice(), &[3, 0, 1, 7, 1, 1, b'u', 5, 1, b'k']);
    let mut r = Reader::new(w.freeze());
    let mut seen_zero = None;
    let rest = r
        .tagged_fields(|tag, r| {
            if tag == 0 {
                seen_zero = Some(r.i8("t0")?);
                Ok(true)
            } else {
                Ok(false)
            }
        })
        .unwrap();
    assert_eq!(seen_zero, Some(7));
    assert_eq!(rest.iter().map(|f| f.tag).collect::<Vec<_>>(), vec![1, 5]);
}

#[test]
fn tagged_fields_out_of_order_refused() {
    let err = reader(&[2, 5, 0, 1, 0])
        .tagged_fields(|_, _| Ok(false))
        .unwrap_err();
    assert!(matches!(err, Error::InvalidValue { .. }), "{err}");
}

proptest! {
    #[test]
    fn varlong_round_trip(v: i64) {
        let mut w = Writer::new();
        w.varlong(v);
        prop_assert_eq!(Reader::new(w.freeze()).varlong("v").unwrap(), v);
    }

    #[test]
    fn uvarint_round_trip(v: u32) {
        let mut w = Writer::new();
        w.uvarint(v);
        prop_assert_eq!(Reader::new(w.freeze()).uvarint("v").unwrap(), v);
    }

    #[test]
    fn reader_never_panics(data: Vec<u8>) {
        let mut r = Reader::new(Bytes::from(data));
        let _ = r.compact_nullable_string("a");
        let _ = r.array_len(1, "b");
        let _ = r.tagged_fields(|_, r| { r.i64("c")?; Ok(true) });
        let _ = r.nullable_bytes("d");
        let _ = r.varlong("e");
    }
}
