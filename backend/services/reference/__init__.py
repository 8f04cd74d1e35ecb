"""Reference data every domain reads and staff keep up to date: regions (行政区划) and their
lineages (`regions`), categories of issues and departments (承办单位) (`reference_data`), and the
working-day calendar (工作日) with deadlines counted in it and the 三色 clock (`workdays`)."""

MAY_CALL: tuple[str, ...] = ()
