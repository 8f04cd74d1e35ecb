"""Made-up data, never used by the service itself: the demo county (`county`), six months of its
activity (`activity`), and bulk data at a county's or a province's scale for benchmarks
(`bench_data`)."""
