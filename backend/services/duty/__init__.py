"""Deputies' duty at stations (进站履职): which days a station holds (`reception`) and staff changing
them (`reception_days`); rosters (排班, `rosters`, drafted ahead by `roster_drafting`); reminders of
those days (`reminders`); check-ins (`check_ins`) and residents received in person
(`reception_records`); attendance (`attendance`), the points ledger (`points`) and the duty record
(履职档案, `duty_records`)."""

MAY_CALL = ("issues", "messaging", "reference")
