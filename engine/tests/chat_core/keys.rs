//! §2.6: key exchange and media key versions.

use crate::*;

#[test]
fn both_sides_agree_on_a_v1_key_without_versions_and_a_v2_key_with_them() {
    let v12 = VersionRange::new(1, 2);
    let mut keys = Vec::new();
    for (a, b) in [(None, None), (v12, None), (v12, v12)] {
        let mut p = Pair::with_versions(a, b);
        p.invite(video(true));
        p.offer(video(true));
        let alice_key = p.alice.call(PEER).expect("call").state.shared_key();
        let bob_key = p.bob.call(PEER).expect("call").state.shared_key();
        assert!(alice_key.is_some());
        assert_eq!(alice_key, bob_key, "{a:?} {b:?}");
        keys.push(alice_key);
    }
    // The same seeds give the same DH secret, so v1 keys match and the v2 key differs.
    assert_eq!(keys[0], keys[1]);
    assert_ne!(keys[1], keys[2]);
}
