"""`labctl check` and `labctl grade`: an assignment's checks measured on a running lab."""
