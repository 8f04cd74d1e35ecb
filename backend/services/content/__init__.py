"""What residents send besides their words' meaning: images (`uploads`: judged by their bytes,
stored, checked by WeChat, served behind signed links) and WeChat's text content check
(`content_check`, msgSecCheck)."""

MAY_CALL: tuple[str, ...] = ()
