//! The goroutine dump (`runtime::goroutines`): every live G with its state,
//! wait reason, wait site and spawn site. Gs are parked on a channel, a
//! mutex, a sleep, a join and a syscall; the dump must name each one's
//! reason and the line of this file where it waits and was spawned.
#![cfg(not(loom))]

use std::sync::Arc;
use std::time::Duration;

use runtime::{GState, Goroutine, Runtime, WaitReason};

/// Yields until `done(dump)` holds, at most a bounded number of times (no
/// sleeping: each yield lets the other Gs run up to their park).
async fn dump_when(done: impl Fn(&[Goroutine]) -> bool) -> Vec<Goroutine> {
    let mut gs = Vec::new();
    for _ in 0..1_000_000 {
        gs = runtime::goroutines();
        if done(&gs) {
            return gs;
        }
        runtime::yield_now().await;
    }
    panic!("the dump never reached the expected states: {gs:#?}");
}

#[test]
fn the_dump_lists_each_blocked_g_with_its_reason_and_sites() {
    let rt = Runtime::builder().procs(2).build().unwrap();
    let file = file!();
    let (gs, lines) = rt.block_on(runtime::with_labels(&[("test", "dump")], async {
        let (tx, mut rx) = runtime::sync::channel::<u32>(0);
        let m = Arc::new(runtime::sync::Mutex::new(()));
        let held = m.lock().await;
        let (unblock, blocked) = std::sync::mpsc::channel::<()>();
        let m2 = m.clone();
        #[rustfmt::skip]
        let (l_chan, chan) = (line!(), runtime::spawn(async move { rx.recv().await }));
        let chan_id = chan.id();
        #[rustfmt::skip]
        let (l_lock, lock) = (line!(), runtime::spawn(async move { drop(m2.lock().await) }));
        #[rustfmt::skip]
        let (l_sleep, sleep) = (line!(), runtime::spawn(async { runtime::sleep(Duration::from_secs(3600)).await }));
        #[rustfmt::skip]
        let (l_join, join) = (line!(), runtime::spawn(async move { chan.await.unwrap() }));
        #[rustfmt::skip]
        let (l_sys, sys) = (line!(), runtime::spawn(async move { runtime::syscall(|| blocked.recv()) }));
        let ids = [chan_id, lock.id(), sleep.id(), join.id(), sys.id()];
        let gs = dump_when(|gs| {
            gs.iter().filter(|g| ids.contains(&g.id)).count() == 5
                && gs
                    .iter()
                    .filter(|g| ids.contains(&g.id))
                    .all(|g| matches!(g.state, GState::Waiting | GState::Syscall))
        })
        .await;
        // Let everything finish, so the runtime shuts down clean.
        unblock.send(()).unwrap();
        sys.await.unwrap().unwrap();
        sleep.abort();
        assert!(sleep.await.unwrap_err().is_cancelled());
        drop(held);
        lock.await.unwrap();
        tx.send(7).await.unwrap();
        assert_eq!(join.await.unwrap(), Some(7));
        let lines = [l_chan, l_lock, l_sleep, l_join, l_sys];
        let ids_lines: Vec<(u64, u32)> = ids.into_iter().zip(lines).collect();
        (gs, ids_lines)
    }));
    let expect = [
        (WaitReason::ChanReceive, GState::Waiting),
        (WaitReason::MutexLock, GState::Waiting),
        (WaitReason::Sleep, GState::Waiting),
        (WaitReason::Join, GState::Waiting),
        (WaitReason::Syscall, GState::Syscall),
    ];
    for ((id, line), (reason, state)) in lines.into_iter().zip(expect) {
        let g = gs
            .iter()
            .find(|g| g.id == id)
            .unwrap_or_else(|| panic!("G {id} missing from the dump {gs:#?}"));
        assert_eq!(
            (g.state, g.wait_reason),
            (state, Some(reason)),
            "G {id} spawned at line {line}: {g:#?}"
        );
        assert_eq!(
            (g.spawned_at.file(), g.spawned_at.line()),
            (file, line),
            "G {id}'s spawn site should be its spawn line: {g:#?}"
        );
        assert_eq!(g.parent, Some(0), "spawned by the root, G 0: {g:#?}");
        assert_eq!(g.labels, [("test".to_string(), "dump".to_string())]);
        assert!(g.waited.is_some(), "a waiting G has a wait time: {g:#?}");
        if reason != WaitReason::Syscall {
            let site = g
                .wait_site
                .unwrap_or_else(|| panic!("G {id} has no wait site: {g:#?}"));
            assert_eq!(
                (site.file(), site.line()),
                (file, line),
                "G {id} ({}) should wait where it was spawned: {g:#?}",
                reason.as_str()
            );
        }
    }
}

