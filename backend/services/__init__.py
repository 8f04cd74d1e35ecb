"""Business rules and every write, one package per domain (STYLE.md; indico's `modules/<area>/`).

The API (`miniprogram_api/`), the console (`backend/console/`) and the jobs (`backend/jobs/`) call
these; nothing here knows HTTP. Each domain's `__init__` says what it holds and, in `MAY_CALL`,
which other domains it may import — `tests/test_architecture.py` holds the code to it, so a new
dependency between domains is a decision written down, not an accident. Domains from the bottom:

- `reference/`  regions, categories, departments, the working-day calendar
- `privacy/`    the audit log, account deletion, retention
- `messaging/`  subscribe-message grants and the outbox that sends them
- `content/`    residents' images and WeChat's content checks
- `issues/`     residents' issues: submission, the state machine, access, queue, inbox, 督办
- `duty/`       reception days, rosters, check-ins, reception records, attendance, points
- `stations/`   scan-to-find, stations nearby, codes and posters, station admin, follows
- `deputies/`   deputies' profiles, terms and groupings, retirement, the roster import
- `accounts/`   sign-in and staff accounts
- `reporting/`  statistics, roll-ups, the dashboard, monitoring
"""
