//! Labels follow a G into every G it spawns, on whichever M runs them, and
//! stay out of Gs that were not spawned under them (Go's `pprof.Do`).
#![cfg(not(loom))]

use runtime::{RunQueueKind, Runtime};

#[test]
fn spawned_gs_inherit_labels_down_a_chain_and_across_ms() {
    for kind in [RunQueueKind::CrossbeamDeque, RunQueueKind::GoRing] {
        let rt = Runtime::builder().procs(4).run_queue(kind).build().unwrap();
        let seen = rt.block_on(runtime::with_labels(&[("route", "/work")], async {
            let hs: Vec<_> = (0..200)
                .map(|i| {
                    runtime::spawn(async move {
                        runtime::yield_now().await; // may move to another M
                        let grandchild = runtime::spawn(async move {
                            runtime::with_labels(&[("item", &i.to_string())], async {
                                runtime::yield_now().await;
                                runtime::current_labels().to_string()
                            })
                            .await
                        });
                        let mine = runtime::current_labels().to_string();
                        (mine, grandchild.await.unwrap(), i)
                    })
                })
                .collect();
            let mut out = Vec::new();
            for h in hs {
                out.push(h.await.unwrap());
            }
            out
        }));
        for (child, grandchild, i) in seen {
            assert_eq!(
                child, "route=/work",
                "{kind:?}: a child lost its parent's labels"
            );
            assert_eq!(
                grandchild,
                format!("item={i},route=/work"),
                "{kind:?}: a grandchild's own labels did not add to the inherited ones"
            );
        }
    }
}

#[test]
fn labels_end_with_their_scope_and_never_reach_unrelated_gs() {
    let rt = Runtime::builder().procs(2).build().unwrap();
    rt.block_on(async {
        let before = runtime::spawn(async { runtime::current_labels().is_empty() });
        runtime::with_labels(&[("tag", "shadow")], async {
            assert_eq!(runtime::current_labels().get("tag"), Some("shadow"));
        })
        .await;
        assert!(
            runtime::current_labels().is_empty(),
            "the root kept the labels"
        );
        let after = runtime::spawn(async { runtime::current_labels().is_empty() });
        assert!(before.await.unwrap(), "a G spawned before got labels");
        assert!(
            after.await.unwrap(),
            "a G spawned after the scope got labels"
        );
    });
    // From outside the runtime: no labels, and none leak from the Ms.
    let h = rt.spawn(async { runtime::current_labels().len() });
    assert_eq!(rt.block_on(h).unwrap(), 0);
}
