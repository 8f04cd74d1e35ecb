"""Personal data under PIPL and 等保 2.0: the audit log (审计日志, `audit`), a resident deleting
their account (注销, `account_deletion`), and how long personal data and logs are kept
(`retention`, parts of the daily housekeeping job)."""

MAY_CALL: tuple[str, ...] = ()