#[test]
fn finished_gs_leave_the_dump_and_a_runnable_g_has_no_wait() {
    let rt = Runtime::builder().procs(1).build().unwrap();
    rt.block_on(async {
        let h = runtime::spawn(async { 1 });
        // procs(1): the root holds the only P, so the new G is still queued.
        let gs = runtime::goroutines();
        let g = gs
            .iter()
            .find(|g| g.id == h.id())
            .expect("the new G is listed");
        assert_eq!((g.state, g.wait_reason), (GState::Runnable, None), "{g:#?}");
        let id = h.id();
        assert_eq!(h.await.unwrap(), 1);
        let gs = runtime::goroutines();
        assert!(
            gs.iter().all(|g| g.id != id),
            "a finished G is gone from the dump: {gs:#?}"
        );
    });
    assert!(runtime::goroutines().is_empty(), "empty outside a runtime");
}

#[test]
fn a_g_parked_without_a_named_wait_is_waiting_for_other() {
    let rt = Runtime::builder().procs(1).build().unwrap();
    rt.block_on(async {
        // First a named wait (a sleep), then a bare `pending`: the dump must
        // not keep showing the sleep.
        let h = runtime::spawn(async {
            runtime::sleep(Duration::from_millis(1)).await;
            std::future::pending::<()>().await
        });
        let gs = dump_when(|gs| {
            gs.iter()
                .any(|g| g.id == h.id() && g.wait_reason == Some(WaitReason::Other))
        })
        .await;
        let g = gs.iter().find(|g| g.id == h.id()).unwrap();
        assert_eq!((g.state, g.wait_site), (GState::Waiting, None), "{g:#?}");
        h.abort();
        assert!(h.await.unwrap_err().is_cancelled());
    });
}

#[test]
fn the_block_on_root_is_listed_as_g0_with_its_wait() {
    let rt = Runtime::builder().procs(2).build().unwrap();
    let file = file!();
    #[rustfmt::skip]
    let (l_block_on, (gs, l_wait)) = (line!(), rt.block_on(async {
        let (tx, mut rx) = runtime::sync::channel::<Vec<Goroutine>>(1);
        // A G that dumps once the root is parked on the channel below.
        let dumper = runtime::spawn(dump_when(|gs| {
            gs.iter().any(|g| g.id == 0 && g.state == GState::Waiting)
        }));
        let watcher = runtime::spawn(async move { tx.send(dumper.await.unwrap()).await.unwrap() });
        #[rustfmt::skip]
        let (l_wait, gs) = (line!(), rx.recv().await.unwrap());
        watcher.await.unwrap();
        (gs, l_wait)
    }));
    let root = gs
        .iter()
        .find(|g| g.id == 0)
        .unwrap_or_else(|| panic!("no G 0 (the block_on root) in the dump {gs:#?}"));
    assert_eq!(
        (root.state, root.wait_reason),
        (GState::Waiting, Some(WaitReason::ChanReceive)),
        "the root waits on its channel receive: {root:#?}"
    );
    let site = root.wait_site.expect("the root's wait site");
    assert_eq!((site.file(), site.line()), (file, l_wait), "{root:#?}");
    assert_eq!(
        (root.spawned_at.file(), root.spawned_at.line()),
        (file, l_block_on),
        "the root was \"spawned\" where block_on was called"
    );
    assert!(
        runtime::goroutines().is_empty() && rt.block_on(async { runtime::goroutines() }).len() == 1,
        "outside a runtime the dump is empty; a new block_on lists only its own root"
    );
}

#[test]
fn socket_waits_name_the_line_that_reads_or_accepts() {
    let rt = Runtime::builder().procs(2).build().unwrap();
    let file = file!();
    let (gs, ids_lines) = rt.block_on(async {
        let listener = runtime::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let client = runtime::net::TcpStream::connect(addr).await.unwrap();
        let (mut server, _) = listener.accept().await.unwrap();
        #[rustfmt::skip]
        let (l_read, reader) = (line!(), runtime::spawn(async move { server.read(&mut [0u8; 8]).await.map(|_| ()) }));
        #[rustfmt::skip]
        let (l_accept, acceptor) = (line!(), runtime::spawn(async move { listener.accept().await.map(|_| ()) }));
        let ids = [reader.id(), acceptor.id()];
        let gs = dump_when(|gs| {
            ids.iter().all(|id| {
                gs.iter()
                    .any(|g| g.id == *id && g.wait_reason == Some(WaitReason::Io))
            })
        })
        .await;
        // End both waits: the client closes (the read sees EOF) and a
        // second client arrives for the accept.
        drop(client);
        reader.await.unwrap().unwrap();
        let _second = runtime::net::TcpStream::connect(addr).await.unwrap();
        acceptor.await.unwrap().unwrap();
        (gs, ids.into_iter().zip([l_read, l_accept]).collect::<Vec<_>>())
    });
    for (id, line) in ids_lines {
        let g = gs.iter().find(|g| g.id == id).unwrap();
        let site = g
            .wait_site
            .unwrap_or_else(|| panic!("G {id} waits on a socket with no wait site: {g:#?}"));
        assert_eq!(
            (g.state, site.file(), site.line()),
            (GState::Waiting, file, line),
            "the socket wait's site is the line that called read/accept: {g:#?}"
        );
    }
}
