//! Reports: every metric artifact becomes rows of one long-format results table, pivoted
//! with Polars into the papers' table layouts, with the papers' numbers beside ours.
