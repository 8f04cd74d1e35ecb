"""Deputies (人大代表) as people in office: public profiles (`deputies`), seats and groupings into
stations as spans of dates (届次 and 编组, `terms`), leaving office (`retirement`) and the roster
import (代表名册导入, `deputy_import`)."""

MAY_CALL = ("duty", "issues", "reference", "stations")
