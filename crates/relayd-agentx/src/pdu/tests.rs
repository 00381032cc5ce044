use super::*;

fn oid(s: &[u32]) -> Oid {
    Oid::from_slice(s).unwrap()
}

/// A GetNext as net-snmp sends one, in either byte order.
fn get_next(big_endian: bool, context: Option<&[u8]>) -> Vec<u8> {
    let u32b = |v: u32| {
        if big_endian {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        }
    };
    let mut payload = Vec::new();
    if let Some(c) = context {
        payload.extend_from_slice(&u32b(c.len() as u32));
        payload.extend_from_slice(c);
        payload.resize(payload.len() + (4 - c.len() % 4) % 4, 0);
    }
    // start: prefix 4 (private) + 1.30155.3, include 1; end: null
    payload.extend_from_slice(&[3, 4, 1, 0]);
    for s in [1, 30155, 3] {
        payload.extend_from_slice(&u32b(s));
    }
    payload.extend_from_slice(&[0, 0, 0, 0]);
    let flags = if big_endian {
        FLAG_NETWORK_BYTE_ORDER
    } else {
        0
    } | if context.is_some() {
        FLAG_NON_DEFAULT_CONTEXT
    } else {
        0
    };
    let mut out = vec![1, PduType::GetNext as u8, flags, 0];
    for v in [7, 8, 9, payload.len() as u32] {
        out.extend_from_slice(&u32b(v));
    }
    out.extend_from_slice(&payload);
    out
}

#[test]
fn a_get_next_decodes_in_both_byte_orders() {
    for big_endian in [true, false] {
        let (header, pdu) = decode_frame(&get_next(big_endian, Some(b"ctx"))).unwrap();
        assert_eq!(header.session_id, 7);
        assert_eq!(header.packet_id, 9);
        let Pdu::Request(request) = pdu else {
            panic!("not a request: {pdu:?}")
        };
        assert_eq!(request.kind, RequestKind::GetNext);
        assert_eq!(request.context.as_deref(), Some(&b"ctx"[..]));
        assert_eq!(
            request.ranges,
            vec![SearchRange {
                start: oid(&[1, 3, 6, 1, 4, 1, 30155, 3]),
                include: true,
                end: Oid::default(),
            }]
        );
    }
}

#[test]
fn every_cut_of_a_pdu_is_an_error_not_a_panic() {
    let whole = get_next(true, Some(b"context"));
    for n in 0..whole.len() {
        assert!(decode_frame(&whole[..n]).is_err(), "cut at {n}");
    }
}

#[test]
fn a_payload_over_the_limit_is_refused_from_the_header() {
    let mut head = [0u8; HEADER_LEN];
    head[0] = 1;
    head[1] = PduType::Get as u8;
    head[2] = FLAG_NETWORK_BYTE_ORDER;
    head[16..20].copy_from_slice(&((MAX_PDU as u32) + 4).to_be_bytes());
    assert_eq!(
        Header::decode(&head),
        Err(DecodeError::PayloadLength(MAX_PDU as u32 + 4))
    );
    head[1] = 99;
    assert_eq!(Header::decode(&head), Err(DecodeError::UnknownType(99)));
}

#[test]
fn a_response_reads_back_with_every_value_type() {
    let (to, _) = decode_frame(&get_next(false, None)).unwrap();
    let name = oid(&[1, 3, 6, 1, 4, 1, 30155, 3, 2, 5, 1, 4, 1]);
    let values = vec![
        Value::Integer(-3),
        Value::OctetString(b"host-a".to_vec()),
        Value::Null,
        Value::ObjectIdentifier(oid(&[1, 3, 6])),
        Value::IpAddress([127, 0, 0, 1]),
        Value::Counter32(5),
        Value::Gauge32(6),
        Value::TimeTicks(7),
        Value::Opaque(vec![1, 2, 3, 4, 5]),
        Value::Counter64(u64::MAX),
        Value::NoSuchObject,
        Value::NoSuchInstance,
        Value::EndOfMibView,
    ];
    let varbinds: Vec<VarBind> = values
        .into_iter()
        .map(|value| VarBind {
            name: name.clone(),
            value,
        })
        .collect();
    let bytes = response(&to, NO_ERROR, 0, &varbinds);
    let (header, pdu) = decode_frame(&bytes).unwrap();
    assert_eq!(header.pdu_type, PduType::Response);
    assert_eq!((header.session_id, header.transaction_id), (7, 8));
    let Pdu::Response(answer) = pdu else {
        panic!("not a response")
    };
    assert_eq!(answer.varbinds, varbinds);
    let total: usize = varbinds.iter().map(VarBind::encoded_len).sum();
    assert_eq!(bytes.len(), HEADER_LEN + 8 + total);
}

#[test]
fn open_register_and_close_are_framed_big_endian() {
    let id = oid(&[1, 3, 6, 1, 4, 1, 30155, 3]);
    for bytes in [
        open(1, 5, &id, "relayd"),
        register(Ids::default(), Some(b"c"), 127, &id),
        close(Ids::default(), CLOSE_SHUTDOWN),
    ] {
        let head: [u8; HEADER_LEN] = bytes[..HEADER_LEN].try_into().unwrap();
        let header = Header::decode(&head).unwrap();
        assert_ne!(header.flags & FLAG_NETWORK_BYTE_ORDER, 0);
        assert_eq!(header.payload_length as usize, bytes.len() - HEADER_LEN);
        assert_eq!(header.payload_length % 4, 0);
    }
    let (_, pdu) = decode_frame(&close(Ids::default(), CLOSE_SHUTDOWN)).unwrap();
    assert_eq!(pdu, Pdu::Close { reason: 5 });
}
