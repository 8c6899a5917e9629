//! Crash safety of the configured sync modes (issue 8): kill -9 leaves the page cache intact, so
//! the crash tests alone cannot show that an acknowledged commit survives a power loss; the
//! settings in force must be the durable ones. `onestop` refuses to start otherwise
//! (`app::open_store`; the bench's crash suite checks the refusal on a PostgreSQL with fsync=off).
use crate::both_backends;
use onestop_store::Backend;

both_backends! {
    async fn the_sync_modes_in_force_are_the_durable_ones(app: TestApp) {
        let d = app.store.durability().await.unwrap();
        assert!(d.durable, "not durable: {}", d.description);
        match app.backend() {
            // WAL with synchronous=FULL (2): the WAL is fsynced at every commit.
            Backend::Sqlite => assert_eq!(d.description, "journal_mode=wal, synchronous=2"),
            Backend::Postgres => assert_eq!(d.description, "synchronous_commit=on, fsync=on"),
        }
    }
}
