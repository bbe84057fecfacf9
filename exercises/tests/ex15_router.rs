//! Graded tests of exercise ex15: the std-only router, on its own rules and
//! side by side with `matchit` on the same routes and paths.

mod common;
mod routes;

use common::grade;
use exercises::ex15_router::{InsertError, Router};
use routes::{PATHS, ROUTES};
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(20);

#[test]
fn static_routes_match_exactly() {
    grade("ex15", LIMIT, || {
        let mut r = Router::new();
        for (i, p) in ["/", "/users", "/users/", "/users/me"].iter().enumerate() {
            r.insert(p, i).unwrap();
        }
        assert_eq!(r.at("/").map(|m| *m.value), Some(0));
        assert_eq!(r.at("/users").map(|m| *m.value), Some(1));
        assert_eq!(
            r.at("/users/").map(|m| *m.value),
            Some(2),
            "a trailing slash is its own route"
        );
        assert_eq!(r.at("/users/me").map(|m| *m.value), Some(3));
        assert!(r.at("/users/you").is_none() && r.at("/user").is_none() && r.at("users").is_none());
        assert!(r.at("/users/me").unwrap().params.is_empty());
    });
}

#[test]
fn parameters_take_one_segment_and_are_returned() {
    grade("ex15", LIMIT, || {
        let mut r = Router::new();
        r.insert("/users/{id}/repos/{repo}", "repo").unwrap();
        let m = r.at("/users/42/repos/course").expect("a match");
        assert_eq!(*m.value, "repo");
        assert_eq!(m.params.get("id"), Some("42"));
        assert_eq!(m.params.get("repo"), Some("course"));
        assert_eq!(
            m.params.iter().collect::<Vec<_>>(),
            [("id", "42"), ("repo", "course")]
        );
        assert!(
            r.at("/users//repos/course").is_none(),
            "a parameter is never empty"
        );
        assert!(
            r.at("/users/4/2/repos/course").is_none(),
            "a parameter is one segment"
        );
    });
}

#[test]
fn static_beats_parameter_beats_catch_all_with_backtracking() {
    grade("ex15", LIMIT, || {
        let mut r = Router::new();
        r.insert("/users/me", "me").unwrap();
        r.insert("/users/{id}", "user").unwrap();
        r.insert("/users/{*rest}", "rest").unwrap();
        r.insert("/a/b/d", "static").unwrap();
        r.insert("/a/{x}/c", "param").unwrap();
        assert_eq!(r.at("/users/me").map(|m| *m.value), Some("me"));
        assert_eq!(r.at("/users/you").map(|m| *m.value), Some("user"));
        let m = r.at("/users/you/and/me").unwrap();
        assert_eq!(
            (*m.value, m.params.get("rest")),
            ("rest", Some("you/and/me")),
            "a catch-all takes the rest, slashes too"
        );
        let m = r.at("/a/b/c").expect("backtrack from the static b to {x}");
        assert_eq!((*m.value, m.params.get("x")), ("param", Some("b")));
        assert_eq!(
            m.params.len(),
            1,
            "a parameter tried on a dead end is not left behind"
        );
        assert!(
            r.at("/users/").is_none(),
            "a catch-all is never empty, a parameter neither"
        );
    });
}

#[test]
fn bad_and_conflicting_patterns_are_refused() {
    grade("ex15", LIMIT, || {
        let mut r = Router::new();
        r.insert("/users/{id}", 1).unwrap();
        let cases = [
            ("/users/{id}", InsertError::Conflict("/users/{id}".into())),
            (
                "/users/{name}",
                InsertError::Conflict("/users/{name}".into()),
            ),
            (
                "/files/{*path}/more",
                InsertError::CatchAllNotLast("/files/{*path}/more".into()),
            ),
            ("users", InsertError::InvalidPattern("users".into())),
            ("/users/{}", InsertError::InvalidPattern("/users/{}".into())),
            (
                "/users/{id",
                InsertError::InvalidPattern("/users/{id".into()),
            ),
            (
                "/users/x{id}",
                InsertError::InvalidPattern("/users/x{id}".into()),
            ),
            (
                "/files/{*}",
                InsertError::InvalidPattern("/files/{*}".into()),
            ),
        ];
        for (pattern, want) in cases {
            assert_eq!(
                r.insert(pattern, 2),
                Err(want.clone()),
                "inserting {pattern:?}"
            );
        }
        r.insert("/users/{id}/x", 3)
            .expect("a longer route under the same parameter is fine");
        assert_eq!(
            r.at("/users/7").map(|m| *m.value),
            Some(1),
            "a refused insert changed nothing"
        );
    });
}

#[test]
fn it_agrees_with_matchit_on_a_real_route_table() {
    grade("ex15", LIMIT, || {
        let mut ours = Router::new();
        let mut theirs = matchit::Router::new();
        for (i, route) in ROUTES.iter().enumerate() {
            ours.insert(route, i)
                .unwrap_or_else(|e| panic!("insert {route:?}: {e}"));
            theirs.insert(*route, i).unwrap();
        }
        for path in PATHS {
            let a = ours.at(path).map(|m| {
                (
                    *m.value,
                    m.params
                        .iter()
                        .map(|(k, v)| (k.to_string(), v.to_string()))
                        .collect::<Vec<_>>(),
                )
            });
            let b = theirs.at(path).ok().map(|m| {
                (
                    *m.value,
                    m.params
                        .iter()
                        .map(|(k, v)| (k.to_string(), v.to_string()))
                        .collect::<Vec<_>>(),
                )
            });
            let name = |x: &Option<(usize, Vec<(String, String)>)>| {
                x.as_ref().map(|(i, p)| (ROUTES[*i], p.clone()))
            };
            assert_eq!(
                name(&a),
                name(&b),
                "path {path:?}: ours (left) and matchit's (right) differ"
            );
        }
    });
}
