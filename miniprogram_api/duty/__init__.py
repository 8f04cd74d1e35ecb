"""Deputies' schedules, check-ins, reception records and attendance; staff running reception days and rosters."""
