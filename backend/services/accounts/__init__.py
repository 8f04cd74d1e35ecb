"""Who signs in: residents through WeChat, deputies binding with an invite, staff with a password
and the lockout (`signin`); region admins running their staff accounts (`staff_accounts`)."""

MAY_CALL = ("privacy", "reference")
