"""leaderboard: a longvgenbench plug-in package (found through entry points)."""
