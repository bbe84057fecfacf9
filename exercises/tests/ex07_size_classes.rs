//! Graded tests of exercise ex07: the size-class table generated from Go's
//! rules, checked against Go's own table and the course allocator's.

mod common;

use common::grade;
use exercises::ex07_size_classes::{
    ClassRow, MAX_SMALL_SIZE, PAGE_SIZE, make_classes, size_to_class, span_pages,
};
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(20);

/// Rows copied from the comment table in Go's `runtime/sizeclasses.go`:
/// (class, bytes/obj, bytes/span, objects, tail waste).
const GO_ROWS: [(usize, usize, usize, usize, usize); 13] = [
    (1, 8, 8192, 1024, 0),
    (2, 16, 8192, 512, 0),
    (3, 24, 8192, 341, 8),
    (5, 48, 8192, 170, 32),
    (19, 288, 8192, 28, 128),
    (40, 2688, 8192, 3, 128),
    (43, 3456, 24576, 7, 384),
    (44, 4096, 8192, 2, 0),
    (45, 4864, 24576, 5, 256),
    (52, 9472, 57344, 6, 512),
    (55, 10880, 32768, 3, 128),
    (66, 28672, 57344, 2, 0),
    (67, 32768, 32768, 1, 0),
];

fn row(c: &ClassRow) -> (usize, usize, usize, usize, usize) {
    (c.class, c.size, c.span_bytes(), c.objects, c.tail_waste)
}

#[test]
fn span_pages_keeps_tail_waste_under_an_eighth() {
    grade("ex07", LIMIT, || {
        for (size, pages) in [
            (8, 1),
            (1024, 1),
            (1152, 1),
            (2816, 3),
            (3072, 2),
            (6784, 5),
            (8448, 7),
            (9472, 5),
            (32768, 4),
        ] {
            assert_eq!(
                span_pages(size),
                pages,
                "{size}-byte objects need a {pages}-page span to waste at most 1/8"
            );
        }
    });
}

#[test]
fn the_table_matches_gos_rows() {
    grade("ex07", LIMIT, || {
        let table = make_classes();
        assert_eq!(table.len(), 67, "Go's rules give exactly 67 size classes");
        for want in GO_ROWS {
            let got = table.get(want.0 - 1).map(row);
            assert_eq!(
                got,
                Some(want),
                "class {} should be (class, bytes/obj, bytes/span, objects, tail waste) = {want:?}, as in Go's sizeclasses.go",
                want.0
            );
        }
    });
}

#[test]
fn the_table_matches_the_allocators_table_row_for_row() {
    grade("ex07", LIMIT, || {
        let table = make_classes();
        let oracle = allocator::size_classes();
        assert_eq!(
            table.len(),
            oracle.len(),
            "as many classes as the allocator has"
        );
        for (mine, theirs) in table.iter().zip(oracle) {
            assert_eq!(
                row(mine),
                (
                    theirs.class,
                    theirs.size,
                    theirs.span_bytes(),
                    theirs.objects,
                    theirs.tail_waste
                ),
                "class {} differs from allocator::size_classes()",
                theirs.class
            );
        }
    });
}

#[test]
fn the_table_keeps_its_promises() {
    grade("ex07", LIMIT, || {
        let table = make_classes();
        assert!(!table.is_empty(), "make_classes returned no rows");
        for (i, c) in table.iter().enumerate() {
            assert_eq!(c.class, i + 1, "classes are numbered 1, 2, 3, ... in order");
            assert_eq!(
                c.objects * c.size + c.tail_waste,
                c.pages * PAGE_SIZE,
                "class {}: objects and tail fill the span",
                c.class
            );
            assert!(
                c.tail_waste * 8 <= c.span_bytes(),
                "class {}: tail waste is at most 1/8 of the span",
                c.class
            );
            if c.size > 1024 {
                assert_eq!(
                    c.size % 128,
                    0,
                    "class {}: sizes above 1 KiB are multiples of 128",
                    c.class
                );
            }
            if i > 0 {
                assert!(
                    c.size > table[i - 1].size,
                    "class {}: sizes grow strictly",
                    c.class
                );
            }
        }
        assert_eq!(
            table.last().map(|c| c.size),
            Some(MAX_SMALL_SIZE),
            "the last class is 32 KiB"
        );
    });
}

#[test]
fn size_to_class_rounds_up() {
    grade("ex07", LIMIT, || {
        let table = make_classes();
        assert_eq!(
            size_to_class(&table, 0),
            Some(1),
            "0 bytes get the smallest class"
        );
        assert_eq!(
            size_to_class(&table, 17),
            Some(3),
            "17 bytes round up to the 24-byte class 3"
        );
        assert_eq!(
            size_to_class(&table, 32 * 1024),
            Some(67),
            "32 KiB is the last small class"
        );
        assert_eq!(
            size_to_class(&table, 32 * 1024 + 1),
            None,
            "above 32 KiB is a large object"
        );
        for bytes in (0..=MAX_SMALL_SIZE).step_by(7) {
            assert_eq!(
                size_to_class(&table, bytes),
                allocator::size_class_for(bytes),
                "{bytes} bytes: the class should agree with allocator::size_class_for"
            );
        }
    });
}
