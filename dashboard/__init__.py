"""The live web dashboard: sites' load against peak and limit, alerts, stations, flexibility."""
