"""Residents' issues (意见建议), from submission to rating.

Submission (`submit_issue`) and tracking numbers (`issue_numbers`); the state machine, one verb per
move (`issue_flow`); who sees what (`issue_access`); the staff queue and ledger (`issue_queue`,
`queue_schemas`); a deputy's inbox (`inbox`) and cached pages (`issue_page_cache`); status notices
to residents (`notices`), 督办 reminders (`escalation`) and closing unrated issues (`auto_close`).
`issue_schemas` and `issue_serialize` are the input models and answers both the API and the
console use."""

MAY_CALL = ("content", "messaging", "privacy", "reference")
