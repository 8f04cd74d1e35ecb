"""What Redis keeps for every worker — and what the app does without it: values stamped with
generations (`tagged_cache`), callers' identities (`identity_cache`), rate-limit counters
(`rate_limit`), and the guard that keeps Redis optional (`redis_guard`)."""
