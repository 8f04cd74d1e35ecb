"""Figures staff report upward: statistics (数据统计, `stats`) over nightly roll-ups (统计汇总,
`rollups`), the console's dashboard (`dashboard`), and what monitoring reads (`monitoring`)."""

MAY_CALL = ("duty", "issues", "messaging", "stations")
