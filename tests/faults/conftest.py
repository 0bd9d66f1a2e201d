"""The fault-injection tier: kill, corrupt, fill the disk, race. Each test breaks a run of the micro model the way a
crash, a bad disk or a second user would, and checks that nothing is lost and nothing is silent."""
