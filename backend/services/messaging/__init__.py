"""Subscribe messages (订阅消息): the grants users gave (`subscriptions`) and the outbox that sends
each planned message after its cause commits, at most once (`outbox`).

The messages themselves belong to the domains that cause them — reception-day reminders to
`duty.reminders`, status notices and 督办 to `issues` — and are planned through `outbox`."""

MAY_CALL: tuple[str, ...] = ()
